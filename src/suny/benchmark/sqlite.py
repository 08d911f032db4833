"""The SQLite operations the results store is built on: the switch to WAL beside other processes,
and an ``INSERT`` that names its columns."""

from __future__ import annotations

import sqlite3
import time
from typing import Any


def use_wal(connection: sqlite3.Connection, timeout: float) -> None:
    """Put the file in WAL mode, waiting up to ``timeout`` seconds for the file.

    The switch needs the file to itself and SQLite does not wait for it (no busy handler): while
    another process holds it (creating the same new file) this retries.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def insert(db: sqlite3.Connection, table: str, row: dict[str, Any]) -> sqlite3.Cursor:
    """``INSERT OR IGNORE`` one row given by column name (never by position in the schema)."""
    columns = ", ".join(row)
    values = ", ".join(f":{column}" for column in row)
    return db.execute(f"INSERT OR IGNORE INTO {table} ({columns}) VALUES ({values})", row)
