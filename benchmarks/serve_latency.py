"""``suny serve``'s latency and memory (issue 33), with the real server in a subprocess on 127.0.0.1.

1. **Upload to the first SUNY-filter result** (target 2 s on the 2-core CPU): what the page does
   after a drop, timed from the start of the upload to the last byte the result card needs: the
   upload (``POST /api/images``), the top-5 (``/predictions``), the job (``POST /api/jobs``, then
   its event stream to ``result``), and the result's JSON, ``overlay.png`` and ``values.bin``.
   Each repeat uploads a new image (an ILSVRC crop of the shared data, else a variant of the
   sample photo), so nothing comes from the cache; a first, untimed round warms the server up.
2. **Switching between cached results** (target 200 ms): the same job asked again for results
   already computed (``cached: true``), to the same last byte, alternating between them.
3. **Resident memory over 100 uploads** (each with its top-5, as the page asks): the server
   process's RSS after a warm-up and at the end, untrimmed and after glibc's ``malloc_trim(0)``
   (the server runs under a wrapper that calls ``gc.collect()`` and ``malloc_trim`` on SIGUSR1;
   freed heap pages stay mapped otherwise, see ``benchmarks/long_process.py``), and whether it is
   flat (trimmed growth under 5%, the bound of issue 32).

The model is the server's default (EfficientNet-Lite0). The server inherits this environment, so
run it as the CPU figures are meant::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/serve_latency.py          # 5 / 20 / 100
"""

from __future__ import annotations

import argparse
import http.cookiejar
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import ImageEnhance

from suny.engine.hardware import describe_device

DATA = Path(__file__).parents[2] / "shared" / "data" / "ilsvrc-val-crops"
UPLOAD_TARGET_S = 2.0
SWITCH_TARGET_S = 0.2
FLAT_BOUND = 5.0  # percent growth after the warm-up

# The real CLI, with a handler that frees what the C library keeps when told to (SIGUSR1).
WRAPPER = """
import ctypes, ctypes.util, gc, signal, sys
def trim(*_):
    gc.collect()
    name = ctypes.util.find_library("c")
    library = ctypes.CDLL(name) if name else None
    if library is not None and hasattr(library, "malloc_trim"):
        library.malloc_trim(0)
signal.signal(signal.SIGUSR1, trim)
from suny.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


# ------------------------------------------------------------------------------- the client
class Client:
    """One browser session's worth of HTTP: the session cookie kept, JSON in and out."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.model = "efficientnet-lite0"
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def request(self, path: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> bytes:
        request = urllib.request.Request(self.url + path, data=data, headers=headers or {})
        with self.opener.open(request, timeout=600) as answer:
            return answer.read()

    def json(self, path: str, body: object | None = None) -> dict:
        if body is None:
            return json.loads(self.request(path))
        data = json.dumps(body).encode()
        return json.loads(self.request(path, data, {"Content-Type": "application/json"}))

    def upload(self, name: str, data: bytes) -> dict:
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                f"Content-Type: image/jpeg\r\n\r\n"
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        return json.loads(self.request("/api/images", body, headers))

    def events(self, job_id: str) -> Iterator[tuple[str, dict]]:
        """The job's server-sent events as (event, data) until the stream ends."""
        request = urllib.request.Request(f"{self.url}/api/jobs/{job_id}/events")
        with self.opener.open(request, timeout=600) as stream:
            event, data = "message", ""
            for raw in stream:
                line = raw.decode().rstrip("\r\n")
                if not line:
                    if data:
                        yield event, json.loads(data)
                    event, data = "message", ""
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data += line[5:].strip()

    def explain(self, image_id: str, method: str) -> tuple[str, bool]:
        """Run a job to its end and fetch what the result card shows; (result id, cached)."""
        job = self.json(
            "/api/jobs",
            {"image_id": image_id, "model": self.model, "layer": None, "target": None, "method": method},
        )
        for event, data in self.events(job["job_id"]):
            if event == "result":
                result_id = data["result_id"]
                break
            if event in ("error", "cancelled"):
                raise RuntimeError(f"{method} on {image_id}: {event} {data}")
        else:
            raise RuntimeError("the event stream ended without a result")
        self.json(f"/api/results/{result_id}")
        self.request(f"/api/results/{result_id}/overlay.png")
        self.request(f"/api/results/{result_id}/values.bin")
        return result_id, bool(job["cached"])


# ------------------------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(store: Path, model: str | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [
        sys.executable,
        "-c",
        WRAPPER,
        "serve",
        "--port",
        str(port),
        "--store",
        str(store),
        "--no-browser",
    ]
    if model:
        command += ["--model", model]
    log = (store.parent / "server.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(
                f"suny serve exited with {process.returncode}: {(store.parent / 'server.log').read_text()}"
            )
        try:
            with urllib.request.urlopen(f"{url}/api/config", timeout=5):
                return process, url
        except (OSError, urllib.error.URLError):
            time.sleep(0.3)
    process.kill()
    raise SystemExit("suny serve did not answer within 300 s")


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def resident_pair(pid: int) -> tuple[float, float]:
    """The server's resident memory (MiB) as it is, and after gc + malloc_trim (SIGUSR1)."""
    untrimmed = resident_mib(pid)
    os.kill(pid, signal.SIGUSR1)
    time.sleep(1.0)
    return untrimmed, resident_mib(pid)


