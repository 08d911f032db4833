"""`suny serve` end to end in a real headless Chromium (Debian's ``chromium``, found as
tests/test_visualisation.py finds it), driven by Playwright for Python pointed at that executable
(no browser is ever downloaded). The real server runs in a subprocess on a free port of 127.0.0.1
with a temporary results store and a 1 MiB upload limit (so the "file over the limit" case needs no
200 MB; the page refuses it before sending it). Every test opens its own browser context, that is
its own session cookie.

``SUNY_UPDATE_SCREENSHOTS=1`` makes :func:`test_screenshot_of_a_suny_result` write the README's
picture, ``docs/images/serve.png``; otherwise it goes to a temporary folder.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next(
    (path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))),
    None,
)
HAS_PLAYWRIGHT = importlib.util.find_spec("playwright") is not None
HAS_SERVE = all(importlib.util.find_spec(name) for name in ("fastapi", "uvicorn", "multipart"))
if CHROMIUM is None or not HAS_PLAYWRIGHT or not HAS_SERVE:
    missing = [
        *(["headless Chromium (apt-get install -y chromium)"] if CHROMIUM is None else []),
        *(["playwright (pip install playwright; no browser download needed)"] if not HAS_PLAYWRIGHT else []),
        *(["the serve extra (pip install 'suny[serve]')"] if not HAS_SERVE else []),
    ]
    pytest.skip(f"suny serve's browser tests need {' and '.join(missing)}", allow_module_level=True)

from playwright.sync_api import Browser, BrowserContext, Page, Response, expect, sync_playwright  # noqa: E402

UPLOAD_LIMIT_MB = 1
RUN_TIMEOUT_MS = 300_000  # SUNY-filter on a 2-core CPU that other processes share
NUMBER = r"(\d+\.\d\d)"
expect.set_options(timeout=30_000)


# ------------------------------------------------------------------------------------ the server
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server(NamedTuple):
    url: str
    pid: int


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real ``suny serve`` in a subprocess (stopped after the module): its address and process."""
    from suny.benchmark.store import ResultStore

    folder = tmp_path_factory.mktemp("serve")
    with ResultStore(folder / "bench.sqlite"):  # an empty suny bench store, for /store/
        pass
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "suny.cli.main",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--store",
        str(folder / "serve.sqlite"),
        "--bench-store",
        str(folder / "bench.sqlite"),
        "--max-upload-mb",
        str(UPLOAD_LIMIT_MB),
        "--no-browser",
    ]
    log = (folder / "server.log").open("w+", encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder)
    address = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while True:
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(f"suny serve exited with {process.returncode}:\n{log.read()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{address}/api/config", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("suny serve did not answer within 180 s")
            time.sleep(0.5)
        yield Server(address, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.seek(0)
        text = log.read()
        log.close()
        assert "Traceback" not in text, f"the server logged a traceback:\n{text[-4000:]}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` and its threads (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------------- the browser
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield instance
        instance.close()


def new_session(browser: Browser, server: Server) -> tuple[BrowserContext, Page, list[str]]:
    """A browser context (its own cookie) with the page open and ready; the page's uncaught errors
    and any request that leaves the server (a CDN, ...) are collected in the list."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    local = (server.url + "/", "data:", "blob:")
    page.on(
        "request",
        lambda request: None if request.url.startswith(local) else errors.append(f"fetched {request.url}"),
    )
    page.goto("/")
    expect(page.locator("#status")).to_have_text("ready", timeout=120_000)
    return context, page, errors


@pytest.fixture
def session(browser: Browser, server: Server) -> Iterator[tuple[BrowserContext, Page]]:
    context, page, errors = new_session(browser, server)
    yield context, page
    context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


# ------------------------------------------------------------------------------------- helpers
def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def photo(seed: int = 0, size: tuple[int, int] = (320, 240)) -> bytes:
    """A small RGB PNG: smooth colour gradients and a few blobs (a photo-like, compressible image)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : size[1], 0 : size[0]] / max(size)
    channels = [np.sin(6 * x * rng.uniform(0.5, 2) + rng.uniform(0, 6)) for _ in range(3)]
    for _ in range(4):
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 0.75), rng.uniform(0.05, 0.2)
        blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / r**2)
        channels[rng.integers(3)] += 2 * blob
    pixels = np.stack(channels, -1)
    pixels = (pixels - pixels.min()) / (pixels.max() - pixels.min())
    return png_bytes(Image.fromarray((pixels * 255).astype(np.uint8)))


