"""The results store: one SQLite file that runs write as they go and ``suny report`` reads.

Its tables are those of :mod:`suny.benchmark.schema`. Every key is UNIQUE and every write is
``INSERT OR IGNORE`` in a short transaction, so the same value is never stored twice, a re-run
skips what is there, and several processes (ranks of one machine) can write to the same file: WAL
journal, and a busy timeout for the moments another process holds the write lock. Several hosts
write one file each and :func:`~suny.benchmark.merge.merge_stores` unites them (so does
``suny report A.sqlite B.sqlite``). The report reads it through the methods under "reading",
which return the typed rows of :mod:`suny.benchmark.records`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from suny import __version__
from suny.benchmark.migrations import (
    SCHEMA_VERSION,
    StoreVersionError,
    check_version,
    has_tables,
    schema_version,
)
from suny.benchmark.records import (
    ClassResult,
    ExampleMap,
    ExplanationKey,
    ExplanationTime,
    RowKey,
    Score,
    curve_points,
    from_png,
)
from suny.benchmark.schema import SCHEMA
from suny.benchmark.sqlite import insert, use_wal

#: The columns of a :class:`RowKey`, and the condition that selects one.
KEY_COLUMNS = ", ".join(RowKey._fields)
KEY_MATCH = " AND ".join(f"{column} = ?" for column in RowKey._fields)
#: The tables whose rows belong to a configuration (``config`` column), and the columns of their keys.
CONFIG_TABLES = {
    "results": "dataset, image_id, class, model, method, metric, seed",
    "curves": "dataset, image_id, class, model, method, curve, seed",
    "explanations": "dataset, image_id, class, model, method, seed",
}


class ResultStore:
    """An open results file (created with its tables when new). Use as a context manager."""

    def __init__(self, path: str | Path, timeout: float = 600.0, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly:
            if not self.path.is_file():
                raise FileNotFoundError(f"{self.path}: no such results file")
            uri = f"file:{self.path.resolve()}?mode=ro"
            self.connection = sqlite3.connect(uri, uri=True, timeout=timeout)
            if has_tables(self.connection):
                self._check_version(writing=False)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: every transaction is explicit (BEGIN IMMEDIATE ... COMMIT) and short.
        self.connection = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        self.connection.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        existing = has_tables(self.connection)
        if existing:  # before anything is changed, the journal mode included
            self._check_version(writing=True)
        use_wal(self.connection, timeout)
        self.connection.execute("PRAGMA synchronous = NORMAL")
        if not existing:  # a new file; the script is idempotent should another process create it meanwhile
            # executescript would commit an open transaction first, so the script carries its own.
            self.connection.executescript(
                f"BEGIN IMMEDIATE;{SCHEMA}PRAGMA user_version = {SCHEMA_VERSION};COMMIT;"
            )

    def _check_version(self, writing: bool) -> None:
        """:func:`~suny.benchmark.migrations.check_version`, closing the file when it refuses."""
        try:
            check_version(self.path, schema_version(self.connection), writing)
        except StoreVersionError:
            self.connection.close()
            raise

    def close(self) -> None:
        """Close the file (the store is also a context manager)."""
        self.connection.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed at the end or rolled back on an error.

        The write lock is taken at once (waiting up to the timeout for another process).

        Yields:
            The connection to write through.
        """
        connection = self.connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    # ------------------------------------------------------------------------------ writing
    def add_config(self, config: str, model: str, method: str, settings: dict[str, Any]) -> None:
        """Record a configuration (kept as it is when the hash is there already).

        Args:
            config: the configuration's hash.
            model: the model's label.
            method: the method's registry name.
            settings: everything the hash covers, and what the report needs (JSON).
        """
        with self.transaction() as db:
            insert(
                db,
                "configs",
                {
                    "config": config,
                    "model": model,
                    "method": method,
                    "settings": json.dumps(settings, sort_keys=True),
                },
            )

    def move_rows(self, old: str, new: str) -> tuple[int, int]:
        """File the results, curves and explanations of configuration ``old`` under ``new``.

        What ``new`` has already is dropped from ``old``, and ``old`` with it: the caller moves them
        because both configurations give the same results.

        Returns:
            The number of results moved, and of results dropped as ``new``'s already.
        """
        moved = dropped = 0
        with self.transaction() as db:
            for table, key in CONFIG_TABLES.items():
                configs = {"new": new, "old": old}
                count = db.execute(f"UPDATE OR IGNORE {table} SET config = :new WHERE config = :old", configs)
                left = db.execute(
                    f"DELETE FROM {table} WHERE config = :old AND ({key}) IN "
                    f"(SELECT {key} FROM {table} WHERE config = :new)",
                    configs,
                )
                if table == "results":
                    moved, dropped = count.rowcount, left.rowcount
            db.execute("DELETE FROM configs WHERE config = :old", {"old": old})
        return moved, dropped

    def start_run(
        self, host: str, rank: int, world_size: int, device: str, command: Sequence[str], rss: float
    ) -> int:
        """Record a process starting; returns its run id."""
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO runs (host, rank, world_size, device, command, started, rss_start_mib, "
                "suny_version) VALUES (:host, :rank, :world_size, :device, :command, :started, :rss, "
                ":suny_version)",
                {
                    "host": host,
                    "rank": rank,
                    "world_size": world_size,
                    "device": device,
                    "command": json.dumps(list(command)),
                    "started": time.time(),
                    "rss": rss,
                    "suny_version": __version__,
                },
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def finish_run(
        self, run: int, images: int, computed: int, skipped: int, rss: float, completed: bool = True
    ) -> None:
        """Record a process ending.

        Args:
            run: the id :meth:`start_run` returned.
            images: images of its shard that it went through.
            computed: maps it computed.
            skipped: images it found complete.
            rss: its resident memory at the end, in MiB.
            completed: whether it went through its whole shard; an interrupted run keeps no end
                time (the report shows it unfinished) but its totals.
        """
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET finished = ?, images = ?, computed = ?, skipped = ?, rss_end_mib = ? "
                "WHERE run = ?",
                (time.time() if completed else None, images, computed, skipped, rss, run),
            )

    def add_scores(self, key: ExplanationKey, scores: Iterable[Score], run: int | None) -> None:
        """Store the scores of one cell (and their curves) in one transaction."""
        now = time.time()
        with self.transaction() as db:
            for score in scores:
                cell = key.columns() | {"class": score.target}
                row = {"metric": score.metric, "value": score.value, "seconds": score.seconds}
                insert(db, "results", cell | row | {"run": run, "created": now})
                for name, points in (score.curves or {}).items():
                    blob = np.ascontiguousarray(points, dtype=np.float32).tobytes()
                    insert(db, "curves", cell | {"curve": name, "points": blob})

    def add_explanation(
        self, key: ExplanationKey, target: int, seconds: float, picture: bytes | None, run: int | None
    ) -> None:
        """Record the seconds one explanation took (and, for the gallery, the map itself).

        Args:
            key: the cell.
            target: the explained class.
            seconds: the explanation's seconds.
            picture: the map as PNG bytes (:func:`~suny.benchmark.records.png_bytes`), or None.
            run: the run that computed it.
        """
        with self.transaction() as db:
            row = {"seconds": seconds, "map": picture, "run": run, "created": time.time()}
            insert(db, "explanations", key.columns() | {"class": target} | row)

    def add_image(self, dataset: str, image_id: str, model: str, picture: bytes) -> None:
        """Record an image as the model saw it, for the gallery (PNG bytes)."""
        with self.transaction() as db:
            row = {"dataset": dataset, "image_id": image_id, "model": model, "picture": picture}
            insert(db, "images", row)

    # ------------------------------------------------------------------------------ reading
    def stored_metrics(
        self, dataset: str, image_id: str, model: str, seed: int
    ) -> set[tuple[str, str, str, int]]:
        """(method, config, metric, class) of every result stored for one image and model."""
        rows = self.connection.execute(
            "SELECT method, config, metric, class FROM results "
            "WHERE dataset = ? AND image_id = ? AND model = ? AND seed = ?",
            (dataset, image_id, model, seed),
        )
        return set(rows)

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of a read-only ``sql`` query.

        For ad-hoc questions; the report reads through the methods above.
        """
        rows: list[tuple[Any, ...]] = self.connection.execute(sql, parameters).fetchall()
        return rows

    def settings(self) -> dict[str, dict[str, Any]]:
        """The settings of every configuration.

        Returns:
            Configuration hash -> the settings :meth:`add_config` stored.
        """
        return {
            config: json.loads(text) for config, text in self.query("SELECT config, settings FROM configs")
        }

    def first_results(self) -> dict[RowKey, float]:
        """When each row (dataset, model, method, configuration, seed) got its first result.

        Returns:
            Row -> the earliest ``created`` time of its results (seconds since the epoch).
        """
        rows = self.query(f"SELECT {KEY_COLUMNS}, MIN(created) FROM results GROUP BY {KEY_COLUMNS}")
        return {RowKey(*row[:5]): float(row[5]) for row in rows}

    def runs(self) -> list[dict[str, Any]]:
        """The processes that wrote to the store.

        Returns:
            One row of the ``runs`` table (column -> value) per process, in the order they started.
        """
        cursor = self.connection.execute("SELECT * FROM runs ORDER BY started")
        return [dict(zip([column[0] for column in cursor.description], row)) for row in cursor]

    def per_class_results(self) -> Iterator[ClassResult]:
        """Every stored scalar, one at a time.

        Returns:
            The rows of the ``results`` table, ordered by row key, metric, image and class.
        """
        rows = self.connection.execute(
            f"SELECT {KEY_COLUMNS}, image_id, class, metric, value, seconds FROM results "
            f"ORDER BY {KEY_COLUMNS}, metric, image_id, class"
        )
        return (ClassResult(RowKey(*row[:5]), *row[5:]) for row in rows)

    def explanation_times(self) -> Iterator[ExplanationTime]:
        """The seconds of every stored explanation, one at a time.

        Returns:
            The rows of the ``explanations`` table without their maps, by row key, image and class.
        """
        rows = self.connection.execute(
            f"SELECT {KEY_COLUMNS}, image_id, class, seconds FROM explanations "
            f"ORDER BY {KEY_COLUMNS}, image_id, class"
        )
        return (ExplanationTime(RowKey(*row[:5]), *row[5:]) for row in rows)

    def explanation_devices(self) -> Iterator[tuple[RowKey, str, str | None]]:
        """The device each stored explanation was computed on.

        Returns:
            (row, image id, the ``device`` of the run that computed it, None where none is recorded),
            once per row, image and device, by row key and image.
        """
        rows = self.connection.execute(
            f"SELECT DISTINCT {KEY_COLUMNS}, image_id, device FROM explanations LEFT JOIN runs USING (run) "
            f"ORDER BY {KEY_COLUMNS}, image_id"
        )
        return ((RowKey(*row[:5]), row[5], row[6]) for row in rows)

    def curves(self, key: RowKey, name: str) -> Iterator[tuple[str, list[np.ndarray]]]:
        """The curves ``name`` of one row, one image at a time.

        Args:
            key: The row.
            name: ``deletion``, ``insertion``, ``sanity_spearman`` or ``sanity_ssim``.

        Returns:
            (image id, the curves of its classes), in the order of the image ids.
        """
        rows = self.connection.execute(
            f"SELECT image_id, points FROM curves WHERE {KEY_MATCH} AND curve = ? ORDER BY image_id, class",
            (*key, name),
        )
        for image_id, items in groupby(rows, key=itemgetter(0)):
            yield image_id, [curve_points(points) for _, points in items]

    def example_images(self, dataset: str, model: str, limit: int) -> list[tuple[str, np.ndarray]]:
        """The first images stored for the report's gallery, as ``model`` saw them.

        Args:
            dataset: The dataset they are from.
            model: The model they were prepared for.
            limit: How many at most.

        Returns:
            (image id, (H, W, 3) uint8 picture), in the order of the image ids.
        """
        rows = self.query(
            "SELECT image_id, picture FROM images WHERE dataset = ? AND model = ? ORDER BY image_id LIMIT ?",
            (dataset, model, limit),
        )
        return [(image_id, from_png(picture)) for image_id, picture in rows]

    def example_map(self, key: RowKey, image_id: str) -> ExampleMap | None:
        """The stored map of one image in one row: that of its first class with one.

        Args:
            key: The row.
            image_id: The image.

        Returns:
            The map with its class and seconds, or None where no map of the image is stored.
        """
        rows = self.query(
            f"SELECT class, map, seconds FROM explanations WHERE {KEY_MATCH} AND image_id = ? "
            "AND map IS NOT NULL ORDER BY class LIMIT 1",
            (*key, image_id),
        )
        return next((ExampleMap(target, from_png(data), seconds) for target, data, seconds in rows), None)
