"""The SQLite results store: unique keys, insert-or-ignore, several writer processes on one file,
and merging the files of several hosts."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from suny.benchmark.merge import merge_stores
from suny.benchmark.records import (
    ClassResult,
    ExplanationKey,
    ExplanationTime,
    RowKey,
    Score,
    curve_points,
    from_png,
    png_bytes,
)
from suny.benchmark.store import ResultStore

KEY = ExplanationKey("set", "img1", "model", "gradcam", 0, "abc")


def test_scores_are_stored_once_with_their_curves(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        assert store.query("PRAGMA journal_mode")[0][0] == "wal"
        run = store.start_run("host", 0, 1, "cpu", ["suny", "bench"], 100.0)
        curve = np.linspace(1, 0, 5, dtype=np.float32)
        scores = [Score(3, "deletion_auc", 0.25, 1.5, {"deletion": curve}), Score(3, "pointing", None, 0.1)]
        store.add_scores(KEY, scores, run)
        store.add_scores(KEY, [Score(3, "deletion_auc", 0.99, 9.0, {"deletion": curve * 0})], run)  # ignored
        rows = store.query("SELECT class, metric, value, seconds, run FROM results ORDER BY metric")
        assert rows == [(3, "deletion_auc", 0.25, 1.5, run), (3, "pointing", None, 0.1, run)]
        (points,) = store.query("SELECT points FROM curves")[0]
        assert np.array_equal(curve_points(points), curve)
        assert store.stored_metrics("set", "img1", "model", 0) == {
            ("gradcam", "abc", "deletion_auc", 3),
            ("gradcam", "abc", "pointing", 3),
        }
        assert store.stored_metrics("set", "img1", "model", 1) == set()
        store.finish_run(run, 1, 1, 0, 120.0)
        assert store.query("SELECT images, rss_start_mib, rss_end_mib FROM runs") == [(1, 100.0, 120.0)]


def test_the_report_reads_typed_rows(tmp_path):
    row = RowKey("set", "model", "gradcam", "abc", 0)
    with ResultStore(tmp_path / "r.sqlite") as store:
        store.add_config("abc", "model", "gradcam", {"pixels": 4})
        run = store.start_run("host", 0, 1, "cpu", ["suny", "bench"], 100.0)
        curves = {3: np.array([1.0, 0.5], np.float32), 1: np.array([1.0, 0.0], np.float32)}
        for target, curve in curves.items():
            store.add_scores(KEY, [Score(target, "deletion_auc", 0.25, 1.5, {"deletion": curve})], run)
        store.add_scores(KEY, [Score(3, "pointing", None, 0.1)], run)
        store.add_explanation(KEY, 3, 2.0, png_bytes(np.eye(2, dtype=np.float32)), run)
        store.add_explanation(KEY, 1, 4.0, None, run)
        store.add_image("set", "img1", "model", png_bytes(np.zeros((2, 2, 3), np.uint8)))
        assert store.settings() == {"abc": {"pixels": 4}}
        assert [(r["run"], r["host"], r["finished"]) for r in store.runs()] == [(run, "host", None)]
        assert list(store.per_class_results()) == [
            ClassResult(row, "img1", 1, "deletion_auc", 0.25, 1.5),
            ClassResult(row, "img1", 3, "deletion_auc", 0.25, 1.5),
            ClassResult(row, "img1", 3, "pointing", None, 0.1),
        ]
        assert list(store.explanation_times()) == [
            ExplanationTime(row, "img1", 1, 4.0),
            ExplanationTime(row, "img1", 3, 2.0),
        ]
        ((image, points),) = store.curves(row, "deletion")
        assert image == "img1" and [p.tolist() for p in points] == [[1.0, 0.0], [1.0, 0.5]]
        assert [(i, p.shape) for i, p in store.example_images("set", "model", 4)] == [("img1", (2, 2, 3))]
        example = store.example_map(row, "img1")
        assert example is not None and example.target == 3 and example.seconds == 2.0
        assert np.array_equal(example.map, np.eye(2))
        assert store.example_map(row, "img2") is None


def test_a_failed_transaction_writes_nothing(tmp_path):
    with ResultStore(tmp_path / "r.sqlite") as store:
        bad = [Score(1, "deletion_auc", 0.5, 1.0), Score(2, "deletion_auc", 0.5, 1.0, {"deletion": ["x"]})]
        with pytest.raises(ValueError):
            store.add_scores(KEY, bad, None)
        assert store.query("SELECT COUNT(*) FROM results") == [(0,)]


def test_png_round_trip():
    values = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    assert np.abs(from_png(png_bytes(values)) - values).max() <= 0.5 / 255 + 1e-7
    picture = np.arange(36, dtype=np.uint8).reshape(3, 4, 3)
    assert np.array_equal(from_png(png_bytes(picture)), picture)


def write_many(path: str, writer: int, count: int, barrier) -> None:
    with ResultStore(path) as store:
        barrier.wait(timeout=120)  # both processes write at the same time
        for i in range(count):
            key = ExplanationKey("set", f"img{i}", "model", f"method{i % 3}", 0, "abc")
            # both writers write the same keys with their own values: the first one stays
            store.add_scores(key, [Score(i, "metric", float(writer), 0.0)], None)
            store.add_explanation(key, i, 0.0, None, None)


def test_several_processes_write_one_file(tmp_path):
    path = str(tmp_path / "r.sqlite")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [context.Process(target=write_many, args=(path, w, 200, barrier)) for w in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]
    with ResultStore(path) as store:
        assert store.query("SELECT COUNT(*), COUNT(DISTINCT image_id) FROM results") == [(200, 200)]
        assert store.query("SELECT COUNT(*) FROM explanations") == [(200,)]
        assert {v for (v,) in store.query("SELECT value FROM results")} <= {0.0, 1.0}


def test_merge_keeps_every_key_once_and_every_run(tmp_path):
    first, second, merged = (tmp_path / f"{n}.sqlite" for n in ("a", "b", "merged"))
    for path, images, value in ((first, ["img1", "img2"], 1.0), (second, ["img2", "img3"], 2.0)):
        with ResultStore(path) as store:
            run = store.start_run(path.stem, 0, 1, f"cpu of {path.stem}", [], 1.0)
            store.add_config("abc", "model", "gradcam", {"step": 224})
            for image in images:
                key = ExplanationKey("set", image, "model", "gradcam", 0, "abc")
                store.add_scores(key, [Score(0, "pointing", value, 0.0)], run)
                store.add_explanation(key, 0, 0.0, None, run)
            store.add_explanation(
                ExplanationKey("set", "unrecorded", "model", "gradcam", 0, "abc"), 0, 0.0, None, None
            )
    merge_stores([first, second], merged)
    merge_stores([second], merged)  # again: nothing new
    with ResultStore(merged) as store:
        values = store.query("SELECT image_id, value FROM results ORDER BY image_id")
        assert values == [("img1", 1.0), ("img2", 1.0), ("img3", 2.0)]
        assert store.query("SELECT COUNT(*) FROM configs") == [(1,)]
        assert [h for (h,) in store.query("SELECT host FROM runs ORDER BY run")] == ["a", "b"]
        # both files numbered their run 1: each copied row points at the run that computed it
        computed_by = [("img1", "a"), ("img2", "a"), ("img3", "b")]
        query = "SELECT image_id, host FROM {} LEFT JOIN runs USING (run) ORDER BY image_id"
        assert store.query(query.format("results")) == computed_by
        assert store.query(query.format("explanations")) == [*computed_by, ("unrecorded", None)]
