"""The server's SQLite file: uploaded images, which session uploaded them, and computed results.

A result is stored under its key, the hash of its configuration (:func:`result_key`: the image's
content hash, model, weights, layer, method, target, seed, search and precision), so that the same
question is answered from the file, also after a restart. Every ``INSERT`` names its columns, the
file is in WAL mode (readers never wait for the worker that writes) and carries its schema version
(``PRAGMA user_version``, :data:`SCHEMA_VERSION`). Sessions are stored as hashes of their cookies.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from suny.benchmark.migrations import has_tables, schema_version
from suny.benchmark.sqlite import insert, use_wal
from suny.errors import SunyError

#: What the id of an image or a result looks like (a SHA-256 in hex).
CONTENT_ID = re.compile(r"[0-9a-f]{64}")
#: The version of the tables below.
SCHEMA_VERSION = 1
SCHEMA = (
    """CREATE TABLE images (
        image_id TEXT PRIMARY KEY, width INTEGER NOT NULL, height INTEGER NOT NULL, png BLOB NOT NULL)""",
    """CREATE TABLE uploads (
        session TEXT NOT NULL, image_id TEXT NOT NULL, name TEXT NOT NULL, uploaded REAL NOT NULL,
        PRIMARY KEY (session, image_id))""",
    """CREATE TABLE results (
        result_id TEXT PRIMARY KEY, image_id TEXT NOT NULL, configuration TEXT NOT NULL,
        record TEXT NOT NULL, summary TEXT NOT NULL, arrays BLOB NOT NULL, created REAL NOT NULL)""",
)
TABLES = {"images", "uploads", "results"}
#: Results kept decoded in memory (switching between recent results reads no file).
RECENT_RESULTS = 16


def result_key(configuration: Mapping[str, Any]) -> str:
    """The result id of a configuration: the SHA-256 of its canonical JSON."""
    return hashlib.sha256(json.dumps(configuration, sort_keys=True).encode()).hexdigest()


def session_key(session: str) -> str:
    """What the file keeps of a session cookie: its hash."""
    return hashlib.sha256(session.encode()).hexdigest()


@dataclass(frozen=True)
class StoredImage:
    """An image as the server keeps it: RGB PNG bytes, its size, and its content hash as id."""

    image_id: str
    png: bytes
    width: int
    height: int


@dataclass(frozen=True)
class StoredResult:
    """A computed result: the JSON the page reads, ``summary.json`` and the arrays (an NPZ file)."""

    result_id: str
    image_id: str
    record: dict[str, Any]
    summary: dict[str, Any]
    npz: bytes
    #: Pictures drawn from it by name, kept while the result is (:mod:`suny.serve.results`).
    pictures: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays of :attr:`npz` by name."""
        with np.load(io.BytesIO(self.npz), allow_pickle=False) as arrays:
            return {name: arrays[name] for name in arrays.files}


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """``arrays`` as a compressed NPZ file."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


class ServeStore:
    """The SQLite file at ``path`` (created with its folder where missing)."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self._recent: OrderedDict[str, StoredResult] = OrderedDict()
        self._recent_lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            use_wal(db, timeout)
            self._check_schema(db)

    def _check_schema(self, db: sqlite3.Connection) -> None:
        version = schema_version(db)
        if version == 0 and not has_tables(db):
            for statement in SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            return
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version != SCHEMA_VERSION or not tables >= TABLES:
            raise SunyError(
                f"{self.path} is not a suny serve store of schema {SCHEMA_VERSION} (it has schema "
                f"{version}, tables {', '.join(sorted(tables)) or 'none'}); give another --store"
            )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection of its own (every thread), committed at the end of the block."""
        connection = sqlite3.connect(self.path, timeout=self.timeout)
        try:
            with connection:
                yield connection
        finally:
            connection.close()

    # ------------------------------------------------------------------------------- images
    def add_upload(self, session: str, image: StoredImage, name: str) -> None:
        """Keep ``image`` (once, whoever uploads it) as an upload of ``session`` called ``name``."""
        with self._connect() as db:
            insert(
                db,
                "images",
                {"image_id": image.image_id, "width": image.width, "height": image.height, "png": image.png},
            )
            upload = {"session": session_key(session), "image_id": image.image_id, "name": name}
            insert(db, "uploads", {**upload, "uploaded": time.time()})

    def uploads(self, session: str) -> list[tuple[str, str]]:
        """(image id, name) of every upload of ``session``, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT image_id, name FROM uploads WHERE session = ? ORDER BY uploaded, rowid",
                (session_key(session),),
            ).fetchall()
        return [(str(image_id), str(name)) for image_id, name in rows]

    def has_upload(self, session: str, image_id: str) -> bool:
        """Whether ``session`` uploaded the image ``image_id``."""
        with self._connect() as db:
            row = db.execute(
                "SELECT 1 FROM uploads WHERE session = ? AND image_id = ?", (session_key(session), image_id)
            ).fetchone()
        return row is not None

    def uploaded_image(self, session: str, image_id: str) -> StoredImage | None:
        """The image ``image_id`` if ``session`` uploaded it."""
        with self._connect() as db:
            row = db.execute(
                "SELECT images.width, images.height, images.png FROM images JOIN uploads USING (image_id) "
                "WHERE uploads.session = ? AND images.image_id = ?",
                (session_key(session), image_id),
            ).fetchone()
        return None if row is None else StoredImage(image_id, bytes(row[2]), int(row[0]), int(row[1]))

    # ------------------------------------------------------------------------------ results
    def has_result(self, result_id: str) -> bool:
        with self._connect() as db:
            return (
                db.execute("SELECT 1 FROM results WHERE result_id = ?", (result_id,)).fetchone() is not None
            )

    def add_result(self, result: StoredResult, configuration: Mapping[str, Any]) -> None:
        """Keep ``result`` under its configuration (its id is :func:`result_key` of it)."""
        row = {
            "result_id": result.result_id,
            "image_id": result.image_id,
            "configuration": json.dumps(configuration, sort_keys=True),
            "record": json.dumps(result.record, allow_nan=False),
            "summary": json.dumps(result.summary, allow_nan=False),
            "arrays": result.npz,
            "created": time.time(),
        }
        with self._connect() as db:
            insert(db, "results", row)

    def result(self, result_id: str) -> StoredResult | None:
        """The result ``result_id`` (the recent ones from memory)."""
        with self._recent_lock:
            if result_id in self._recent:
                self._recent.move_to_end(result_id)
                return self._recent[result_id]
        with self._connect() as db:
            row = db.execute(
                "SELECT image_id, record, summary, arrays FROM results WHERE result_id = ?", (result_id,)
            ).fetchone()
        if row is None:
            return None
        result = StoredResult(result_id, str(row[0]), json.loads(row[1]), json.loads(row[2]), bytes(row[3]))
        with self._recent_lock:
            self._recent[result_id] = result
            while len(self._recent) > RECENT_RESULTS:
                self._recent.popitem(last=False)
        return result
