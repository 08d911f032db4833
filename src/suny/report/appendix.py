"""The tables after the results: the verdict (where SUNY is better or worse than each method by at
least two standard errors, more on few images), the settings of every row (what each method ran with,
its defaults resolved), the devices each row's cost was measured on, and the runs (one row per
process that wrote to the store)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from suny.report.aggregate import Summary
from suny.report.formatting import cell_text
from suny.report.paired import DECISIVE_ERRORS, FEW_IMAGES, decided
from suny.report.tables import TABLES


class Appendix(NamedTuple):
    """A table after the results: its title, header and rows of text."""

    title: str
    header: list[str]
    rows: list[list[str]]


_DECISIVE = f"{DECISIVE_ERRORS:g} SE; t₀.₉₇₅ SE on ≤ {FEW_IMAGES} images"
VERDICT_HEADER = [
    "dataset",
    "model",
    "metric",
    f"SUNY better (≥ {_DECISIVE})",
    f"SUNY worse (≥ {_DECISIVE})",
    "within",
]
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


DEVICES_TITLE = (
    "Cost measured on: the device of the runs that computed each row's explanations (images); "
    "runs before the CPU was described recorded only cpu or cuda"
)
DEVICES_HEADER = ["dataset", "model", "method", "devices"]

SUPERSEDED_TITLE = (
    "Left out: rows a later release's defaults replaced (`suny report --all-configurations` keeps them)"
)
SUPERSEDED_HEADER = ["dataset", "model", "method", "left out", "replaced by", "configurations"]


def appendices(summary: Summary) -> list[Appendix]:
    """The verdict, the settings, the devices of the cost, the rows left out as superseded (if any)
    and the runs."""
    return [
        Appendix(
            "Verdict: SUNY against each method, paired (mean difference ± standard error, positive: SUNY "
            "better; the images SUNY wins / all; the attack score's difference with its 95% paired "
            "bootstrap interval over the images, decided where the interval excludes 0)",
            VERDICT_HEADER,
            verdict_rows(summary),
        ),
        Appendix("Settings", SETTINGS_HEADER, settings_rows(summary)),
        Appendix(DEVICES_TITLE, DEVICES_HEADER, device_rows(summary)),
        *(
            [Appendix(SUPERSEDED_TITLE, SUPERSEDED_HEADER, superseded_rows_text(summary))]
            if summary.superseded
            else []
        ),
        Appendix("Runs", RUN_HEADER, run_rows(summary.runs)),
    ]


def verdict_rows(summary: Summary) -> list[list[str]]:
    """Per dataset, model and metric of the paired table: the methods the reference beats by at
    least :func:`~suny.report.paired.decisive_errors` standard errors of the paired difference
    (two, or Student's quantile on few images; for a ratio, where its bootstrap interval excludes
    0: :func:`~suny.report.paired.decided`), those it loses to by as much, and the rest, each by
    the size of its difference."""
    rows = []
    for dataset in summary.datasets():
        for model in summary.models(dataset):
            for metric in TABLES["paired"].metrics:
                cells = [
                    (summary.labels[key], cell)
                    for key in summary.keys(dataset, model)
                    if (cell := summary.cells[key].get(metric.name)) is not None
                ]
                if not cells:
                    continue
                groups: dict[int, list[str]] = {1: [], -1: [], 0: []}
                for label, cell in sorted(cells, key=lambda item: -abs(item[1].value)):
                    difference = cell_text(cell, metric.name, " ± ")
                    count = f"{cell.n} images" if cell.wins is None else f"{cell.wins}/{cell.n}"
                    groups[decided(cell)].append(f"{label} {difference} ({count})")
                rows.append(
                    [dataset, model, metric.header, *("; ".join(groups[g]) or "–" for g in (1, -1, 0))]
                )
    return rows


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


def device_rows(summary: Summary) -> list[list[str]]:
    """One row per table row with explanations: each device its cost was measured on, with how many
    images, the most first (the cost cells of a row measured on several machines mix their speeds)."""
    return [
        [
            key.dataset,
            key.model,
            summary.labels[key],
            "; ".join(
                f"{device} ({count} image{'s' * (count != 1)})" for device, count in devices.most_common()
            ),
        ]
        for dataset in summary.datasets()
        for key in summary.keys(dataset)
        if (devices := summary.devices.get(key))
    ]


def superseded_rows_text(summary: Summary) -> list[list[str]]:
    """One row per superseded row: the method settings in which it differs from the row that
    replaced it, its value there and the new one, and both configuration hashes."""
    rows = []
    for old, new in sorted(summary.superseded.items()):
        before, after = (summary.settings[key.config]["method_settings"] for key in (old, new))
        differing = sorted(name for name in before | after if before.get(name) != after.get(name))
        rows.append(
            [
                old.dataset,
                old.model,
                summary.labels.get(new, new.method),
                ", ".join(f"{name}={before.get(name)}" for name in differing),
                ", ".join(f"{name}={after.get(name)}" for name in differing),
                f"{old.config} → {new.config}",
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
