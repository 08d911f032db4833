"""The parts of the report: one section per dataset, with its tables and each model's pictures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from suny.report.tables import Table


class Picture(NamedTuple):
    """A figure written into the report's folder: its file name and its caption."""

    file: str
    caption: str


@dataclass
class Section:
    """The tables of ``dataset`` and the pictures of each of its models (model -> pictures)."""

    dataset: str
    tables: list[Table]
    pictures: dict[str, list[Picture]]
