"""The tables after the results: the settings of every row (what each method ran with, its defaults
resolved) and the runs (one row per process that wrote to the store)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from suny.report.aggregate import Summary


class Appendix(NamedTuple):
    """A table after the results: its title, header and rows of text."""

    title: str
    header: list[str]
    rows: list[list[str]]


SETTINGS_HEADER = ["dataset", "model", "method", "layer", "curve step", "precision", "attack τ", "settings"]
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


def appendices(summary: Summary) -> list[Appendix]:
    """The settings table and the runs table of ``summary``."""
    return [
        Appendix("Settings", SETTINGS_HEADER, settings_rows(summary)),
        Appendix("Runs", RUN_HEADER, run_rows(summary.runs)),
    ]


def settings_rows(summary: Summary) -> list[list[str]]:
    """One row per table row (by its label): the model's layer (used by the methods that explain
    through one), the curve step, the precision, tau, and the method's own settings as the run used
    them (a store written before they were recorded shows a dash)."""
    rows = []
    for dataset in summary.datasets():
        for key in summary.keys(dataset):
            settings = summary.settings.get(key.config, {})
            own = settings.get("method_settings")
            rows.append(
                [
                    dataset,
                    key.model,
                    summary.labels[key],
                    *(
                        str(settings.get(name, "–"))
                        for name in ("layer", "step", "precision", "attack_threshold")
                    ),
                    "–" if own is None else ", ".join(f"{k}={v}" for k, v in sorted(own.items())) or "(none)",
                ]
            )
    return rows


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
