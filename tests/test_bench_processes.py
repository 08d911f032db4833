"""``suny bench`` as real processes: SIGKILLed at 20 seeded random moments (some of them inside a
write transaction) and resumed each time, and two processes writing one store (different shards,
then the same shard by mistake). Either way the store ends with exactly the rows of one
uninterrupted run and the report's value tables are the same.

The store's choice for several writers: WAL journal, every write one short ``BEGIN IMMEDIATE``
transaction, a busy timeout of 600 s (a writer waits for the lock instead of failing with
"database is locked"), and ``INSERT OR IGNORE`` on unique keys (a result computed twice is kept
once). Processes are forked from the test (torch imported once) and run ``suny.cli.main.main``.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from suny.benchmark.store import ResultStore
from suny.cli.main import main

CROPS = Path(__file__).parents[2] / "shared" / "data" / "ilsvrc-val-crops"
IMAGES = 20
KILLS = 20
FORK = multiprocessing.get_context("fork")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CROPS.is_dir(), reason="../shared/data is not here"),
]


def bench_arguments(store: Path) -> list[str]:
    return [
        "bench",
        "--data",
        str(CROPS),
        "--models",
        "mobilenet_v3_small",
        "--weights",
        "none",
        "--methods",
        "gradcam,suny-filter",
        "--metrics",
        "pointing,deletion",
        "--limit",
        str(IMAGES),
        "--step",
        "3136",
        "--store",
        str(store),
        "--no-progress",
    ]


#: What the child tells the parent: its first write committed (it is working), or it is paused
#: inside a write transaction, its rows written and not committed.
STARTED, PAUSED = b"s", b"p"


def bench_process(
    arguments: list[str], environment: dict[str, str], pause_at: int | None, signal_fd: int
) -> None:
    """The forked child: ``suny bench``, saying :data:`STARTED` after its first write transaction;
    with ``pause_at``, its ``pause_at``-th transaction says :data:`PAUSED` and waits (to be killed)
    before it commits."""
    torch.set_num_threads(1)
    os.environ.update(environment)
    original = ResultStore.transaction
    count = 0

    @contextmanager
    def watched(store: ResultStore) -> Iterator[sqlite3.Connection]:
        nonlocal count
        with original(store) as db:
            yield db
            count += 1
            if count == pause_at:
                os.write(signal_fd, PAUSED)
                time.sleep(120)
        if count == 1:
            os.write(signal_fd, STARTED)

    ResultStore.transaction = watched  # type: ignore[method-assign]
    os._exit(main(arguments))


def start(store: Path, environment: dict[str, str] | None = None, pause_at: int | None = None):
    read, write = os.pipe()
    process = FORK.Process(
        target=bench_process, args=(bench_arguments(store), environment or {}, pause_at, write)
    )
    process.start()
    os.close(write)
    return process, read


def wait_for(read: int, message: bytes, timeout: float = 300.0) -> bool:
    """Whether the child says ``message`` (before it exits or the timeout)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0 and select.select([read], [], [], left)[0]:
        said = os.read(read, 1)
        if not said:
            return False
        if said == message:
            return True
    return False


def finish(process, read: int, timeout: float = 300.0) -> int:
    process.join(timeout)
    os.close(read)
    assert not process.is_alive(), "suny bench did not finish"
    return int(process.exitcode)


def store_rows(path: Path) -> dict[str, list[tuple]]:
    """Every stored value without times and run ids, sorted (what an uninterrupted run must equal)."""
    columns = {
        "configs": "*",
        "results": "dataset, image_id, class, model, method, metric, seed, config, value",
        "curves": "*",
        "explanations": "dataset, image_id, class, model, method, seed, config, map",
        "images": "*",
    }
    connection = sqlite3.connect(path)
    try:
        return {
            table: sorted(connection.execute(f"SELECT {chosen} FROM {table}"), key=repr)
            for table, chosen in columns.items()
        }
    finally:
        connection.close()


def report_tables(store: Path, out: Path) -> dict[str, str]:
    """The report's value tables (CSV; the cost table holds seconds, which no two runs share)."""
    assert main(["report", str(store), "--out", str(out)]) == 0
    return {path.name: path.read_text() for path in sorted(out.glob("*.csv")) if "cost" not in path.name}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[Path, float]:
    """The reference store, and the seconds its run worked (from its first write to its end)."""
    store = tmp_path_factory.mktemp("uninterrupted") / "results.sqlite"
    process, read = start(store)
    assert wait_for(read, STARTED)
    began = time.perf_counter()
    assert finish(process, read) == 0
    seconds = time.perf_counter() - began
    rows = store_rows(store)
    assert len(rows["results"]) >= IMAGES * 2 * 2 and len(rows["explanations"]) >= IMAGES * 2
    return store, seconds


def test_twenty_kills_at_random_moments_lose_and_duplicate_nothing(uninterrupted, tmp_path):
    """Each kill: at a seeded random moment of the run's work (every 4th inside a write transaction,
    its rows written and not committed), then the next process resumes."""
    reference, seconds = uninterrupted
    store = tmp_path / "results.sqlite"
    rng = np.random.default_rng(20261206)
    killed_in_transaction = killed = progressed = stored = 0
    for plan in range(KILLS):
        in_transaction = plan % 4 == 3
        process, read = start(store, pause_at=int(rng.integers(2, 12)) if in_transaction else None)
        if in_transaction:
            reached = wait_for(read, PAUSED)
        else:
            reached = wait_for(read, STARTED)
            process.join(float(rng.uniform(0.01, 0.12)) * seconds)
        if reached and process.is_alive():
            os.kill(process.pid, signal.SIGKILL)
            killed += 1
            killed_in_transaction += in_transaction
        process.join(60)
        os.close(read)
        rows = len(store_rows(store)["results"])
        progressed += rows > stored
        stored = rows
    # The kills caught the run working: alive, and most after rows of theirs were committed.
    assert killed == KILLS and progressed >= KILLS // 4
    assert stored < len(store_rows(reference)["results"])  # work was left for the last resume
    assert finish(*start(store)) == 0  # the last resume completes
    assert store_rows(store) == store_rows(reference)
    assert report_tables(store, tmp_path / "resumed") == report_tables(reference, tmp_path / "reference")


@pytest.mark.parametrize("ranks", [("0", "1"), ("0", "0")], ids=["two shards", "one shard twice"])
def test_two_writers_on_one_store(uninterrupted, tmp_path, ranks):
    reference, _ = uninterrupted
    store = tmp_path / "results.sqlite"
    processes = [start(store, {"RANK": rank, "WORLD_SIZE": str(len(set(ranks)))}) for rank in ranks]
    assert [finish(*process) for process in processes] == [0, 0]  # no "database is locked"
    assert store_rows(store) == store_rows(reference)  # every row once, the same shard twice included
    assert report_tables(store, tmp_path / "two") == report_tables(reference, tmp_path / "reference")
