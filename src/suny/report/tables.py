"""The report's tables as data: which metrics each shows, its rows (methods, with their non-default
options where a store holds several settings of one method) and columns (models), one set of tables
per dataset, and which values are best and second best. Lower is better for deletion and for the
sanity check's similarities (a method passes when its map changes with the weights), higher for
everything else. Formatting is the renderers' (:mod:`suny.report.markdown`, ...)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import groupby
from typing import Literal, NamedTuple

from suny.report.aggregate import Summary
from suny.report.rows import Cell

Better = Literal["lower", "higher"] | None
Mark = Literal["best", "second"]


class Metric(NamedTuple):
    """A metric a table shows, its column header, and whether lower or higher is better (None: neither)."""

    name: str
    header: str
    better: Better = "higher"


class TableSpec(NamedTuple):
    """A table's title and its metrics (one column per model and metric)."""

    title: str
    metrics: list[Metric]


TABLES: dict[str, TableSpec] = {
    "fidelity": TableSpec(
        "Deletion / insertion AUC (Table 1)",
        [
            Metric("deletion_auc", "Del ↓", "lower"),
            Metric("insertion_auc", "Ins ↑"),
            Metric("overall", "Overall ↑"),
        ],
    ),
    "attack": TableSpec(
        "Saliency attack (Table 2): noise through the true map (values >= tau of the min-max map; "
        "tau = 0.5 unless the store's settings say otherwise) and, literally, through the whole map "
        "(tau = 0)",
        [
            Metric("attack_score", "Score ↑"),
            Metric("attack_flip", "Flip rate", None),
            Metric("attack_size", "Size", None),
            Metric("attack_score_literal", "Score τ=0", None),
            Metric("attack_flip_literal", "Flip τ=0", None),
            Metric("attack_size_literal", "Size τ=0", None),
        ],
    ),
    "pointing": TableSpec("Energy-based pointing game (Table 3)", [Metric("pointing", "Proportion ↑")]),
    "sanity": TableSpec(
        "Sanity check: similarity to the original map after the last randomisation step",
        [Metric("sanity_spearman", "Spearman ↓", "lower"), Metric("sanity_ssim", "SSIM ↓", "lower")],
    ),
    "paired": TableSpec(
        "SUNY against each method, paired over the same images: mean difference ± standard error "
        "(positive: SUNY better), and the images where SUNY is better / all; for the attack score (a "
        "ratio over the images) the difference with its 95% paired bootstrap interval",
        [
            Metric("paired_deletion_auc", "Δ Del", None),
            Metric("paired_insertion_auc", "Δ Ins", None),
            Metric("paired_overall", "Δ Overall", None),
            Metric("paired_pointing", "Δ Pointing", None),
            Metric("paired_attack_score", "Δ Attack score", None),
            Metric("paired_attack_flip", "Δ Flip", None),
            Metric("paired_attack_size", "Δ Size", None),
        ],
    ),
    "cost": TableSpec(
        "Cost: seconds per image",
        [
            Metric("explain_seconds", "Explain (s)", None),
            Metric("metric_seconds", "Metrics (s)", None),
            Metric("total_seconds", "Total (s)", None),
            Metric("images_per_second", "Images/s", None),
        ],
    ),
}


class Column(NamedTuple):
    """One column of a table: ``metric`` of ``model``."""

    model: str
    metric: Metric


class CellKey(NamedTuple):
    """What finds a cell of a table: its row label, model and metric."""

    row: str
    model: str
    metric: str


@dataclass
class Table:
    """Table ``name`` of ``dataset``: its rows (labels), columns and cells."""

    name: str
    title: str
    dataset: str
    columns: list[Column]
    rows: list[str]
    cells: dict[CellKey, Cell]

    def cell(self, row: str, column: Column) -> Cell | None:
        return self.cells.get(CellKey(row, column.model, column.metric.name))

    @property
    def paired(self) -> bool:
        """Whether its cells are paired differences (with standard errors and wins, or intervals)."""
        return any(cell.paired for cell in self.cells.values())

    def model_spans(self) -> list[tuple[str, int]]:
        """(model, how many columns it has), in the order of the columns."""
        return [(model, len(list(columns))) for model, columns in groupby(self.columns, lambda c: c.model)]

    def marks(self) -> dict[tuple[str, int], Mark]:
        """(row, column index) -> "best" or "second" (ties share a mark)."""
        marks: dict[tuple[str, int], Mark] = {}
        for index, column in enumerate(self.columns):
            if column.metric.better is None:
                continue
            values = {
                row: c.value for row in self.rows if (c := self.cell(row, column)) and math.isfinite(c.value)
            }
            ranked = sorted(set(values.values()), reverse=column.metric.better == "higher")
            for row, value in values.items():
                if value == ranked[0]:
                    marks[row, index] = "best"
                elif len(ranked) > 1 and value == ranked[1]:
                    marks[row, index] = "second"
        return marks


def build_table(summary: Summary, dataset: str, name: str) -> Table | None:
    """Table ``name`` of ``dataset``, or None when no row has any of its values."""
    title, metrics = TABLES[name]
    columns = [Column(model, metric) for model in summary.models(dataset) for metric in metrics]
    cells = {
        CellKey(summary.labels[key], key.model, metric): cell
        for key in summary.keys(dataset)
        for metric, cell in summary.cells[key].items()
    }

    def filled(row: str, column: Column) -> bool:
        return CellKey(row, column.model, column.metric.name) in cells

    rows = [row for row in summary.rows(dataset) if any(filled(row, column) for column in columns)]
    used = [column for column in columns if any(filled(row, column) for row in rows)]
    return Table(name, title, dataset, used, rows, cells) if rows else None
