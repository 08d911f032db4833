"""The report in Markdown: ``tables.md``, every table, the settings and the runs."""

from __future__ import annotations

from collections.abc import Sequence

from suny.report.appendix import Appendix
from suny.report.formatting import CellStyle, formatted_rows, notes
from suny.report.sections import Section
from suny.report.tables import Table

MARKDOWN = CellStyle("**{}**", "<u>{}</u>", " <sub>{}</sub>", " ± ", lambda text: text.replace("|", "\\|"))


def markdown_lines(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table: the header, the rule under it, and the rows."""
    return ["| " + " | ".join(cells) + " |" for cells in [header, ["---"] * len(header), *rows]]


def markdown_table(table: Table) -> str:
    header = ["method", *(f"{column.model}<br>{column.metric.header}" for column in table.columns)]
    lines = [
        f"### {table.title} — {table.dataset}",
        "",
        *markdown_lines(header, formatted_rows(table, MARKDOWN)),
    ]
    return "\n".join(lines) + "\n"


def markdown_page(sections: Sequence[Section], appendices: Sequence[Appendix], common_images: bool) -> str:
    """``tables.md``: the notes, the tables of each dataset, then the settings and the runs."""
    parts = [
        part
        for section in sections
        for part in (f"## {section.dataset}\n", *map(markdown_table, section.tables))
    ]
    parts += [
        f"## {appendix.title}\n\n" + "\n".join(markdown_lines(appendix.header, appendix.rows)) + "\n"
        for appendix in appendices
    ]
    return f"# Results\n\n{notes(MARKDOWN, common_images)}\n\n" + "\n".join(parts)