# ---------------------------------------------------------------------------------- images
def images() -> Iterator[tuple[str, bytes]]:
    """Endless distinct JPEGs: the shared ILSVRC crops, then variants of the sample photo."""
    crops = sorted(DATA.glob("*.JPEG")) if DATA.is_dir() else []
    for path in crops:
        yield path.name, path.read_bytes()
    from suny.data import sample_image

    photo = sample_image().convert("RGB")
    rng = np.random.default_rng(0)
    for i in range(10**6):
        variant = ImageEnhance.Brightness(photo).enhance(float(rng.uniform(0.7, 1.3)))
        variant = variant.rotate(float(rng.uniform(-8, 8)))
        buffer = io.BytesIO()
        variant.save(buffer, format="JPEG", quality=90)
        yield f"variant-{i}.jpg", buffer.getvalue()


def verdict(seconds: float, target: float) -> str:
    met = "met" if seconds <= target else "missed"
    return f"{seconds:.3f} s, {seconds / target:.2f} x the {target:g} s target ({met})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="the server's --model (default: its own default)")
    parser.add_argument("--repeats", type=int, default=5, help="uploads timed to the first result")
    parser.add_argument("--switches", type=int, default=20, help="cached results fetched")
    parser.add_argument("--uploads", type=int, default=100, help="uploads for the memory figure")
    parser.add_argument("--warmup", type=int, default=10, help="uploads before the memory baseline")
    args = parser.parse_args()
    print(
        f"device: {describe_device(torch.device('cpu'))}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"
    )
    source = images()
    with tempfile.TemporaryDirectory() as folder:
        process, url = start_server(Path(folder) / "serve.sqlite", args.model)
        try:
            client = Client(url)
            config = client.json("/api/config")
            client.model = config["default_model"]
            print(f"server {url}, suny {config.get('version')}, model {client.model}")

            # 1. Upload -> first SUNY-filter result.
            def first_result() -> tuple[float, dict[str, float], str]:
                name, data = next(source)
                marks = {"start": time.perf_counter()}
                image = client.upload(name, data)
                marks["upload"] = time.perf_counter()
                client.json(f"/api/images/{image['image_id']}/predictions?model={client.model}")
                marks["top-5"] = time.perf_counter()
                _, cached = client.explain(image["image_id"], "suny-filter")
                marks["result"] = time.perf_counter()
                assert not cached, "a new image was answered from the cache"
                steps = dict(zip(list(marks)[1:], np.diff(list(marks.values()))))
                return marks["result"] - marks["start"], steps, image["image_id"]

            warm, steps, _ = first_result()
            print(f"warm-up upload -> SUNY-filter result: {warm:.2f} s (not counted)")
            times, ids = [], []
            for i in range(args.repeats):
                total, steps, image_id = first_result()
                times.append(total)
                ids.append(image_id)
                detail = ", ".join(f"{k} {v:.2f} s" for k, v in steps.items())
                print(f"  upload {i + 1}: {total:.2f} s ({detail})")
            median = statistics.median(times)
            print(
                f"upload -> first SUNY-filter result, median of {args.repeats}: "
                f"{verdict(median, UPLOAD_TARGET_S)}"
            )

            # 2. Switching between cached results (SUNY-filter of the images above, and Grad-CAM).
            client.explain(ids[0], "gradcam")
            choices = [(ids[0], "suny-filter"), (ids[0], "gradcam"), (ids[-1], "suny-filter")]
            switches = []
            for i in range(args.switches):
                image_id, method = choices[i % len(choices)]
                start = time.perf_counter()
                _, cached = client.explain(image_id, method)
                switches.append(time.perf_counter() - start)
                assert cached, f"{method} on {image_id} was computed again"
            print(
                f"switch to a cached result (job, events, JSON, overlay, values.bin), "
                f"median of {args.switches}: "
                f"{verdict(statistics.median(switches), SWITCH_TARGET_S)}; max {max(switches):.3f} s"
            )

            # 3. Resident memory over uploads.
            base = (0.0, 0.0)
            start = time.perf_counter()
            for i in range(args.warmup + args.uploads):
                name, data = next(source)
                image = client.upload(name, data)
                client.json(f"/api/images/{image['image_id']}/predictions?model={client.model}")
                if i + 1 == args.warmup:
                    base = resident_pair(process.pid)
            end = resident_pair(process.pid)
            growth = [100 * (after - before) / before for before, after in zip(base, end)]
            flat = "flat" if growth[1] < FLAT_BOUND else "NOT flat"
            print(
                f"server RSS over {args.uploads} uploads (+ top-5) after {args.warmup} warm-up ones "
                f"({time.perf_counter() - start:.0f} s): {base[0]:.1f} -> {end[0]:.1f} MiB "
                f"({growth[0]:+.1f}%), "
                f"after malloc_trim {base[1]:.1f} -> {end[1]:.1f} MiB ({growth[1]:+.1f}%): {flat} "
                f"(bound {FLAT_BOUND:g}%)"
            )
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
