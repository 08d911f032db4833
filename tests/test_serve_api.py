"""``suny serve``'s HTTP API through FastAPI's TestClient (and, where a client would tidy the
request, straight through ASGI): every endpoint with exact answers, the bad uploads, traversal
attempts, escaping, the cache across a restart, sessions, progress events and cancelling.

Most tests serve a tiny seeded CNN (10 classes, 32 x 32 inputs) through the server's model loader;
cancelling is measured on a random-weight ResNet-18, where SUNY-feature takes minutes.
"""

from __future__ import annotations

import asyncio
import io
import json
import resource
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip(
    "fastapi", reason="suny serve's API tests need the serve extra: pip install 'suny[serve]'"
)

from fastapi.testclient import TestClient
from helpers.models import SmallCNN, toy_classifier
from PIL import Image

from suny import Suny, create_method
from suny.data.images import to_rgb
from suny.models import ImageClassifier
from suny.serve import store_view
from suny.serve.app import create_app
from suny.serve.library import SAMPLE_NAME, content_id, kept
from suny.serve.settings import ServeSettings
from suny.serve.store_view import file_in
from suny.serve.uploads import display_name
from suny.visualisation import (
    as_map,
    heatmap_rgb,
    overlay_bivariate,
    overlay_heatmap,
    to_rgb_array,
    top_predictions,
)

CLASSES = ["tabby cat", "tiger cat", "tiger", "dog", "tiger shark", "fox", "owl", "eel", "cup", "car"]
TOY = "toy"
LIMIT = 2**20


def toy_model(name: str = TOY, weights: str = "default", device: str = "cpu") -> ImageClassifier:
    """The served model: the same seeded weights at every load."""
    return toy_classifier(SmallCNN(), 32, classes=CLASSES, name=name)


def settings(tmp_path: Path, **changes: Any) -> ServeSettings:
    options: dict[str, Any] = {
        "model": TOY,
        "extra_models": (),
        "store": tmp_path / "serve.sqlite",
        "upload_limit_bytes": LIMIT,
        "model_loader": toy_model,
    }
    return ServeSettings(**(options | changes))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings(tmp_path))) as test_client:
        yield test_client


def png_bytes(picture: Image.Image, **options: Any) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def photo(seed: int, size: tuple[int, int] = (48, 40)) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def upload(client: TestClient, name: str, data: bytes, mime: str = "image/png") -> Any:
    return client.post("/api/images", files={"file": (name, data, mime)})


def events(client: TestClient, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The job's server-sent events until the stream ends."""
    found, name = [], ""
    with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                found.append((name, json.loads(line[6:])))
    return found


def run_job(client: TestClient, image_id: str, method: str, **fields: Any) -> tuple[dict[str, Any], list]:
    answer = client.post("/api/jobs", json={"image_id": image_id, "model": TOY, "method": method} | fields)
    assert answer.status_code == 202, answer.text
    return answer.json(), events(client, answer.json()["job_id"])


def sample_id(client: TestClient) -> str:
    first = client.get("/api/images").json()[0]
    assert first["source"] == "sample"
    return str(first["image_id"])


def model_input(picture: Image.Image) -> Any:
    return toy_model().preprocess(picture)


# --------------------------------------------------------------------------- config, models, images
def test_config_layers_and_classes(client: TestClient) -> None:
    assert client.get("/api/config").json() == {
        "models": [TOY],
        "default_model": TOY,
        "methods": ["suny-feature", "suny-filter"],
        "baselines": [
            "gradcam",
            "gradcam++",
            "smoothgradcam++",
            "scorecam",
            "cexcnn",
            "groupcam",
            "rise",
            "smoothgrad",
        ],
        "cause_types": ["feature", "filter"],
        "bench_store": False,
        "upload_limit_bytes": LIMIT,
        "version": "0.1.0",
    }
    names = toy_model().layer_names()
    assert client.get(f"/api/models/{TOY}/layers").json() == {
        "layers": [{"name": name, "default": name == "layer"} for name in names],
        "default": "layer",
    }
    unknown = client.get("/api/models/resnet50/layers")
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "unknown model 'resnet50'; this server offers toy"}
    found = client.get("/api/classes", params={"model": TOY, "q": "TIGER"}).json()
    assert found == {
        "classes": [
            {"index": 1, "name": "tiger cat"},
            {"index": 2, "name": "tiger"},
            {"index": 4, "name": "tiger shark"},
        ]
    }
    assert len(client.get("/api/classes").json()["classes"]) == 10


