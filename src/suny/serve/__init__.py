"""``suny serve``: explanations explored in the browser.

The page (``static/``) talks to the HTTP API of :mod:`suny.serve.app` (FastAPI, the ``serve``
extra; nothing outside this package and :mod:`suny.cli.serve` imports it). Behind the routes:
:mod:`~suny.serve.settings` (what is served), :mod:`~suny.serve.library` (the images),
:mod:`~suny.serve.uploads` (an upload's way in), :mod:`~suny.serve.models`, :mod:`~suny.serve.jobs`
and :mod:`~suny.serve.compute` (running explanations), :mod:`~suny.serve.cache` (the SQLite store),
:mod:`~suny.serve.results` (pictures of a result), :mod:`~suny.serve.sessions` and
:mod:`~suny.serve.store_view` (a ``suny bench`` store's report).

Why FastAPI (Starlette) with a page of its own rather than Gradio: the page needs per-pixel (N, S)
under the pointer from raw float maps, clickable cause thumbnails, a cancel that reaches the
worker within a second, and pictures in the figures' own colormaps; Gradio's components give none
of these without custom JavaScript, and bring a large dependency tree and assets served from its
own bundle. FastAPI + uvicorn + python-multipart are three small, well-kept packages; the page is
plain HTML, CSS and one ES module, served locally (no CDN, no build step).
"""
