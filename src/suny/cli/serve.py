"""``suny serve``: explanations explored in the browser (needs the ``serve`` extra)."""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import logging
import socket
import threading
import webbrowser
from pathlib import Path

from suny.cli.common import add_precision_option, positive_int, resolve_device
from suny.errors import SunyError
from suny.method.suny import SEARCHES
from suny.models import DEFAULT_MODEL

logger = logging.getLogger(__name__)

#: The packages of the ``serve`` extra, by import name.
SERVE_PACKAGES = ("fastapi", "uvicorn", "multipart")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="explore explanations in the browser: upload, pick a layer, class and methods, hover, compare",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Serve a page where you pick or drop an image and explain it: choose the model, the layer (the list
'suny layers' gives, the default marked), the class (the top 5 or one by name) and the methods, then
see SUNY's two maps in one 2-D colormap with the (N, S) values under the pointer, its top necessary
and sufficient causes as thumbnails (click one for its mask and effects), and the baselines' heat
maps beside it. A run streams its progress and can be cancelled; every result is kept in --store,
so a second look at it is instant, also after a restart. Downloads: the maps (.npz), summary.json.

The server listens on 127.0.0.1 only unless --host says otherwise; uploads are limited in bytes
and pixels. It needs the serve extra: pip install 'suny[serve]'.""",
        epilog="""\
examples:
  suny serve                                   # http://127.0.0.1:8000/, opens the browser
  suny serve --folder photos/ --port 8080      # also offer the images of photos/
  suny serve --model resnet50 --weights none   # another model first (the Lite models stay offered)
  suny serve --bench-store runs/results.sqlite # also show that suny bench store's report at /store/""",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8000, help="port to listen on (default: 8000; 0: any free)"
    )
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="the model offered first (the EfficientNet-Lite models are offered beside it; names as for "
        f"suny explain) (default: {DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--weights",
        default="default",
        help="weights of --model: default, none, or a checkpoint's path (its results are kept under the "
        "hash of its content: an edited checkpoint gets new ones)",
    )
    parser.add_argument(
        "--folder", type=Path, default=None, help="a folder of images to offer beside the sample"
    )
    parser.add_argument(
        "--store",
        type=Path,
        default=Path("runs/serve.sqlite"),
        help="SQLite file of the uploads and results, created if missing (default: runs/serve.sqlite)",
    )
    parser.add_argument(
        "--bench-store", type=Path, default=None, help="a suny bench store whose report to show at /store/"
    )
    parser.add_argument(
        "--concepts", type=Path, default=None, help="filter-to-concept table (as suny explain's)"
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every explanation (default: 0)")
    parser.add_argument(
        "--search", choices=SEARCHES, default="exhaustive", help="SUNY-feature's search (as suny explain's)"
    )
    add_precision_option(parser)
    parser.add_argument(
        "--max-upload-mb", type=positive_int, default=20, help="largest upload in MiB (default: 20)"
    )
    parser.add_argument("--no-browser", action="store_true", help="do not open the page in a browser")
    parser.add_argument(
        "--log-level",
        choices=("critical", "error", "warning", "info", "debug"),
        default="warning",
        help="the server's log (default: warning, quiet; info: every request, uvicorn's access log)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    missing = [name for name in SERVE_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise SunyError(
            f"suny serve needs the serve extra ({', '.join(missing)} missing): pip install 'suny[serve]'"
        )
    import uvicorn

    from suny.serve.app import create_app
    from suny.serve.settings import ServeSettings

    for option, path in (("--folder", args.folder), ("--bench-store", args.bench_store)):
        if path is not None and not (path.is_dir() if option == "--folder" else path.is_file()):
            raise SunyError(f"{option} {path}: no such {'folder' if option == '--folder' else 'file'}")
    settings = ServeSettings(
        model=args.model,
        weights=args.weights,
        folder=args.folder,
        store=args.store,
        bench_store=args.bench_store,
        concepts=args.concepts,
        upload_limit_bytes=args.max_upload_mb * 2**20,
        device=str(resolve_device(args.device)),
        seed=args.seed,
        precision=args.precision,
        search=args.search,
    )
    listener = listening_socket(args.host, args.port)
    app = create_app(settings)
    host, port = listener.getsockname()[:2]
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    print(f"suny serve: {url}", flush=True)
    if not ipaddress.ip_address(host).is_loopback:
        logger.warning("listening on %s: other machines can reach this server", host)
    if not args.no_browser:
        threading.Timer(1.0, webbrowser.open, (url,)).start()
    # A page's event stream lasts as long as its job: a shutdown waits 3 s for them, then ends them.
    uvicorn.Server(uvicorn.Config(app, log_level=args.log_level, timeout_graceful_shutdown=3)).run(
        sockets=[listener]
    )
    return 0


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket listening on ``host``:``port`` (a clear error where that is taken or unknown)."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as err:
        raise SunyError(f"--host {host}: {err.strerror}") from err
    listener = socket.socket(family, kind, protocol)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(address)
    except OSError as err:
        listener.close()
        raise SunyError(f"cannot listen on {host}:{port} ({err.strerror}): give another --port") from err
    listener.listen(128)
    return listener
