"""The results store's schema versions and the explicit step from one to the next.

A store's version is SQLite's ``PRAGMA user_version``:

- 0: the stores of suny 0.1.0 and before (they carry no version);
- 1: ``runs.suny_version``, the release that wrote each run (NULL for the runs of older releases).

:class:`~suny.benchmark.store.ResultStore` creates new files at :data:`SCHEMA_VERSION`, refuses to
write to an older one (it names the command that migrates it) and to read a newer one. Migrating is
never a side effect: :func:`migrate` (``suny migrate STORE``) keeps a copy of the file as it was,
then applies every pending :class:`Migration` in one transaction (all or nothing, safe beside
other processes: they wait for the write lock) and logs each.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from suny.errors import SunyError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    """The step to schema ``version`` from the one before it."""

    version: int
    description: str
    statements: tuple[str, ...]


#: Every step, in order: ``MIGRATIONS[i]`` takes a store from version ``i`` to ``i + 1``.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "runs record the suny release that wrote them (runs.suny_version; NULL for older runs)",
        ("ALTER TABLE runs ADD COLUMN suny_version TEXT",),
    ),
)
#: The version this release writes.
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class MigrationReport:
    """What :func:`migrate` did to one file: its version before, the steps applied, the copy kept."""

    path: Path
    before: int
    steps: tuple[Migration, ...]
    backup: Path | None


class StoreVersionError(SunyError):
    """A results store of a schema version that this release cannot use as it is."""


def schema_version(connection: sqlite3.Connection) -> int:
    """The store's schema version (``PRAGMA user_version``)."""
    version: int = connection.execute("PRAGMA user_version").fetchone()[0]
    return version


def has_tables(connection: sqlite3.Connection) -> bool:
    """Whether the file holds any table (a new, empty file has none)."""
    return bool(_tables(connection))


def check_version(path: Path, version: int, writing: bool) -> None:
    """Refuse a store this release cannot use: a newer one at all, an older one for writing.

    Raises:
        StoreVersionError: with what to do about it.
    """
    if version > SCHEMA_VERSION:
        raise StoreVersionError(
            f"{path} was written by a newer suny (store schema {version}; this release knows up to "
            f"{SCHEMA_VERSION}): upgrade suny to use it"
        )
    if writing and version < SCHEMA_VERSION:
        raise StoreVersionError(
            f"{path} was written by an older suny (store schema {version}; this release writes "
            f"{SCHEMA_VERSION}): 'suny migrate {path}' updates it, keeping a copy of the file as it is"
        )


def backup_path(path: Path, version: int) -> Path:
    """Where :func:`migrate` keeps the file as it was: ``NAME.schemaV.sqlite`` beside it."""
    return path.with_name(f"{path.stem}.schema{version}{path.suffix or '.sqlite'}")


def migrate(path: str | Path, backup: bool = True, timeout: float = 600.0) -> MigrationReport:
    """Bring the store at ``path`` to :data:`SCHEMA_VERSION`.

    Args:
        path: an existing results file.
        backup: keep a copy of the file as it was (:func:`backup_path`) before changing it.
        timeout: seconds to wait for another process's write lock.

    Returns:
        What was done (no step when the store is current).

    Raises:
        StoreVersionError: the file is not a results store, or a newer one.
    """
    path = Path(path)
    if not path.is_file():
        raise StoreVersionError(f"{path}: no such results file")
    connection = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        if "results" not in _tables(connection):
            raise StoreVersionError(f"{path} is not a suny results store (it has no results table)")
        version = schema_version(connection)
        check_version(path, version, writing=False)
        if version == SCHEMA_VERSION:
            logger.info("%s is at store schema %d already: nothing to migrate", path, version)
            return MigrationReport(path, version, (), None)
        # The copy first: SQLite cannot copy a file from a connection that holds its write lock.
        copy = _keep_copy(connection, path, version) if backup else None
        connection.execute("BEGIN IMMEDIATE")
        try:
            version = schema_version(connection)  # another process may have migrated it meanwhile
            pending = MIGRATIONS[version:]
            for step in pending:
                for statement in step.statements:
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {step.version}")
                logger.info("migrated %s to store schema %d: %s", path, step.version, step.description)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
    finally:
        connection.close()
    return MigrationReport(path, version, pending, copy)


def _keep_copy(connection: sqlite3.Connection, path: Path, version: int) -> Path:
    """Copy the store as it is to :func:`backup_path` (SQLite's online backup); returns the copy."""
    copy = backup_path(path, version)
    target = sqlite3.connect(copy)
    try:
        connection.backup(target)
    finally:
        target.close()
    logger.info("kept a copy of %s as it was (schema %d) at %s", path, version, copy)
    return copy


def _tables(connection: sqlite3.Connection) -> set[str]:
    return {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
