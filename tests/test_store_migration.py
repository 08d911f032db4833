"""Store schema versions and the explicit migration step, from a store the previous release wrote.

``tests/data/store-schema0.sqlite`` was written by suny 0.1.0 at commit ef0069a (schema 0, no
version), with ``suny bench --data ../shared/data/ilsvrc-val-crops --models efficientnet-lite0
--methods gradcam,suny-filter --metrics pointing,deletion --limit 2 --step 3136``; keep it as it is.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from suny import __version__
from suny.benchmark import migrations
from suny.benchmark.merge import merge_stores
from suny.benchmark.migrations import SCHEMA_VERSION, Migration, StoreVersionError, backup_path, migrate
from suny.benchmark.records import ExplanationKey, Score
from suny.benchmark.store import ResultStore
from suny.cli.main import main
from suny.report.aggregate import summarise

PREVIOUS = Path(__file__).parent / "data" / "store-schema0.sqlite"
DATA_TABLES = ("configs", "results", "curves", "explanations", "images")


@pytest.fixture
def previous(tmp_path) -> Path:
    path = tmp_path / "results.sqlite"
    shutil.copyfile(PREVIOUS, path)
    return path


def contents(path: Path) -> dict[str, list[tuple]]:
    """Every row of every data table, and the runs without the new column, sorted."""
    connection = sqlite3.connect(path)
    try:
        rows = {
            table: sorted(connection.execute(f"SELECT * FROM {table}"), key=repr) for table in DATA_TABLES
        }
        columns = "run, host, rank, world_size, device, command, started, finished, images, computed, skipped"
        rows["runs"] = sorted(connection.execute(f"SELECT {columns} FROM runs"))
    finally:
        connection.close()
    return rows


def version_of(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        return int(connection.execute("PRAGMA user_version").fetchone()[0])
    finally:
        connection.close()


def test_the_previous_release_store_is_schema_0_with_rows():
    assert version_of(PREVIOUS) == 0
    assert len(contents(PREVIOUS)["results"]) == 8


def test_a_new_store_is_current_and_records_the_release_of_each_run(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        run = store.start_run("host", 0, 1, "cpu", ["suny"], 1.0)
        assert store.query("SELECT suny_version FROM runs WHERE run = ?", (run,)) == [(__version__,)]
    assert version_of(tmp_path / "r.sqlite") == SCHEMA_VERSION == 1


def test_an_older_store_is_not_written_to_and_names_the_migration(previous):
    before = previous.read_bytes()
    with pytest.raises(StoreVersionError, match=rf"schema 0.*'suny migrate {previous}'"):
        ResultStore(previous)
    assert previous.read_bytes() == before


def test_an_older_store_is_reported_as_it_is(previous, tmp_path):
    before = previous.read_bytes()
    with ResultStore(previous, readonly=True) as store:
        summary = summarise(store)
    assert {key.method for key in summary.cells} == {"gradcam", "suny-filter"}
    assert main(["report", str(previous), "--out", str(tmp_path / "report")]) == 0
    tables = (tmp_path / "report" / "tables.md").read_text()
    assert "Grad-CAM" in tables or "gradcam" in tables
    assert previous.read_bytes() == before


def test_migrate_keeps_every_row_and_a_copy_and_is_idempotent(previous, caplog):
    caplog.set_level(logging.INFO, logger="suny")
    before = contents(previous)
    report = migrate(previous)
    assert (report.before, [step.version for step in report.steps]) == (0, [1])
    assert report.backup == backup_path(previous, 0) == previous.with_name("results.schema0.sqlite")
    assert version_of(report.backup) == 0 and contents(report.backup) == before
    assert version_of(previous) == SCHEMA_VERSION
    assert contents(previous) == before
    with ResultStore(previous) as store:
        assert store.query("SELECT suny_version FROM runs") == [(None,)]  # unknown for the old run
    assert any(
        "migrated" in record.getMessage() and "schema 1" in record.getMessage() for record in caplog.records
    )
    again = migrate(previous)
    assert again.steps == () and again.backup is None


def test_a_failing_step_leaves_the_store_as_it_was(previous, monkeypatch):
    broken = (*migrations.MIGRATIONS, Migration(2, "broken", ("ALTER TABLE nosuchtable ADD COLUMN x",)))
    monkeypatch.setattr(migrations, "MIGRATIONS", broken)
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", 2)
    before = previous.read_bytes()
    with pytest.raises(sqlite3.OperationalError, match="nosuchtable"):
        migrate(previous, backup=False)
    assert version_of(previous) == 0
    assert previous.read_bytes() == before
    assert "suny_version" not in {
        row[1] for row in sqlite3.connect(previous).execute("PRAGMA table_info(runs)")
    }


def test_newer_stores_and_other_files_are_refused(tmp_path, previous):
    connection = sqlite3.connect(previous)
    connection.execute("PRAGMA user_version = 99")
    connection.close()
    for open_store in (lambda: ResultStore(previous), lambda: ResultStore(previous, readonly=True)):
        with pytest.raises(StoreVersionError, match=r"newer suny.*schema 99"):
            open_store()
    with pytest.raises(StoreVersionError, match="newer suny"):
        migrate(previous)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(StoreVersionError, match="not a suny results store"):
        migrate(other)
    with pytest.raises(StoreVersionError, match="no such results file"):
        migrate(tmp_path / "missing.sqlite")


def test_an_older_source_merges_into_a_current_store(tmp_path, previous):
    target = tmp_path / "merged.sqlite"
    merge_stores([previous], target)
    assert version_of(target) == SCHEMA_VERSION
    merged, source = contents(target), contents(previous)
    assert {table: len(rows) for table, rows in merged.items()} == {t: len(r) for t, r in source.items()}
    with ResultStore(target) as store:
        assert store.query("SELECT suny_version FROM runs") == [(None,)]


def test_inserts_name_their_columns(tmp_path):
    """A store whose tables hold their columns in another order (as a later schema may) is written
    and read correctly: no INSERT relies on the column order."""
    path = tmp_path / "shuffled.sqlite"
    connection = sqlite3.connect(path)
    connection.executescript(
        """
        CREATE TABLE configs (settings TEXT, method TEXT, model TEXT, config TEXT PRIMARY KEY);
        CREATE TABLE runs (suny_version TEXT, rss_end_mib REAL, rss_start_mib REAL, skipped INTEGER,
            computed INTEGER, images INTEGER, finished REAL, started REAL, command TEXT, device TEXT,
            world_size INTEGER, rank INTEGER, host TEXT, run INTEGER PRIMARY KEY AUTOINCREMENT);
        CREATE TABLE results (created REAL, run INTEGER, seconds REAL, value REAL, config TEXT, seed INTEGER,
            metric TEXT, method TEXT, model TEXT, class INTEGER, image_id TEXT, dataset TEXT,
            UNIQUE (dataset, image_id, class, model, method, metric, seed, config));
        CREATE TABLE curves (points BLOB, config TEXT, seed INTEGER, curve TEXT, method TEXT, model TEXT,
            class INTEGER, image_id TEXT, dataset TEXT,
            UNIQUE (dataset, image_id, class, model, method, curve, seed, config));
        CREATE TABLE explanations (created REAL, run INTEGER, map BLOB, seconds REAL, config TEXT,
            seed INTEGER, method TEXT, model TEXT, class INTEGER, image_id TEXT, dataset TEXT,
            UNIQUE (dataset, image_id, class, model, method, seed, config));
        CREATE TABLE images (picture BLOB, model TEXT, image_id TEXT, dataset TEXT,
            UNIQUE (dataset, image_id, model));
        """
    )
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    connection.close()
    key = ExplanationKey("set", "img", "model", "gradcam", 0, "abc")
    with ResultStore(path) as store:
        store.add_config("abc", "model", "gradcam", {"pixels": 4})
        run = store.start_run("host", 0, 1, "cpu", ["suny"], 1.0)
        curve = np.array([1.0, 0.5], np.float32)
        store.add_scores(key, [Score(3, "deletion_auc", 0.25, 1.5, {"deletion": curve})], run)
        store.add_explanation(key, 3, 2.0, None, run)
        store.add_image("set", "img", "model", b"png")
        assert store.settings() == {"abc": {"pixels": 4}}
        assert store.query("SELECT dataset, image_id, class, metric, value, seconds, run FROM results") == [
            ("set", "img", 3, "deletion_auc", 0.25, 1.5, run)
        ]
        assert store.query("SELECT curve, config, seed FROM curves") == [("deletion", "abc", 0)]
        assert store.query("SELECT class, seconds, map, run FROM explanations") == [(3, 2.0, None, run)]
        assert store.query("SELECT dataset, image_id, model, picture FROM images") == [
            ("set", "img", "model", b"png")
        ]
        assert store.query("SELECT host, command, suny_version FROM runs") == [
            ("host", json.dumps(["suny"]), __version__)
        ]


def test_suny_migrate_command(previous, capsys):
    assert main(["migrate", str(previous), "--json"]) == 0
    done = json.loads(capsys.readouterr().out)[str(previous)]
    assert done["from"] == 0 and done["to"] == SCHEMA_VERSION and len(done["steps"]) == 1
    assert Path(done["backup"]).is_file()
    assert version_of(previous) == SCHEMA_VERSION


@pytest.mark.slow
def test_a_migrated_store_resumes_without_computing_again(previous, capsys):
    """The previous release's grid, resumed by this release after ``suny migrate``: every result is
    there under the same configuration, so nothing is computed."""
    crops = Path(__file__).parents[2] / "shared" / "data" / "ilsvrc-val-crops"
    if not crops.is_dir():
        pytest.skip("../shared/data is not here")
    assert main(["migrate", str(previous)]) == 0
    before = contents(previous)
    command = json.loads(before["runs"][0][5])
    arguments = command[1:]
    arguments[arguments.index("--store") + 1] = str(previous)
    arguments[arguments.index("--data") + 1] = str(crops)
    assert main(arguments) == 0
    assert "(0 explanations computed, 2 images already done" in capsys.readouterr().out
    assert {table: rows for table, rows in contents(previous).items() if table != "runs"} == {
        table: rows for table, rows in before.items() if table != "runs"
    }
