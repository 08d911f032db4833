"""The runs table: one row per process that wrote to the store."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

RUN_HEADER = [
    "run",
    "host",
    "rank",
    "device",
    "started",
    "wall (s)",
    "images",
    "computed",
    "skipped",
    "RSS MiB",
]


def run_rows(runs: Sequence[dict[str, Any]]) -> list[list[str]]:
    """One row per run (:meth:`~suny.benchmark.store.ResultStore.runs`): its wall time, images, and
    resident memory at the start → the end."""
    rows = []
    for run in runs:
        wall = run["finished"] - run["started"] if run["finished"] else None
        memory = f"{run['rss_start_mib']:.0f} → {run['rss_end_mib']:.0f}" if run["rss_end_mib"] else "–"
        rows.append(
            [
                str(run["run"]),
                run["host"],
                f"{run['rank']}/{run['world_size']}",
                run["device"],
                time.strftime("%Y-%m-%d %H:%M", time.localtime(run["started"])),
                "unfinished" if wall is None else f"{wall:.0f}",
                *("–" if run[key] is None else str(run[key]) for key in ("images", "computed", "skipped")),
                memory,
            ]
        )
    return rows
