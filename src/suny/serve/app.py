"""The HTTP API of ``suny serve`` and its page (FastAPI): routes only, the work is done by the
modules beside this one.

Every error is JSON ``{"detail": "<message>"}`` with a 4xx status; user strings go out as JSON
data only (the page shows them as text). A request names images, jobs and results by ids that are
checked against their pattern before any use, and files only in the page's own folder and the
bench store's report (:func:`~suny.serve.store_view.file_in`).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from PIL import Image
from pydantic import BaseModel

from suny import __version__
from suny.errors import SunyError
from suny.serve.cache import CONTENT_ID, ServeStore, StoredResult
from suny.serve.compute import SUNY_METHODS, Explainer, JobRequest, baseline_names, build_method
from suny.serve.errors import ServeError
from suny.serve.jobs import Job, JobManager
from suny.serve.library import ImageLibrary
from suny.serve.models import ModelPool, UnknownModelError
from suny.serve.results import cause_png, overlay_png, values_bin
from suny.serve.sessions import SessionMiddleware, session_of
from suny.serve.settings import ServeSettings
from suny.serve.store_view import StoreView, file_in
from suny.serve.uploads import decode_upload, read_upload
from suny.visualisation import load_concepts

STATIC = Path(__file__).resolve().parent / "static"
#: Seconds between two looks at a job for new events.
EVENT_POLL = 0.05
#: The page's script and styles come from this server only.
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; object-src 'none'"
)


class JobBody(BaseModel):
    """``POST /api/jobs``: the image, model, layer (None: the default), class (None: the
    prediction) and method."""

    image_id: str
    model: str
    layer: str | None = None
    target: int | None = None
    method: str


def not_found(what: str) -> ServeError:
    return ServeError(404, f"no such {what}")


def create_app(settings: ServeSettings) -> FastAPI:
    """The server for ``settings``; the default model is loaded now (a bad one fails here)."""
    store = ServeStore(settings.store)
    library = ImageLibrary(store, settings.folder)
    models = ModelPool(settings)
    models.get(settings.model)
    settings.weights_key(settings.model)  # a checkpoint is hashed now, as it was just read
    explainer = Explainer(settings, store, load_concepts(settings.concepts) if settings.concepts else {})
    view = None if settings.bench_store is None else StoreView(settings.bench_store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=explainer.models.get, args=(settings.model,), daemon=True).start()
        yield
        jobs.close()
        if view is not None:
            view.close()

    app = FastAPI(title="suny serve", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(SessionMiddleware)
    jobs = JobManager(explainer.run)

    @app.exception_handler(ServeError)
    async def refused(request: Request, err: ServeError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=err.status)

    @app.exception_handler(SunyError)
    async def bad_request(request: Request, err: SunyError) -> JSONResponse:
        status = 404 if isinstance(err, UnknownModelError) else 400
        return JSONResponse({"detail": str(err)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        return JSONResponse({"detail": f"invalid request: {problems}"}, status_code=400)

    def picture_of(image_id: str, session: str) -> Image.Image:
        picture = library.picture(image_id, session)
        if picture is None:
            raise not_found("image")
        return picture

    def predictions(image_id: str, session: str, model_name: str) -> list[dict[str, Any]]:
        if not library.visible(image_id, session):
            raise not_found("image")
        return models.predictions(model_name, image_id, lambda: picture_of(image_id, session))

    def result_of(result_id: str, session: str) -> StoredResult:
        result = store.result(result_id) if CONTENT_ID.fullmatch(result_id) else None
        if result is None or not library.visible(result.image_id, session):
            raise not_found("result")
        return result

    def job_of(job_id: str, session: str) -> Job:
        job = jobs.find(job_id, session)
        if job is None:
            raise not_found("job")
        return job

    def static_file(name: str, headers: dict[str, str] | None = None) -> FileResponse:
        path = file_in(STATIC, name)
        if path is None:
            raise not_found("file")
        return FileResponse(path, headers=headers)

    def download(content: bytes, media_type: str, filename: str) -> Response:
        disposition = f'attachment; filename="{filename}"'
        return Response(content, media_type=media_type, headers={"Content-Disposition": disposition})

    # ------------------------------------------------------------------------------ the page
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return static_file("index.html", {"Content-Security-Policy": PAGE_POLICY})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        return static_file(name)

    @app.get("/store/{relative:path}", include_in_schema=False)
    def bench_report(relative: str) -> FileResponse:
        path = None if view is None else view.file(relative)
        if path is None:
            raise not_found("file")
        return FileResponse(path)

    # ------------------------------------------------------------------- models and classes
    @app.get("/api/config")
    def config() -> dict[str, Any]:
        return {
            "models": settings.models,
            "default_model": settings.model,
            "methods": list(SUNY_METHODS),
            "baselines": baseline_names(),
            "cause_types": sorted(set(SUNY_METHODS.values())),
            "bench_store": view is not None,
            "upload_limit_bytes": settings.upload_limit_bytes,
            "version": __version__,
        }

    @app.get("/api/models/{model_name}/layers")
    def layers(model_name: str) -> dict[str, Any]:
        model = models.get(model_name)
        names = model.layer_names()
        return {
            "layers": [{"name": name, "default": name == model.default_layer} for name in names],
            "default": model.default_layer,
        }

    @app.get("/api/classes")
    def classes(model: str | None = None, q: str = "") -> dict[str, Any]:
        names = models.get(model or settings.model).class_names
        wanted = q.strip().lower()
        found = [{"index": i, "name": name} for i, name in enumerate(names) if wanted in name.lower()]
        return {"classes": found[:20]}

    # -------------------------------------------------------------------------------- images
    @app.get("/api/images")
    def images(request: Request) -> list[dict[str, str]]:
        return [asdict(entry) for entry in library.entries(session_of(request))]

    @app.post("/api/images", status_code=201)
    async def upload(request: Request) -> dict[str, Any]:
        data, name = await read_upload(request, settings.upload_limit_bytes)
        decoded = await run_in_threadpool(decode_upload, data, name, settings.max_pixels)
        image = await run_in_threadpool(library.add_upload, session_of(request), name, decoded.image)
        return {
            "image_id": image.image_id,
            "name": name,
            "width": image.width,
            "height": image.height,
            "note": decoded.note,
        }

    @app.get("/api/images/{image_id}/image.png")
    def image_png(image_id: str, request: Request) -> Response:
        image = library.image(image_id, session_of(request))
        if image is None:
            raise not_found("image")
        return Response(image.png, media_type="image/png")

    @app.get("/api/images/{image_id}/predictions")
    def image_predictions(image_id: str, request: Request, model: str | None = None) -> dict[str, Any]:
        return {"predictions": predictions(image_id, session_of(request), model or settings.model)}

    # ---------------------------------------------------------------------------------- jobs
    @app.post("/api/jobs", status_code=202)
    def submit(body: JobBody, request: Request) -> dict[str, Any]:
        session = session_of(request)
        target = body.target
        if target is None:  # also the image's 404 and the model's
            target = int(predictions(body.image_id, session, body.model)[0]["index"])
        elif not library.visible(body.image_id, session):
            raise not_found("image")
        with models.using(body.model) as model:
            method = build_method(body.method, model, body.layer, settings)
        job_request = JobRequest.plan(body.image_id, body.model, method, body.method, target, settings)
        cached = store.has_result(job_request.result_id)
        job = jobs.submit(session, job_request, None if cached else picture_of(body.image_id, session))
        return {"job_id": job.job_id, "cached": cached}

    @app.get("/api/jobs/{job_id}/events")
    def events(job_id: str, request: Request) -> StreamingResponse:
        job = job_of(job_id, session_of(request))
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(event_stream(job), media_type="text/event-stream", headers=headers)

    @app.post("/api/jobs/{job_id}/cancel", status_code=202)
    def cancel(job_id: str, request: Request) -> dict[str, bool]:
        jobs.cancel(job_of(job_id, session_of(request)))
        return {"cancelled": True}

    # ------------------------------------------------------------------------------- results
    @app.get("/api/results/{result_id}")
    def result(result_id: str, request: Request) -> dict[str, Any]:
        return result_of(result_id, session_of(request)).record

    @app.get("/api/results/{result_id}/overlay.png")
    def overlay(result_id: str, request: Request) -> Response:
        return Response(overlay_png(result_of(result_id, session_of(request))), media_type="image/png")

    @app.get("/api/results/{result_id}/values.bin")
    def values(result_id: str, request: Request) -> Response:
        return Response(
            values_bin(result_of(result_id, session_of(request))), media_type="application/octet-stream"
        )

    @app.get("/api/results/{result_id}/causes/{cause}.png")
    def cause_thumbnail(result_id: str, cause: int, request: Request) -> Response:
        picture = cause_png(result_of(result_id, session_of(request)), cause)
        if picture is None:
            raise not_found("cause in this result's top lists")
        return Response(picture, media_type="image/png")

    @app.get("/api/results/{result_id}/maps.npz")
    def maps(result_id: str, request: Request) -> Response:
        stored = result_of(result_id, session_of(request))
        return download(
            stored.npz, "application/octet-stream", f"{stored.record['method']}-{result_id[:12]}.npz"
        )

    @app.get("/api/results/{result_id}/summary.json")
    def summary(result_id: str, request: Request) -> Response:
        stored = result_of(result_id, session_of(request))
        text = json.dumps(stored.summary, indent=2, allow_nan=False).encode()
        return download(text, "application/json", f"{stored.record['method']}-{result_id[:12]}-summary.json")

    return app


async def event_stream(job: Job) -> AsyncIterator[str]:
    """``job``'s events as server-sent events, from its first to its end."""
    sent = 0
    while True:
        events, finished = job.events(sent)
        for event in events:
            yield f"event: {event.name}\ndata: {json.dumps(event.data)}\n\n"
        sent += len(events)
        if finished:
            return
        await asyncio.sleep(EVENT_POLL)