def test_the_sample_comes_first_with_its_picture_and_predictions(client: TestClient) -> None:
    from suny.data import sample_image

    picture = kept(sample_image())
    assert client.get("/api/images").json() == [
        {"image_id": content_id(picture), "name": SAMPLE_NAME, "source": "sample"}
    ]
    answer = client.get(f"/api/images/{content_id(picture)}/image.png")
    assert answer.headers["content-type"] == "image/png"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(answer.content))), np.asarray(picture))
    model = toy_model()
    expected = [vars(score) for score in top_predictions(model, model.preprocess(picture))]
    got = client.get(f"/api/images/{content_id(picture)}/predictions", params={"model": TOY}).json()
    assert got == {"predictions": expected} and len(expected) == 5


def test_a_folder_is_listed_without_links_that_leave_it(tmp_path: Path) -> None:
    folder, outside = tmp_path / "photos", tmp_path / "outside"
    (folder / "sub").mkdir(parents=True)
    outside.mkdir()
    photo(1).save(folder / "b.png")
    photo(2).save(folder / "sub" / "a.jpg", quality=95)
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    photo(3).save(outside / "secret.png")
    (folder / "link.png").symlink_to(outside / "secret.png")
    (folder / "linked").symlink_to(outside, target_is_directory=True)
    with TestClient(create_app(settings(tmp_path, folder=folder))) as client:
        listed = client.get("/api/images").json()
        assert [(entry["name"], entry["source"]) for entry in listed] == [
            (SAMPLE_NAME, "sample"),
            ("b.png", "folder"),
            ("sub/a.jpg", "folder"),
        ]
        assert listed[1]["image_id"] == content_id(photo(1))
        photo(1).save(folder / "copy.png")  # the same picture again: listed once
        (folder / "sub" / "a.jpg").unlink()  # gone: listed no more
        assert client.get("/api/images").json() == listed[:2]
        assert client.get(f"/api/images/{listed[2]['image_id']}/image.png").status_code == 404
        secret = content_id(photo(3))
        assert client.get(f"/api/images/{secret}/image.png").status_code == 404
        shown = client.get(f"/api/images/{listed[1]['image_id']}/image.png").content
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(shown))), np.asarray(photo(1)))


# ---------------------------------------------------------------------------------------- uploads
def accepted() -> dict[str, tuple[Image.Image, str | None]]:
    """name -> (picture, the note of the 201 answer)."""
    sixteen = np.linspace(0, 65535, 48 * 40).reshape(40, 48).astype(np.uint16)
    rgba = np.dstack([np.asarray(photo(4)), np.full((40, 48), 100, np.uint8)])
    return {
        "16-bit.png": (Image.fromarray(sixteen), "16-bit grayscale converted to 8-bit RGB"),
        "rgba.png": (Image.fromarray(rgba, "RGBA"), "transparency composited over white"),
        "gray.png": (photo(5).convert("L"), "grayscale converted to RGB"),
        "palette.png": (photo(6).convert("P"), "palette converted to RGB"),
        "16x16.png": (photo(7, (16, 16)), None),
        "large.png": (Image.linear_gradient("L").resize((2000, 1000)).convert("RGB"), None),
    }


def test_odd_uploads_become_rgb_as_load_image_makes_them_with_a_note(client: TestClient) -> None:
    for name, (picture, note) in accepted().items():
        answer = upload(client, name, png_bytes(picture))
        assert answer.status_code == 201, (name, answer.text)
        rgb = kept(to_rgb(Image.open(io.BytesIO(png_bytes(picture)))))
        assert answer.json() == {
            "image_id": content_id(rgb),
            "name": name,
            "width": rgb.width,
            "height": rgb.height,
            "note": note,
        }
        stored = client.get(f"/api/images/{content_id(rgb)}/image.png").content
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(stored))), np.asarray(rgb))
    assert max(answer.json()["width"], answer.json()["height"]) == 1024  # the large one, shrunk
    listed = client.get("/api/images").json()
    assert [entry["name"] for entry in listed[1:]] == list(accepted())
    assert {entry["source"] for entry in listed[1:]} == {"upload"}
    smallest = listed[5]["image_id"]
    _, ended = run_job(client, smallest, "gradcam")  # 16 x 16: upsampled by the preprocessing
    assert ended[-1][0] == "result"


