"""``suny bench`` as users run it: a real process killed with SIGKILL, or stopped with SIGTERM, and
started again, and two processes with RANK / WORLD_SIZE set (as torchrun starts them) sharing one
store; all must give the table of an uninterrupted one-process run, each value computed once."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from suny.cli.main import main
from suny.evaluation import metric_scores

IMAGES = ["ILSVRC2012_val_00000537", "ILSVRC2012_val_00000557", "ILSVRC2012_val_00002049"]  # sorted
#: MobileNet-V3-small with random weights (seeded: the same in every process), Grad-CAM, 3 points per
#: deletion/insertion curve: well under a second per image. Its probabilities are nearly uniform, but
#: its maps, and so the attack sizes and pointing proportions, differ from image to image.
ARGS = [
    *("--models", "mobilenet_v3_small", "--weights", "none", "--methods", "gradcam"),
    *("--step", "25088", "--no-progress"),
]
METRICS = ["--metrics", "deletion,insertion,attack,pointing"]
#: Results per class of a complete cell: one per score of each metric.
SCORES_PER_CLASS = sum(len(metric_scores(m)) for m in METRICS[1].split(","))
KEY = "dataset, image_id, class, model, method, metric, seed, config"


@pytest.fixture(scope="module")
def dataset(shared_data, tmp_path_factory) -> Path:
    """Three ILSVRC val crops in the Kaggle layout."""
    source = shared_data / "ilsvrc-val-crops"
    root = tmp_path_factory.mktemp("ilsvrc") / "crops"
    root.mkdir()
    shutil.copy(source / "LOC_synset_mapping.txt", root)
    lines = (source / "LOC_val_solution.csv").read_text().splitlines()
    rows = [line for line in lines[1:] if line.split(",")[0] in IMAGES]
    (root / "LOC_val_solution.csv").write_text("\n".join([lines[0], *rows]) + "\n")
    for image in IMAGES:
        shutil.copy(source / f"{image}.JPEG", root)
    return root


@pytest.fixture(scope="module")
def reference(dataset, tmp_path_factory) -> list[tuple]:
    """The table of an uninterrupted one-process run."""
    store = tmp_path_factory.mktemp("reference") / "r.sqlite"
    assert main(["bench", "--data", str(dataset), "--store", str(store), *ARGS, *METRICS]) == 0
    return results(store)


def results(store: Path) -> list[tuple]:
    with sqlite3.connect(store) as db:
        return db.execute(f"SELECT {KEY}, value FROM results ORDER BY {KEY}").fetchall()


def same_table(first: list[tuple], second: list[tuple]) -> bool:
    """Same keys; same values up to float noise (thread counts may differ between processes)."""
    return len(first) == len(second) and all(
        a[:-1] == b[:-1] and (a[-1] == b[-1] or abs(a[-1] - b[-1]) < 1e-5) for a, b in zip(first, second)
    )


def bench_command(dataset: Path, store: Path) -> list[str]:
    script = Path(sys.executable).with_name("suny")
    start = [str(script)] if script.is_file() else [sys.executable, "-m", "suny.cli.main"]
    return [*start, "bench", "--data", str(dataset), "--store", str(store), *ARGS, *METRICS]


def count(store: Path, sql: str) -> int:
    try:
        with sqlite3.connect(store, timeout=5) as db:
            return db.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def stop_after_the_first_result(dataset: Path, store: Path, signal_number: int) -> tuple[int, str]:
    """Start ``suny bench``, send it ``signal_number`` once its first result is stored; returns its
    exit status and standard error."""
    process = subprocess.Popen(
        bench_command(dataset, store), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while count(store, "SELECT COUNT(*) FROM results") == 0 and process.poll() is None:
        assert time.monotonic() < deadline, "no result within 2 minutes"
        time.sleep(0.1)
    process.send_signal(signal_number)
    _, errors = process.communicate(timeout=120)
    return process.returncode, errors


def complete_cells(store: Path, cell: str) -> int:
    """How many ``cell`` groups (``image_id`` or ``image_id, method``) have every metric stored."""
    return count(
        store,
        f"SELECT COUNT(*) FROM (SELECT image_id FROM results GROUP BY {cell} "
        f"HAVING COUNT(*) = {SCORES_PER_CLASS} * COUNT(DISTINCT class))",
    )


def resume_gives_the_reference(dataset: Path, store: Path, reference: list[tuple]) -> None:
    finished = subprocess.run(bench_command(dataset, store), capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert same_table(results(store), reference)


def test_killed_run_resumes_and_computes_nothing_twice(dataset, reference, tmp_path):
    store = tmp_path / "r.sqlite"
    status, errors = stop_after_the_first_result(dataset, store, signal.SIGKILL)
    assert status == -signal.SIGKILL, errors
    partial = results(store)
    assert 0 < len(partial) < len(reference)
    assert count(store, "SELECT COUNT(*) FROM runs WHERE finished IS NULL") == 1  # killed mid-run
    complete = complete_cells(store, "image_id, method")  # stored whole before the kill

    resume_gives_the_reference(dataset, store, reference)
    assert count(store, f"SELECT COUNT(*) FROM (SELECT DISTINCT {KEY} FROM results)") == len(reference)
    # the results of the killed run are still its own; the second run explained only the rest
    assert count(store, "SELECT COUNT(*) FROM results WHERE run = 1") == len(partial)
    assert count(store, "SELECT computed FROM runs WHERE run = 2") == len(IMAGES) - complete


def test_sigterm_stops_a_run_that_records_what_it_did(dataset, reference, tmp_path):
    store = tmp_path / "r.sqlite"
    status, errors = stop_after_the_first_result(dataset, store, signal.SIGTERM)  # as pkill, torchrun
    assert status == 130 and "suny bench: interrupted" in errors, errors
    assert 0 < len(results(store)) < len(reference)
    complete = complete_cells(store, "image_id")
    with sqlite3.connect(store) as db:
        (run,) = db.execute("SELECT finished, images, computed, rss_end_mib IS NOT NULL FROM runs").fetchall()
    assert run == (None, complete, complete, 1)  # not finished, but its totals are recorded
    resume_gives_the_reference(dataset, store, reference)


def test_two_ranks_share_one_store_and_unite_to_the_one_process_run(dataset, reference, tmp_path):
    store = tmp_path / "r.sqlite"
    processes = []
    for rank in (0, 1):
        environment = os.environ | {
            "RANK": str(rank),
            "WORLD_SIZE": "2",
            "LOCAL_RANK": str(rank),
            "OMP_NUM_THREADS": "1",
        }
        command = bench_command(dataset, store)
        processes.append(
            subprocess.Popen(
                command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    outputs = [process.communicate(timeout=300) for process in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert "rank 0/2" in outputs[0][0] and "rank 1/2" in outputs[1][0]
    assert same_table(results(store), reference)
    with sqlite3.connect(store) as db:
        runs = db.execute("SELECT rank, world_size, images, device FROM runs ORDER BY rank").fetchall()
        shards = db.execute(
            "SELECT DISTINCT r.rank, image_id FROM results JOIN runs AS r USING (run)"
        ).fetchall()
    assert [run[:3] for run in runs] == [(0, 2, 2), (1, 2, 1)]
    # each rank describes its CPU, with the one thread OMP_NUM_THREADS gave it
    assert all(device.startswith("CPU ") and "], 1 thread (torch" in device for *_, device in runs)
    assert sorted(shards) == [(0, IMAGES[0]), (0, IMAGES[2]), (1, IMAGES[1])]
