"""The tables in CSV, one file each: per column the value and ``n`` (a paired table also has the
standard error, the wins and the bootstrap interval's bounds), empty where a cell has no value."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from suny.report.tables import Table


def csv_number(value: float) -> str:
    return "" if not math.isfinite(value) else f"{value:.6g}"


def write_csv(table: Table, path: Path) -> None:
    """Write ``table`` to ``path``; the header names each value
    ``model:metric[:n|:se|:wins|:low|:high]``."""
    suffixes = ("", ":n", ":se", ":wins", ":low", ":high") if table.paired else ("", ":n")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["method", *(f"{c.model}:{c.metric.name}{suffix}" for c in table.columns for suffix in suffixes)]
        )
        for row in table.rows:
            values: list[object] = [row]
            for column in table.columns:
                cell = table.cell(row, column)
                if cell is None:
                    values += [""] * len(suffixes)
                    continue
                values += [csv_number(cell.value), cell.n]
                if table.paired:
                    low, high = cell.interval or (math.nan, math.nan)
                    error = math.nan if cell.error is None else cell.error
                    values += [csv_number(error), "" if cell.wins is None else cell.wins]
                    values += [csv_number(low), csv_number(high)]
            writer.writerow(values)
