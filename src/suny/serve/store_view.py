"""A ``suny bench`` store shown live: the report ``suny report`` writes, rewritten into a folder of
its own when the store has changed (its size or time, or its write-ahead log's), at most every
:data:`REFRESH_SECONDS`, and served from that folder only (:func:`file_in`)."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

from suny.report import write_results_report

#: Seconds at least between two rewrites of the report (a running ``suny bench`` writes often).
REFRESH_SECONDS = 10.0


def file_in(root: Path, relative: str) -> Path | None:
    """The file ``relative`` names inside ``root``, or None: no absolute path, no ``..``, no
    backslash, and nothing that leads outside ``root`` once links are followed."""
    parts = relative.split("/")
    if not relative or "\\" in relative or "\x00" in relative or any(p in ("", ".", "..") for p in parts):
        return None
    root = root.resolve()
    path = (root / relative).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


class StoreView:
    """The report of the store at ``store``, in a temporary folder (removed by :meth:`close`)."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.folder = Path(tempfile.mkdtemp(prefix="suny-serve-report-"))
        self._stamp: tuple[tuple[int, int], ...] | None = None
        self._written = -REFRESH_SECONDS
        self._lock = threading.Lock()

    def file(self, relative: str) -> Path | None:
        """The report's file ``relative`` (``index.html`` for the folder), written first if stale."""
        self._refresh()
        return file_in(self.folder, relative or "index.html")

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def _refresh(self) -> None:
        with self._lock:
            files = [self.store, self.store.with_name(self.store.name + "-wal")]
            stamp = tuple(
                (info.st_mtime_ns, info.st_size) for info in (f.stat() for f in files if f.exists())
            )
            if stamp == self._stamp or time.monotonic() - self._written < REFRESH_SECONDS:
                return
            write_results_report([self.store], self.folder)
            self._stamp, self._written = stamp, time.monotonic()