def upload(page: Page, name: str, data: bytes, mime: str = "image/png") -> Response:
    """Put ``data`` into ``#upload`` and return the server's response to the page's POST."""
    with page.expect_response(lambda r: r.url.endswith("/api/images") and r.request.method == "POST") as info:
        page.set_input_files("#upload", files=[{"name": name, "mimeType": mime, "buffer": data}])
    return info.value


def choose_methods(page: Page, *methods: str) -> None:
    for box in page.locator("#methods input[name=method]").all():
        box.set_checked(box.get_attribute("value") in methods)


def run(page: Page, *methods: str, timeout: float = RUN_TIMEOUT_MS) -> str:
    """Explain the selected image with ``methods``; wait for the run's end and return #status."""
    choose_methods(page, *methods)
    page.click("#run")
    expect(page.locator("#run")).to_be_enabled(timeout=timeout)
    status = page.locator("#status").inner_text()
    assert status.startswith("done"), status
    for method in methods:
        expect(card(page, method)).to_have_attribute("data-state", "done")
    return status


def card(page: Page, method: str):
    return page.locator(f'.result[data-method="{method}"]')


def result_of(page: Page, method: str) -> dict:
    result_id = card(page, method).get_attribute("data-result-id")
    answer = page.request.get(f"/api/results/{result_id}")
    assert answer.ok, answer.status
    return answer.json()


def values_of(page: Page, result: dict) -> np.ndarray:
    """The result's values.bin as (maps, H, W): N and S for SUNY, the map for a heatmap."""
    answer = page.request.get(f"/api/results/{result['result_id']}/values.bin")
    assert answer.ok, answer.status
    values = np.frombuffer(answer.body(), dtype="<f4")
    return values.reshape(-1, result["height"], result["width"])


def decoded(locator) -> bool:
    return bool(locator.evaluate("image => image.complete && image.naturalWidth > 0"))


def hover_cell(page: Page, overlay, row: int, column: int, height: int, width: int) -> None:
    """Point at the middle of the value cell (row, column) of the displayed overlay."""
    box = overlay.bounding_box()
    assert box is not None
    overlay.hover(
        position={"x": (column + 0.5) * box["width"] / width, "y": (row + 0.5) * box["height"] / height}
    )


# --------------------------------------------------------------------------------------- tests
def test_the_page_opens_on_the_sample_with_its_choices(session):
    _, page = session
    first = page.locator("#image-list .image-item").first
    expect(first).to_have_attribute("data-source", "sample")
    expect(first).to_have_attribute("aria-pressed", "true")
    assert decoded(page.locator("#preview-image"))
    config = page.request.get("/api/config").json()
    assert page.locator("#model").input_value() == config["default_model"]
    defaults = page.locator("#layer option").filter(has_text=re.compile(r" \(default\)$"))
    expect(defaults).to_have_count(1)
    assert page.locator("#layer").input_value() == defaults.get_attribute("value")
    targets = page.locator("#target option")
    expect(targets).to_have_count(6)  # the top 5 and "by name…"
    assert all(re.search(r"\d+\.\d%$", text) for text in targets.all_inner_texts()[:5])
    methods = page.locator("#methods input[name=method]")
    names = [box.get_attribute("value") for box in methods.all()]
    assert {"suny-feature", "suny-filter", "gradcam"} <= set(names)
    expect(page.locator("#cancel")).to_be_disabled()
    # A class by name.
    page.select_option("#target", label="by name…")
    page.fill("#class-search", "tiger")
    page.locator("#class-results button").first.click()
    assert "tiger" in page.locator("#target option:checked").inner_text().lower()


def test_the_bench_stores_report_is_linked(session):
    _, page = session
    link = page.locator("#store-link")
    expect(link).to_be_visible()
    with page.expect_navigation():
        link.click()
    assert page.url.rstrip("/").endswith("/store")
    assert page.locator("body").inner_text().strip()


