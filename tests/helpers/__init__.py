"""Shared test helpers: hand-built toy classifiers (:mod:`helpers.models`) and small explanation
methods and method options (:mod:`helpers.methods`). ``tests/`` is on ``sys.path`` under pytest's
default import mode, so test modules import them as ``from helpers.models import ...``."""
