"""Several results stores united into one (one file per host of a multi-host run)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from suny.benchmark.store import DATA_TABLES, ResultStore


def merge_stores(sources: Sequence[str | Path], target: str | Path) -> None:
    """Copy every row of ``sources`` into ``target`` (created when new).

    Rows already there are kept: the same key computed on two hosts is stored once; runs not there
    yet are added with new ids.

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
                with store.transaction():
                    for table in DATA_TABLES:
                        db.execute(f"INSERT OR IGNORE INTO main.{table} SELECT * FROM source.{table}")
                    columns = [row[1] for row in db.execute("PRAGMA main.table_info(runs)")][1:]
                    names = ", ".join(columns)
                    db.execute(f"INSERT OR IGNORE INTO main.runs ({names}) SELECT {names} FROM source.runs")
            finally:
                db.execute("DETACH DATABASE source")