def test_a_dropped_image_is_uploaded_and_its_name_stays_text(session):
    _, page = session
    name = '<img src=x onerror="window.pwned = 1">.png'
    payload = base64.b64encode(photo(7)).decode()
    transfer = page.evaluate_handle(
        """([name, payload]) => {
            const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/png" }));
            return transfer;
        }""",
        [name, payload],
    )
    with page.expect_response(lambda r: r.url.endswith("/api/images") and r.request.method == "POST") as info:
        page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})
    assert info.value.status == 201, info.value.text()
    image_id = info.value.json()["image_id"]
    item = page.locator(f'#image-list .image-item[data-image-id="{image_id}"]')
    expect(item).to_have_attribute("aria-pressed", "true")
    expect(item.locator(".image-name")).to_have_text(info.value.json()["name"])
    assert "<img" in item.locator(".image-name").inner_text()  # shown as text, not made an element
    assert page.locator("#image-list img[src=x]").count() == 0
    assert page.evaluate("window.pwned") is None


def test_the_legend_is_the_librarys_colormap():
    from suny.visualisation import legend_square

    legend = np.asarray(Image.open(ROOT / "src/suny/serve/static/legend.png").convert("RGB"))
    np.testing.assert_array_equal(legend, legend_square(128))


def test_upload_run_suny_filter_hover_and_click_a_cause(session):
    _, page = session
    answer = upload(page, "my photo.png", photo(1))
    assert answer.status == 201, answer.text()
    image_id = answer.json()["image_id"]
    expect(page.locator("#status")).to_contain_text("uploaded my photo.png")
    item = page.locator(f'#image-list .image-item[data-image-id="{image_id}"]')
    expect(item).to_have_attribute("aria-pressed", "true")
    expect(item).to_have_attribute("data-source", "upload")

    run(page, "suny-filter")
    suny = card(page, "suny-filter")
    overlay = suny.locator("img.overlay")
    assert decoded(overlay)
    expect(suny.locator(".legend")).to_be_visible()
    result = result_of(page, "suny-filter")
    assert result["kind"] == "suny" and result["method"] == "suny-filter"

    # The hover readout is values.bin at the pixel under the pointer.
    n, s = values_of(page, result)
    height, width = n.shape
    cells = [
        np.unravel_index(np.argmax(n), n.shape),
        np.unravel_index(np.argmax(s), s.shape),
        (height // 3, width // 2),
    ]
    for row, column in cells:
        hover_cell(page, overlay, int(row), int(column), height, width)
        text = page.locator("#hover-readout").inner_text()
        match = re.fullmatch(rf"N {NUMBER} · S {NUMBER}", text)
        assert match, text
        shown = np.array([float(match.group(1)), float(match.group(2))])
        expected = np.array([n[row, column], s[row, column]])
        assert np.all(np.abs(shown - expected) <= 0.0051), (row, column, text, expected)
    assert suny.locator("#hover-readout").count() == 1

    # The causes: thumbnails with R_N / R_S; a click shows the mask and E_N / E_S.
    necessary = suny.locator('.cause[data-kind="necessary"]')
    expect(necessary).to_have_count(len(result["necessary"]))
    assert len(result["necessary"]) > 0
    first = result["necessary"][0]
    button = necessary.first
    assert button.get_attribute("data-cause") == str(first["cause"])
    assert f"R_N {first['responsibility']:.3f}" in button.inner_text()
    assert decoded(button.locator("img"))
    assert suny.locator('.cause[data-kind="sufficient"]').count() == len(result["sufficient"])
    button.click()
    detail = page.locator("#cause-detail")
    expect(detail).to_be_visible()
    expect(detail).to_have_attribute("data-cause", str(first["cause"]))
    expect(detail.locator('dd[data-term="E_N"]')).to_have_text(f"{first['effect_necessity']:.3f}")
    expect(detail.locator('dd[data-term="E_S"]')).to_have_text(f"{first['effect_sufficiency']:.3f}")
    mask = detail.locator("img.detail-mask")
    expect(mask).to_have_attribute("src", re.compile(rf"/causes/{first['cause']}\.png$"))
    page.wait_for_function("image => image.complete && image.naturalWidth > 0", arg=mask.element_handle())
    expect(button).to_have_attribute("aria-pressed", "true")

    # The downloads.
    npz = page.request.get(suny.locator("a.download-npz").get_attribute("href"))
    assert npz.ok and "attachment" in npz.headers.get("content-disposition", "")
    with np.load(io.BytesIO(npz.body())) as maps:
        assert len(maps.files) > 0
    summary = page.request.get(suny.locator("a.download-summary").get_attribute("href"))
    assert summary.ok
    assert isinstance(json.loads(summary.body()), dict)


def test_switching_the_layer_and_running_again_gives_another_result(session):
    _, page = session
    run(page, "suny-filter")
    first = result_of(page, "suny-filter")
    default = page.locator("#layer").input_value()
    layers = [o.get_attribute("value") for o in page.locator("#layer option").all()]
    # The layer just before the default (in the order `suny layers` lists them).
    other = layers[layers.index(default) - 1] if layers.index(default) > 0 else layers[-1]
    page.select_option("#layer", other)
    run(page, "suny-filter")
    second = result_of(page, "suny-filter")
    assert second["result_id"] != first["result_id"]
    assert (first["layer"], second["layer"]) == (default, other)
    a, b = values_of(page, first), values_of(page, second)
    assert a.shape != b.shape or not np.allclose(a, b)


def test_methods_are_compared_side_by_side(session):
    _, page = session
    run(page, "gradcam", "suny-filter")
    suny, cam = card(page, "suny-filter"), card(page, "gradcam")
    assert cam.get_attribute("data-kind") == "heatmap"
    expect(cam.locator(".jet-legend")).to_be_visible()
    expect(cam.locator(".legend")).to_be_hidden()
    expect(cam.locator(".causes")).to_be_hidden()
    assert decoded(cam.locator("img.overlay"))
    a, b = suny.bounding_box(), cam.bounding_box()
    assert a and b and abs(a["y"] - b["y"]) < 2 and a["x"] + a["width"] <= b["x"]  # one row, apart
    result = result_of(page, "gradcam")
    (heat,) = values_of(page, result)
    row, column = np.unravel_index(np.argmax(heat), heat.shape)
    hover_cell(page, cam.locator("img.overlay"), int(row), int(column), *heat.shape)
    match = re.fullmatch(rf"value {NUMBER}", page.locator("#hover-readout").inner_text())
    assert match and abs(float(match.group(1)) - heat[row, column]) <= 0.0051


def test_a_suny_feature_run_is_cancelled_within_a_second(session, server):
    _, page = session
    choose_methods(page, "suny-feature")
    with page.expect_response(lambda r: r.url.endswith("/api/jobs") and r.request.method == "POST") as info:
        page.click("#run")
    job_id = info.value.json()["job_id"]
    expect(page.locator("#status")).to_have_text(re.compile(r"running suny-feature \d+"), timeout=120_000)
    expect(page.locator("#cancel")).to_be_enabled()
    pid = server.pid
    before = cpu_seconds(pid)
    time.sleep(1.0)
    busy = cpu_seconds(pid) - before
    clicked = time.monotonic()
    page.click("#cancel")
    expect(page.locator("#status")).to_have_text("cancelled", timeout=3_000)
    elapsed = time.monotonic() - clicked
    assert elapsed < 1.5, f"cancelled after {elapsed:.2f} s"
    expect(card(page, "suny-feature")).to_have_attribute("data-state", "cancelled")
    expect(page.locator("#cancel")).to_be_disabled()
    expect(page.locator("#run")).to_be_enabled()
    # The server's job stopped: the process is idle again (it was computing before the click).
    time.sleep(0.5)
    start = cpu_seconds(pid)
    time.sleep(1.5)
    idle = cpu_seconds(pid) - start
    assert busy > 0.3 and idle < 0.3, (
        f"CPU seconds: {busy:.2f} in 1 s before the cancel, {idle:.2f} in 1.5 s after"
    )
    print(f"cancelled in {elapsed:.2f} s; server CPU {busy:.2f} s/s before, {idle / 1.5:.2f} s/s after")
    # Cancelling it again is harmless, and nothing was kept of it: the same request computes anew.
    assert page.request.post(f"/api/jobs/{job_id}/cancel").status < 500
    again = page.request.post("/api/jobs", data=info.value.request.post_data_json)
    assert again.status == 202 and again.json()["cached"] is False
    assert page.request.post(f"/api/jobs/{again.json()['job_id']}/cancel").status == 202


def test_two_sessions_get_their_own_uploads_and_results(browser, server):
    one, page_one, errors_one = new_session(browser, server)
    two, page_two, errors_two = new_session(browser, server)
    try:
        mine = upload(page_one, "first.png", photo(2))
        theirs = upload(page_two, "second.png", photo(3))
        assert (mine.status, theirs.status) == (201, 201)
        mine_id, theirs_id = mine.json()["image_id"], theirs.json()["image_id"]
        expect(page_one.locator("#status")).to_contain_text("uploaded first.png")
        expect(page_two.locator("#status")).to_contain_text("uploaded second.png")
        assert page_one.locator(f'[data-image-id="{theirs_id}"]').count() == 0
        assert page_two.locator(f'[data-image-id="{mine_id}"]').count() == 0
        assert page_two.request.get(f"/api/images/{mine_id}/image.png").status == 404
        assert page_one.request.get(f"/api/images/{theirs_id}/image.png").status == 404
        # Both run at once, each on its own upload.
        jobs = []
        for page in (page_one, page_two):
            choose_methods(page, "gradcam")
            with page.expect_response(
                lambda r: r.url.endswith("/api/jobs") and r.request.method == "POST"
            ) as info:
                page.click("#run")
            jobs.append(info.value.json()["job_id"])
        for page in (page_one, page_two):
            expect(page.locator("#run")).to_be_enabled(timeout=RUN_TIMEOUT_MS)
            expect(card(page, "gradcam")).to_have_attribute("data-state", "done")
        first, second = result_of(page_one, "gradcam"), result_of(page_two, "gradcam")
        assert first["result_id"] != second["result_id"]
        assert not np.allclose(values_of(page_one, first), values_of(page_two, second))
        # A job belongs to the session that started it.
        assert page_two.request.post(f"/api/jobs/{jobs[0]}/cancel").status == 404
        assert page_one.request.get(f"/api/jobs/{jobs[1]}/events").status == 404
    finally:
        one.close()
        two.close()
    assert errors_one == errors_two == []


def bomb_png(side: int = 30_000) -> bytes:
    """A 1-bit PNG of side x side black pixels (900 Mpx for 30000): about 100 KB of file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = side.to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])
    compressor = zlib.compressobj(9)
    row = bytes(1 + (side + 7) // 8)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def refused_uploads() -> dict[str, tuple[str, bytes, str, set[int]]]:
    """name -> (file name, bytes, MIME type, the statuses allowed): what the server refuses."""
    jpeg = io.BytesIO()
    Image.open(io.BytesIO(photo(4))).convert("RGB").save(jpeg, format="JPEG")
    return {
        "not an image": ("notes.txt", b"these are words, not pixels\n" * 40, "text/plain", {400, 415}),
        "empty": ("empty.png", b"", "image/png", {400}),
        "truncated": ("cut.jpg", jpeg.getvalue()[: len(jpeg.getvalue()) // 2], "image/jpeg", {400}),
        "decompression bomb": ("bomb.png", bomb_png(), "image/png", {413}),
        "1x1": ("1x1.png", png_bytes(Image.new("RGB", (1, 1), (200, 30, 40))), "image/png", {400}),
    }


def accepted_uploads() -> dict[str, tuple[bytes, str]]:
    """The uploads accepted (converted as suny.data.load_image converts them), with the note the
    page shows for each (none for 8-bit RGB)."""
    sixteen = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    rgba = np.dstack([np.asarray(Image.open(io.BytesIO(photo(6)))), np.full((240, 320), 128, np.uint8)])
    return {
        "16-bit.png": (png_bytes(Image.fromarray(sixteen)), "16-bit grayscale converted to 8-bit RGB"),
        "rgba.png": (png_bytes(Image.fromarray(rgba)), "transparency composited over white"),
        "16x16.png": (photo(8, (16, 16)), ""),
    }


def test_bad_uploads_get_a_message_in_the_page_and_a_4xx(session):
    _, page = session
    for case, (name, data, mime, statuses) in refused_uploads().items():
        answer = upload(page, name, data, mime)
        assert answer.status in statuses, (case, answer.status, answer.text())
        detail = answer.json()["detail"]
        assert detail.startswith(f"{name}: "), (case, detail)  # the page does not repeat the name
        expect(page.locator("#upload-error")).to_have_text(f"{detail} (HTTP {answer.status})")
        expect(page.locator("#upload-note")).to_be_empty()
        expect(page.locator("#image-list .image-item")).to_have_count(1)  # the sample alone
    assert detail == "1x1.png: too small to explain: 1x1 pixels; at least 16 a side"
    # 16-bit, RGBA and 16 x 16 are accepted: listed, explained, the conversion said politely.
    for name, (data, note) in accepted_uploads().items():
        answer = upload(page, name, data)
        assert answer.status == 201, (name, answer.status, answer.text())
        assert answer.json()["note"] == (note or None)
        expect(page.locator("#status")).to_contain_text(f"uploaded {name}")
        expect(page.locator("#upload-error")).to_be_empty()
        expect(page.locator("#upload-note")).to_have_text(f"{name}: {note}" if note else "")
    expect(page.locator("#upload-note")).to_have_attribute("role", "status")
    expect(page.locator("#image-list .image-item")).to_have_count(4)
    run(page, "gradcam")  # the last upload, 16 x 16: the worker is alive and upsamples it
    assert page.request.get("/api/config").ok


def test_a_file_over_the_limit_is_refused_by_the_page_before_it_is_sent(session):
    _, page = session
    name, data = "huge.png", photo(5) + os.urandom(UPLOAD_LIMIT_MB * 2**20)
    file = {"name": name, "mimeType": "image/png", "buffer": data}
    server = page.request.post("/api/images", multipart={"file": file})  # the server's own answer
    assert server.status == 413
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
    page.set_input_files("#upload", files=[file])
    expect(page.locator("#upload-error")).to_have_text(f"{name}: {server.json()['detail']}")
    assert (
        server.json()["detail"] == "the file is larger than the 1 MiB this server accepts (--max-upload-mb)"
    )
    expect(page.locator("#status")).to_have_text("upload refused")
    assert sent == []
    # A file of the limit exactly is sent (and refused by the server: it is no image).
    page.set_input_files("#upload", files=[{**file, "name": "limit.png", "buffer": bytes(2**20)}])
    expect(page.locator("#upload-error")).to_have_text(
        "limit.png: not a readable image (not a format PIL reads) (HTTP 400)"
    )
    assert len(sent) == 1


def test_a_second_look_is_answered_from_the_cache(session):
    _, page = session
    run(page, "suny-filter")
    first = result_of(page, "suny-filter")
    status = run(page, "suny-filter")
    assert re.fullmatch(r"done in \d+\.\d s \(cached\)", status), status
    expect(card(page, "suny-filter").locator(".card-meta")).to_contain_text("cached")
    assert result_of(page, "suny-filter")["result_id"] == first["result_id"]


def test_screenshot_of_a_suny_result(session, tmp_path):
    _, page = session
    run(page, "suny-filter", "gradcam")
    suny = card(page, "suny-filter")
    result = result_of(page, "suny-filter")
    n, s = values_of(page, result)
    row, column = np.unravel_index(np.argmax(n * s), n.shape)
    suny.locator('.cause[data-kind="necessary"]').first.click()
    hover_cell(page, suny.locator("img.overlay"), int(row), int(column), *n.shape)
    expect(page.locator("#hover-readout")).to_have_text(re.compile(r"^N \d"))
    update = os.environ.get("SUNY_UPDATE_SCREENSHOTS") == "1"
    path = ROOT / "docs/images/serve.png" if update else tmp_path / "serve.png"
    page.screenshot(path=str(path))
    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    assert pixels.shape == (800, 1280, 3) and pixels.std() > 20
