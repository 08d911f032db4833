"""``suny serve``: explanations explored in the browser.

The page (``static/``) talks to the HTTP API of :mod:`suny.serve.app` (FastAPI, the ``serve``
extra; nothing outside this package and :mod:`suny.cli.serve` imports it). Behind the routes:
:mod:`~suny.serve.settings` (what is served), :mod:`~suny.serve.library` (the images),
:mod:`~suny.serve.uploads` (an upload's way in), :mod:`~suny.serve.models`, :mod:`~suny.serve.jobs`
and :mod:`~suny.serve.compute` (running explanations), :mod:`~suny.serve.cache` (the SQLite store),
:mod:`~suny.serve.results` (pictures of a result), :mod:`~suny.serve.sessions` and
:mod:`~suny.serve.store_view` (a ``suny bench`` store's report).
"""
