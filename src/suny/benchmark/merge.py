"""Several results stores united into one (one file per host of a multi-host run)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from suny.benchmark.migrations import check_version
from suny.benchmark.schema import DATA_TABLES
from suny.benchmark.store import ResultStore


def merge_stores(sources: Sequence[str | Path], target: str | Path) -> None:
    """Copy every row of ``sources`` into ``target`` (created when new).

    Rows already there are kept: the same key computed on two hosts is stored once; runs not there
    yet are added with new ids, and the rows copied point at them. A source of an older schema gives
    the columns it has (the others stay NULL); a newer one is refused.

    Args:
        sources: results files.
        target: the file they are merged into.
    """
    with ResultStore(target) as store:
        db = store.connection
        for source in sources:
            if Path(source).resolve() == store.path.resolve():
                continue
            db.execute("ATTACH DATABASE ? AS source", (str(source),))
            try:
                version = db.execute("PRAGMA source.user_version").fetchone()[0]
                check_version(Path(source), version, writing=False)
                with store.transaction():
                    copy_runs(db)
                    for table in DATA_TABLES:
                        columns = shared_columns(db, table)
                        values = ", ".join("ids.new" if c == "run" else f"row.{c}" for c in columns)
                        db.execute(
                            f"INSERT OR IGNORE INTO main.{table} ({', '.join(columns)}) "
                            f"SELECT {values} FROM source.{table} AS row "
                            + (
                                "LEFT JOIN temp.run_ids AS ids ON ids.old = row.run"
                                if "run" in columns
                                else ""
                            )
                        )
            finally:
                db.execute("DROP TABLE IF EXISTS temp.run_ids")
                db.execute("DETACH DATABASE source")


def copy_runs(db: sqlite3.Connection) -> None:
    """Copy the attached ``source``'s runs into ``main`` with new ids (a run already there, the same
    host, rank, world size and start, is kept), and fill ``temp.run_ids`` (old -> new id) so that
    the copied results and explanations point at the run that computed them."""
    names = ", ".join(column for column in shared_columns(db, "runs") if column != "run")
    db.execute(f"INSERT OR IGNORE INTO main.runs ({names}) SELECT {names} FROM source.runs")
    db.execute(
        "CREATE TEMP TABLE run_ids AS SELECT source.runs.run AS old, main.runs.run AS new "
        "FROM source.runs JOIN main.runs USING (host, rank, world_size, started)"
    )


def shared_columns(db: sqlite3.Connection, table: str) -> list[str]:
    """The columns of ``table`` in ``main`` that the attached ``source`` has too, in main's order."""
    theirs = {row[1] for row in db.execute(f"PRAGMA source.table_info({table})")}
    return [row[1] for row in db.execute(f"PRAGMA main.table_info({table})") if row[1] in theirs]
