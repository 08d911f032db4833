"""The report as one HTML page, ``index.html``: the tables and pictures of each dataset, the settings
and the runs
(page, style and helpers: :mod:`suny.visualisation.html`)."""

from __future__ import annotations

from collections.abc import Sequence

from suny.report.appendix import Appendix
from suny.report.formatting import CellStyle, formatted_rows, notes
from suny.report.sections import Section
from suny.report.tables import Table
from suny.visualisation.html import HeaderCell, Markup, escape, figure, page, table

HTML = CellStyle("<b>{}</b>", "<u>{}</u>", " <sub>{}</sub>", " ± ", escape)


def html_table(results: Table) -> str:
    """The title and the table: a column group per model, the metrics' headers under it."""
    header: list[list[str | HeaderCell]] = [
        [HeaderCell("method", rows=2), *(HeaderCell(model, columns=n) for model, n in results.model_spans())],
        [column.metric.header for column in results.columns],
    ]
    body = [[Markup(cell) for cell in row] for row in formatted_rows(results, HTML)]
    return f"<h3>{escape(results.title)}</h3>" + table(header, body, name_columns={0})


def results_page(sections: Sequence[Section], appendices: Sequence[Appendix], common_images: bool) -> str:
    """``index.html``: the notes, each dataset's tables and each model's pictures, then the settings
    and the runs."""
    body = [f"<h1>Results</h1><p>{notes(HTML, common_images)}</p>"]
    for section in sections:
        body += [f"<h2>{escape(section.dataset)}</h2>", *map(html_table, section.tables)]
        for model, pictures in section.pictures.items():
            figures = "".join(figure(picture.file, picture.caption) for picture in pictures)
            body.append(f'<h3>{escape(model)}</h3><div class="pictures">{figures}</div>')
    body += [f"<h2>{escape(a.title)}</h2>" + table([a.header], a.rows) for a in appendices]
    return page("suny results", body)
