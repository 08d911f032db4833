"""``suny``: the command-line entry point. Each sub-command lives in its own module of this package
and contributes ``add_parser(subparsers)``; errors raised on purpose (:class:`SunyError`) are
printed in one line, without a traceback, with exit status 2; Ctrl-C and SIGTERM stop a command
with exit status 130 after it has recorded what it did."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from suny import __version__
from suny.errors import SunyError

#: Modules of this package that define a sub-command, in the order ``--help`` lists them.
COMMANDS = ("explain", "layers", "evaluate", "bench", "report", "migrate", "serve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="suny",
        description=(
            "Explain a CNN image classifier's decision with SUNY: which regions are necessary "
            "(removing them destroys the prediction) and which are sufficient (keeping them alone "
            "preserves it). Also runs the paper's seven baselines and its evaluation suite."
        ),
        epilog="Run 'suny COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"suny {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        try:
            module = importlib.import_module(f"suny.cli.{command}")
        except ModuleNotFoundError as err:
            if err.name != f"suny.cli.{command}":
                raise
            continue  # a command not built yet
        module.add_parser(subparsers)
    return parser


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, ``pkill``, batch schedulers, torchrun stopping its workers) stops a command
    as Ctrl-C does: a KeyboardInterrupt, so that it records what it did before it exits."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def show_library_messages(command: str) -> None:
    """The library logs what a user of a command should read (rows a store moved, ...) under the
    ``suny`` logger at INFO; a command prints those lines to stderr as ``suny COMMAND: ...`` unless
    the program that called it configured logging itself."""
    library = logging.getLogger("suny")
    if library.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"suny {command}: %(message)s"))
    library.addHandler(handler)
    library.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 0
    show_library_messages(args.command)
    try:
        with sigterm_as_interrupt():
            return int(args.run(args) or 0)
    except SunyError as err:
        print(f"suny {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"suny {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