def test_a_picture_under_16_pixels_a_side_is_refused_as_too_small(client: TestClient) -> None:
    cases = {
        "1x1.png": Image.new("RGB", (1, 1), (200, 30, 40)),
        "thin.png": photo(11, (300, 15)),
        "narrow.gif": photo(12, (15, 16)).convert("P"),
    }
    for name, picture in cases.items():
        data = png_bytes(picture) if name.endswith(".png") else gif_bytes(picture)
        answer = upload(client, name, data)
        assert (answer.status_code, answer.json()) == (
            400,
            {
                "detail": f"{name}: too small to explain: {picture.width}x{picture.height} pixels; "
                "at least 16 a side"
            },
        )
    assert [entry["source"] for entry in client.get("/api/images").json()] == ["sample"]


def gif_bytes(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="GIF")
    return buffer.getvalue()


def bomb_png(side: int = 30_000) -> bytes:
    """A 1-bit PNG of side x side black pixels: about 100 KB claiming 900 Mpx."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    compressor = zlib.compressobj(9)
    row = bytes(1 + (side + 7) // 8)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = side.to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def test_bad_uploads_get_their_4xx_and_message_and_the_server_stays_up(client: TestClient) -> None:
    png = png_bytes(photo(7, (200, 200)))
    jpeg = io.BytesIO()
    photo(7, (200, 200)).save(jpeg, format="JPEG")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cases = {
        "notes.txt": (
            b"words, not pixels\n" * 10,
            400,
            "notes.txt: not a readable image (not a format PIL reads)",
        ),
        "empty.png": (b"", 400, "empty.png: empty file"),
        "cut.png": (png[: len(png) // 2], 400, "cut.png: not a readable image"),
        "cut.jpg": (jpeg.getvalue()[: len(jpeg.getvalue()) // 2], 400, "cut.jpg: not a readable image"),
        "bomb.png": (bomb_png(), 413, "bomb.png: too many pixels to decode"),
        "big.png": (
            png_bytes(Image.new("L", (8000, 6000))),
            413,
            "big.png: 8000x6000 pixels is more than the 40000000",
        ),
        "huge.png": (png + bytes(LIMIT), 413, "the file is larger than the 1 MiB this server accepts"),
    }
    for name, (data, status, message) in cases.items():
        answer = upload(client, name, data)
        assert answer.status_code == status, (name, answer.text)
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["detail"].startswith(message), (name, answer.json())
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before < 200  # nothing decoded
    form = client.post("/api/images", content=b"{}", headers={"content-type": "application/json"})
    assert form.status_code == 415 and "multipart/form-data" in form.json()["detail"]
    no_file = client.post("/api/images", data={"other": "x"}, files={"other": ("x", b"")})
    assert no_file.status_code == 400 and no_file.json() == {
        "detail": "the form has no file in a field named 'file'"
    }
    assert [entry["source"] for entry in client.get("/api/images").json()] == ["sample"]
    assert upload(client, "fine.png", png).status_code == 201
    _, ended = run_job(client, sample_id(client), "gradcam")
    assert ended[-1][0] == "result"  # the worker is alive


def asgi(
    app: Any, method: str, path: str, headers: dict[str, str], body: Iterator[bytes]
) -> tuple[int, bytes, int]:
    """Run one request through ``app`` as a server would hand it over (``path`` as decoded): the
    status, the body, and how many bytes of the request body the app read."""
    read = 0
    answer: dict[str, Any] = {"status": 0, "body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal read
        chunk = next(body, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(key.encode(), value.encode()) for key, value in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    asyncio.run(app(scope, receive, send))
    return int(answer["status"]), bytes(answer["body"]), read


def test_a_200_mb_body_is_refused_without_being_read(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path))
    megabyte = bytes(2**20)
    form = {"content-type": "multipart/form-data; boundary=x"}
    declared = form | {"content-length": str(200 * 2**20)}
    status, body, read = asgi(app, "POST", "/api/images", declared, iter([megabyte] * 200))
    assert (status, read) == (413, 0)
    assert "larger than the 1 MiB" in json.loads(body)["detail"]
    status, _, read = asgi(app, "POST", "/api/images", form, iter([megabyte] * 200))  # no length given
    assert status == 413 and read <= 18 * 2**20  # the limit, then at most DRAIN_LIMIT more
    status, _, read = asgi(app, "POST", "/api/images", form, iter([megabyte] * 3))  # a little over: read out
    assert (status, read) == (413, 3 * 2**20)


# ------------------------------------------------------------------------ traversal and escaping
SECRET = b"the secret text outside every served folder"


def test_no_request_reaches_a_file_outside_the_served_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "secret.txt").write_bytes(SECRET)
    bench = tmp_path / "bench.sqlite"
    from suny.benchmark.store import ResultStore

    with ResultStore(bench):
        pass
    app = create_app(settings(tmp_path / "server", bench_store=bench))
    target = str(tmp_path / "secret.txt")
    relative = "../" * 12 + target.lstrip("/")
    paths = [
        f"/static/{relative}",
        "/static/..",
        "/static/%2e%2e",
        "/static/..\\..\\secret.txt",
        f"/static/{target}",
        f"/static//{target}",
        f"/store/{relative}",
        "/store/..",
        f"/store//{target}",
        "/store/..\\..\\secret.txt",
        f"/api/images/{relative}/image.png",
        "/api/images/..%2f..%2fsecret.txt/image.png",
        f"/api/images/{'A' * 64}/image.png",
        f"/api/results/{relative}",
        "/api/results/..",
        f"/api/jobs/{relative}/events",
    ]
    for path in paths:
        status, body, _ = asgi(app, "GET", path, {}, iter([]))
        assert status == 404, (path, status, body)
        assert SECRET not in body
    with TestClient(app) as client:  # the same through a client's quoting and tidying
        for path in paths:
            answer = client.get(path)
            tidied = answer.request.url.path == "/"  # "/static/.." asks for the page itself
            assert answer.status_code == (200 if tidied else 404) and SECRET not in answer.content, path
        assert client.get("/store/").status_code == 200
    folder = tmp_path / "root"
    folder.mkdir()
    (folder / "link.txt").symlink_to(tmp_path / "secret.txt")
    (folder / "inside.txt").write_text("fine")
    assert (
        file_in(folder, "link.txt") is None
        and file_in(folder, "inside.txt") == (folder / "inside.txt").resolve()
    )


def test_a_file_name_with_markup_comes_back_as_data_only(client: TestClient) -> None:
    name = "<script>alert(1)<img src=x onerror=alert(2)><svg onload=alert(3)>&amp;'cat'.png"
    answer = upload(client, name, png_bytes(photo(8)))
    assert answer.status_code == 201 and answer.json()["name"] == name
    assert answer.headers["content-type"] == "application/json"
    assert client.get("/api/images").json()[-1]["name"] == name
    page = client.get("/")
    if page.status_code == 200:  # the page's files are in place
        assert b"alert(" not in page.content
        assert "script-src" not in page.headers["content-security-policy"]  # default-src 'self' governs it
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
    folders = upload(client, "..\\../evil/name.png", png_bytes(photo(9)))
    assert folders.json()["name"] == "name.png"
    assert (display_name("a\x00\x07\u202eb.png"), display_name("x" * 300)[-3:], display_name(None)) == (
        "ab.png", "xxx", "upload",
    )  # fmt: skip
    assert len(display_name("x" * 300)) == 200


# ------------------------------------------------------------------------------- jobs and results
def explained(picture: Image.Image, method: str, target: int) -> Any:
    model = toy_model()
    image = model.preprocess(picture)
    if method == "suny-filter":
        return model, image, Suny(model, "layer", cause="filter").explain(image, target)
    return model, image, create_method(method, model, layer="layer")(image[None], [target]).maps[0]


def test_a_suny_filter_result_is_the_librarys_explanation(client: TestClient) -> None:
    from suny.data import sample_image

    image_id = sample_id(client)
    job, ended = run_job(client, image_id, "suny-filter", layer=None, target=None)
    assert job["cached"] is False
    model = toy_model()
    predicted = int(model.probabilities(model_input(kept(sample_image()))[None]).argmax())
    _, image, explanation = explained(kept(sample_image()), "suny-filter", predicted)
    planned = Suny(model, "layer", cause="filter").planned_interventions(6)
    assert ended[0] == ("progress", {"done": 0, "total": planned})
    assert [name for name, _ in ended[1:-1]] == ["progress"] * (len(ended) - 2)
    assert ended[-1][0] == "result"
    result_id = ended[-1][1]["result_id"]
    result = client.get(f"/api/results/{result_id}").json()
    necessary = explanation.top_causes("necessity")
    fields = ("method", "kind", "model", "layer", "target", "cause", "width", "height")
    expected = ("suny-filter", "suny", TOY, "layer", predicted, "filter", 32, 32)
    assert tuple(result[key] for key in fields) == expected
    assert result["target_name"] == CLASSES[predicted]
    assert result["probability"] == pytest.approx(explanation.probability)
    assert result["forward_passes"] == explanation.forward_passes
    assert [row["cause"] for row in result["necessary"]] == necessary
    first = result["necessary"][0]
    assert first["responsibility"] == pytest.approx(float(explanation.necessity[necessary[0]]))
    assert first["effect_necessity"] == pytest.approx(float(explanation.necessity_effects[necessary[0]]))
    assert first["effect_sufficiency"] == pytest.approx(float(explanation.sufficiency_effects[necessary[0]]))
    assert first["concept"] is None
    assert [row["cause"] for row in result["sufficient"]] == explanation.top_causes("sufficiency")

    values = np.frombuffer(client.get(f"/api/results/{result_id}/values.bin").content, dtype="<f4")
    n, s = values.reshape(2, 32, 32)
    np.testing.assert_allclose(n, explanation.necessity_map.numpy(), atol=1e-6)
    np.testing.assert_allclose(s, explanation.sufficiency_map.numpy(), atol=1e-6)
    overlay = Image.open(io.BytesIO(client.get(f"/api/results/{result_id}/overlay.png").content))
    assert np.array_equal(np.asarray(overlay), overlay_bivariate(to_rgb_array(image), n, s))

    _, maps = model.forward_with_layer(image[None], "layer")
    activation = maps[0, necessary[0]].relu()
    scaled = (activation - activation.min()) / (activation.max() - activation.min())
    thumbnail = client.get(f"/api/results/{result_id}/causes/{necessary[0]}.png")
    assert thumbnail.headers["content-type"] == "image/png"
    expected = heatmap_rgb(as_map(scaled.numpy(), (32, 32)))
    assert np.abs(np.asarray(Image.open(io.BytesIO(thumbnail.content))).astype(int) - expected).max() <= 1
    assert client.get(f"/api/results/{result_id}/causes/999.png").status_code == 404

    npz = client.get(f"/api/results/{result_id}/maps.npz")
    assert npz.headers["content-disposition"].startswith("attachment")
    with np.load(io.BytesIO(npz.content)) as arrays:
        for name, array in explanation.arrays().items():
            np.testing.assert_allclose(arrays[name], array, atol=1e-6)
    summary = client.get(f"/api/results/{result_id}/summary.json")
    assert summary.headers["content-disposition"].startswith("attachment")
    expected_summary = explanation.summary()
    assert {k: v for k, v in summary.json().items() if k != "seconds"} == {
        k: v for k, v in expected_summary.items() if k != "seconds"
    }


def test_a_baseline_result_is_the_registrys_map(client: TestClient) -> None:
    from suny.data import sample_image

    _, ended = run_job(client, sample_id(client), "gradcam", target=3)
    assert ended[0] == ("progress", {"done": 0, "total": None}) and ended[-1][0] == "result"
    result_id = ended[-1][1]["result_id"]
    result = client.get(f"/api/results/{result_id}").json()
    assert (result["kind"], result["method"], result["target"], result["target_name"]) == (
        "heatmap",
        "gradcam",
        3,
        "dog",
    )
    assert result["forward_passes"] is None and "necessary" not in result
    _, image, heatmap = explained(kept(sample_image()), "gradcam", 3)
    values = np.frombuffer(client.get(f"/api/results/{result_id}/values.bin").content, dtype="<f4")
    np.testing.assert_allclose(values.reshape(32, 32), heatmap.numpy(), atol=1e-6)
    overlay = Image.open(io.BytesIO(client.get(f"/api/results/{result_id}/overlay.png").content))
    assert np.array_equal(np.asarray(overlay), overlay_heatmap(to_rgb_array(image), values.reshape(32, 32)))
    assert client.get(f"/api/results/{result_id}/causes/0.png").status_code == 404
    summary = client.get(f"/api/results/{result_id}/summary.json").json()
    assert (summary["method"], summary["target"], summary["target_name"]) == ("gradcam", 3, "dog")


def test_bad_jobs_are_refused_with_what_to_do(client: TestClient) -> None:
    image_id = sample_id(client)
    cases = [
        ({"method": "nope"}, 400, "unknown method 'nope'; choose from suny-feature, suny-filter, gradcam"),
        ({"method": "gradcam", "layer": "nowhere"}, 400, "toy has no explainable layer 'nowhere'"),
        ({"method": "gradcam", "target": 10}, 400, "class 10 is out of range: toy has classes 0..9"),
        ({"method": "gradcam", "model": "resnet50"}, 404, "unknown model 'resnet50'"),
        ({"method": "gradcam", "image_id": "0" * 64}, 404, "no such image"),
        ({"method": "gradcam", "target": "tiger"}, 400, "invalid request: body.target"),
    ]
    for fields, status, message in cases:
        answer = client.post("/api/jobs", json={"image_id": image_id, "model": TOY} | fields)
        assert answer.status_code == status, (fields, answer.text)
        assert isinstance(answer.json()["detail"], str) and answer.json()["detail"].startswith(message), (
            answer.json()
        )


def test_a_failing_job_ends_in_an_error_event_and_the_worker_goes_on(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import suny.serve.compute as compute

    real = compute.build_method

    def broken(name: str, *args: Any) -> Any:
        if name == "rise":
            raise RuntimeError("a method that breaks")
        return real(name, *args)

    monkeypatch.setattr(compute, "build_method", broken)
    _, ended = run_job(client, sample_id(client), "rise")
    assert ended[-1] == ("error", {"detail": "rise failed: RuntimeError: a method that breaks"})
    _, ended = run_job(client, sample_id(client), "gradcam")
    assert ended[-1][0] == "result"


def test_a_second_look_is_answered_from_the_store_also_after_a_restart(tmp_path: Path) -> None:
    with TestClient(create_app(settings(tmp_path))) as client:
        first, ended = run_job(client, sample_id(client), "suny-filter", target=2)
        again, replay = run_job(client, sample_id(client), "suny-filter", target=2)
        other, _ = run_job(client, sample_id(client), "suny-filter", target=3)
        record = client.get(f"/api/results/{ended[-1][1]['result_id']}").json()
        body = {"image_id": sample_id(client), "model": TOY, "method": "suny-filter", "target": 4}
        twice = [client.post("/api/jobs", json=body).json() for _ in range(2)]  # before the first ran
        once, repeated = (events(client, job["job_id"]) for job in twice)
    assert (first["cached"], again["cached"], other["cached"]) == (False, True, False)
    assert replay == [ended[-1]]  # only the end: nothing computed
    assert twice[0]["cached"] is False and once[0][0] == "progress"
    assert repeated == [once[-1]]  # the second found the first's result (when its turn came, or at once)
    with TestClient(create_app(settings(tmp_path))) as client:
        start = time.perf_counter()
        restarted, replay = run_job(client, sample_id(client), "suny-filter", target=2)
        seconds = time.perf_counter() - start
        assert restarted["cached"] is True and replay == [ended[-1]] and seconds < 1.0
        assert client.get(f"/api/results/{ended[-1][1]['result_id']}").json() == record


def test_the_search_is_part_of_the_key_and_the_screen_plans_no_total(tmp_path: Path) -> None:
    with TestClient(create_app(settings(tmp_path))) as client:
        _, exhaustive = run_job(client, sample_id(client), "suny-feature", target=1)
    with TestClient(create_app(settings(tmp_path, search="screen"))) as client:
        job, screened = run_job(client, sample_id(client), "suny-feature", target=1)
        assert job["cached"] is False and screened[0] == ("progress", {"done": 0, "total": None})
        assert screened[-1][0] == "result" and screened[-1] != exhaustive[-1]
        assert exhaustive[0] == ("progress", {"done": 0, "total": 2 * 6 + 2 * 2**4})


def checkpoint_model(name: str, weights: str, device: str) -> ImageClassifier:
    """The toy with the state dict of the checkpoint ``weights`` (a path) loaded."""
    import torch

    network = SmallCNN()
    network.load_state_dict(torch.load(weights, weights_only=True))
    return toy_classifier(network, 32, classes=CLASSES, name=name)


def test_a_checkpoints_results_are_keyed_by_its_content_not_its_path(tmp_path: Path) -> None:
    import hashlib
    import shutil
    import sqlite3

    import torch

    checkpoint, moved = tmp_path / "toy.pt", tmp_path / "elsewhere" / "renamed.pt"
    torch.save(SmallCNN().state_dict(), checkpoint)

    def served(weights: Path) -> tuple[bool, str, np.ndarray]:
        """A server started on ``weights``: whether its job was cached, its result and map."""
        options = settings(tmp_path, weights=str(weights), model_loader=checkpoint_model)
        with TestClient(create_app(options)) as client:
            job, ended = run_job(client, sample_id(client), "gradcam", target=2)
            result_id = ended[-1][1]["result_id"]
            values = np.frombuffer(client.get(f"/api/results/{result_id}/values.bin").content, "<f4")
        return job["cached"], result_id, values

    def keyed_weights(result_id: str) -> str:
        with sqlite3.connect(tmp_path / "serve.sqlite") as db:
            (configuration,) = db.execute(
                "SELECT configuration FROM results WHERE result_id = ?", (result_id,)
            ).fetchone()
        return str(json.loads(configuration)["weights"])

    cached, first, values = served(checkpoint)
    assert cached is False
    assert keyed_weights(first) == "sha256:" + hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    moved.parent.mkdir()
    shutil.copy(checkpoint, moved)
    assert served(moved)[:2] == (True, first)  # the same file elsewhere: the same results
    edited = SmallCNN()
    with torch.no_grad():
        edited.layer.weight.add_(
            torch.randn(edited.layer.weight.shape, generator=torch.Generator().manual_seed(1))
        )
    torch.save(edited.state_dict(), checkpoint)  # the same path, edited
    cached, second, changed = served(checkpoint)
    assert cached is False and second != first and not np.allclose(changed, values)
    assert keyed_weights(second) == "sha256:" + hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert served(moved)[:2] == (True, first)  # the old one's results are still its own


def test_two_sessions_see_only_their_own_uploads_jobs_and_results(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path))
    with TestClient(app) as one, TestClient(app) as two:
        mine = upload(one, "mine.png", png_bytes(photo(10))).json()["image_id"]
        cookie = one.cookies.get("suny_session")
        assert cookie and cookie != two.get("/api/config").cookies.get("suny_session")
        assert [entry["source"] for entry in two.get("/api/images").json()] == ["sample"]
        job, ended = run_job(one, mine, "gradcam")
        result_id = ended[-1][1]["result_id"]
        for path in (
            f"/api/images/{mine}/image.png",
            f"/api/images/{mine}/predictions",
            f"/api/jobs/{job['job_id']}/events",
            f"/api/results/{result_id}",
            f"/api/results/{result_id}/overlay.png",
            f"/api/results/{result_id}/values.bin",
            f"/api/results/{result_id}/maps.npz",
        ):
            assert one.get(path).status_code == 200, path
            assert two.get(path).status_code == 404, path
        assert two.post(f"/api/jobs/{job['job_id']}/cancel").status_code == 404
        refused = two.post("/api/jobs", json={"image_id": mine, "model": TOY, "method": "gradcam"})
        assert refused.status_code == 404
        theirs = upload(two, "theirs.png", png_bytes(photo(10))).json()["image_id"]  # the same picture
        assert theirs == mine and two.get(f"/api/results/{result_id}").status_code == 200  # now theirs too
    set_cookie = TestClient(app).get("/api/config").headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie


def test_a_suny_feature_job_streams_progress_and_stops_within_a_second_of_its_cancel(tmp_path: Path) -> None:
    from suny.serve.settings import load_named_model

    server = settings(tmp_path, model="resnet18", weights="none", batch_size=4, model_loader=load_named_model)
    with TestClient(create_app(server)) as client:
        job = client.post(
            "/api/jobs", json={"image_id": sample_id(client), "model": "resnet18", "method": "suny-feature"}
        ).json()
        seen: list[tuple[str, dict[str, Any], float]] = []

        def follow() -> None:
            with client.stream("GET", f"/api/jobs/{job['job_id']}/events") as stream:
                name = ""
                for line in stream.iter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        seen.append((name, json.loads(line[6:]), time.perf_counter()))

        reader = threading.Thread(target=follow)
        reader.start()
        deadline = time.monotonic() + 120
        while not any(event[1].get("done") for event in seen) and time.monotonic() < deadline:
            time.sleep(0.05)
        asked = time.perf_counter()
        assert client.post(f"/api/jobs/{job['job_id']}/cancel").json() == {"cancelled": True}
        reader.join(timeout=30)
        (name, data, ended), progress = seen[-1], [event[1] for event in seen[:-1]]
        assert (name, data) == ("cancelled", {})
        assert ended - asked < 1.0, f"stopped {ended - asked:.2f} s after the cancel"
        assert progress[0] == {"done": 0, "total": 2 * 512 + 2 * 2**4}
        dones = [event["done"] for event in progress]
        assert dones == sorted(dones) and dones[-1] > 0 and all(done % 4 == 0 for done in dones)
        _, after = run_job(client, sample_id(client), "gradcam", model="resnet18")  # the worker is free
        assert after[-1][0] == "result"


def test_the_bench_stores_report_is_served_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from suny.benchmark.store import ResultStore

    monkeypatch.setattr(store_view, "REFRESH_SECONDS", 0.0)
    bench = tmp_path / "bench.sqlite"
    with ResultStore(bench):
        pass
    with TestClient(create_app(settings(tmp_path, bench_store=bench))) as client:
        assert client.get("/api/config").json()["bench_store"] is True
        first = client.get("/store/")
        assert first.status_code == 200 and first.headers["content-type"].startswith("text/html")
        assert client.get("/store/tables.md").status_code == 200
        with ResultStore(bench) as store:
            store.start_run("a-host-of-ours", 0, 1, "cpu", ["suny", "bench"], 1.0)
        assert b"a-host-of-ours" in client.get("/store/index.html").content
    with TestClient(create_app(settings(tmp_path / "none"))) as client:
        assert client.get("/store/").status_code == 404


def test_the_command_line_teaches_binds_loopback_and_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    import uvicorn

    from suny.cli.main import main

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "pip install 'suny[serve]'" in capsys.readouterr().out
    served: list[Any] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets: served.append((self, sockets)))
    store = str(tmp_path / "s.sqlite")
    assert (
        main(
            [
                "serve",
                "--model",
                "resnet18",
                "--weights",
                "none",
                "--port",
                "0",
                "--store",
                store,
                "--no-browser",
            ]
        )
        == 0
    )
    (server, (listener,)) = served[0]
    host, port = listener.getsockname()[:2]
    listener.close()
    assert host == "127.0.0.1" and f"suny serve: http://127.0.0.1:{port}/" in capsys.readouterr().out
    assert server.config.app is not None
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "fastapi" else real(name, *a)
    )
    assert main(["serve", "--no-browser"]) == 2
    assert (
        "suny serve needs the serve extra (fastapi missing): pip install 'suny[serve]'"
        in capsys.readouterr().err
    )
