"""What the renderers share: the notes above the tables, the numbers of a cell, and a table's
body written in the style of one format (:class:`CellStyle`)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import NamedTuple

from suny.report.rows import Cell
from suny.report.tables import Mark, Table

NOTES = (
    "Each cell: mean over images (an image's score is the mean over its classes), with the number of "
    "images as a subscript. {best}: best, {second}: second best. Lower is better for deletion and for "
    "the sanity check's similarities; seconds are per image, a SUNY-feature variant counting the "
    "explanation it shares with the others in full."
)
COMMON_NOTE = (
    "The rows of a table compare the same images: for each model and metric, those that every row "
    "has (a run stopped early leaves some methods with more; `suny report --all-images` uses them all)."
)
ALL_NOTE = "Each row uses every image it has (`--all-images`): rows with different n are not comparable."


class CellStyle(NamedTuple):
    """How a format writes a cell: ``best`` and ``second`` around a marked value (``{}``), ``images``
    after it (``{}``: the number of images, or wins/images), ``plus_minus`` before a standard error,
    and ``escape``, which makes text literal."""

    best: str
    second: str
    images: str
    plus_minus: str
    escape: Callable[[str], str]

    def marked(self, text: str, mark: Mark | None) -> str:
        return text if mark is None else (self.best if mark == "best" else self.second).format(text)


def notes(style: CellStyle, common_images: bool) -> str:
    """The notes above the tables, their marks written in ``style``."""
    scope = COMMON_NOTE if common_images else ALL_NOTE
    best, second = style.marked("Bold", "best"), style.marked("underlined", "second")
    return NOTES.format(best=best, second=second) + " " + style.escape(scope)


def format_value(value: float, metric: str) -> str:
    """Seconds to 0.01, paired differences signed, other values to 0.001 (images per second from 10
    on to 0.1); a dash for NaN."""
    if not math.isfinite(value):
        return "–"
    if metric.endswith("seconds"):
        return f"{value:.2f}"
    if metric.startswith("paired_"):
        return f"{value:+.3f}"
    return f"{value:.1f}" if metric == "images_per_second" and value >= 10 else f"{value:.3f}"


def cell_text(cell: Cell, metric: str, plus_minus: str) -> str:
    """The value of ``cell`` (:func:`format_value`), then its interval in brackets where it has one,
    else its standard error after ``plus_minus`` where it has one."""
    text = format_value(cell.value, metric)
    if cell.interval is not None:
        low, high = (format_value(bound, metric) for bound in cell.interval)
        text += f" [{low}, {high}]"
    elif cell.error is not None:
        text += plus_minus + format_value(cell.error, metric).lstrip("+")
    return text


def formatted_rows(table: Table, style: CellStyle) -> list[list[str]]:
    """The body of ``table``: per row its label, then per column the value (± its standard error),
    marked, and its count; a dash for an empty cell."""
    marks = table.marks()
    body = []
    for row in table.rows:
        line = [style.escape(row)]
        for index, column in enumerate(table.columns):
            cell = table.cell(row, column)
            if cell is None:
                line.append("–")
                continue
            text = cell_text(cell, column.metric.name, style.plus_minus)
            images = cell.n if cell.wins is None else f"{cell.wins}/{cell.n}"
            line.append(style.marked(text, marks.get((row, index))) + style.images.format(images))
        body.append(line)
    return body


def file_stem(text: str) -> str:
    """``text`` as a file name: runs of other characters than letters, digits and ``_.+-`` as ``_``."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_")
