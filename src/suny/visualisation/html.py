"""The HTML of both reports (``suny explain``'s folder, ``suny report``'s results page): one stylesheet,
the page around it, escaping, tables and figures. Pages are self-contained: inline style, no script,
pictures by relative path."""

from __future__ import annotations

import html
from collections.abc import Container, Iterable, Sequence
from typing import NamedTuple

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
.pictures { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-end; }
figure { margin: 0; text-align: center; } figure img { max-width: 100%; }
figcaption { font-size: 0.9em; color: #555; }
img.map { width: 240px; height: auto; } img.bivariate { height: 260px; width: auto; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; text-align: center; } td.name { text-align: left; } sub { color: #888; }
.tables { display: flex; flex-wrap: wrap; gap: 2em; }
p.text { font-size: 1.08em; background: #f6f3fa; padding: 0.6em 0.9em; border-left: 4px solid #542788; }
.meta { color: #555; font-size: 0.9em; }
"""


class Markup(str):
    """Text that is HTML already: :func:`escape` leaves it as it is."""


class HeaderCell(NamedTuple):
    """A header cell ``text`` that spans ``columns`` columns and ``rows`` rows."""

    text: str
    columns: int = 1
    rows: int = 1


def escape(value: object) -> Markup:
    """``str(value)`` as HTML text (``<`` becomes ``&lt;``, ...); :class:`Markup` as it is."""
    return value if isinstance(value, Markup) else Markup(html.escape(str(value)))


def figure(source: str, caption: str, css: str | None = None) -> Markup:
    """A picture by relative path with its caption (also its alternative text); ``css``: its class."""
    css_class = "" if css is None else f' class="{escape(css)}"'
    image = f'<img{css_class} src="{escape(source)}" alt="{escape(caption)}">'
    return Markup(f"<figure>{image}<figcaption>{escape(caption)}</figcaption></figure>")


def table(
    header: Sequence[Sequence[str | HeaderCell]],
    body: Iterable[Sequence[object]],
    name_columns: Container[int] = (),
) -> Markup:
    """A ``<table>`` of ``header`` rows and ``body`` rows, every cell escaped (:func:`escape`); the
    cells of ``name_columns`` hold names, aligned left."""
    head = "".join("<tr>" + "".join(map(_header_cell, row)) + "</tr>" for row in header)
    rows = "".join(
        "<tr>"
        + "".join(
            f'<td class="name">{escape(cell)}</td>' if index in name_columns else f"<td>{escape(cell)}</td>"
            for index, cell in enumerate(row)
        )
        + "</tr>"
        for row in body
    )
    return Markup(f"<table><thead>{head}</thead><tbody>{rows}</tbody></table>")


def _header_cell(cell: str | HeaderCell) -> str:
    text, columns, rows = cell if isinstance(cell, HeaderCell) else HeaderCell(cell)
    spans = (f' colspan="{columns}"' if columns > 1 else "") + (f' rowspan="{rows}"' if rows > 1 else "")
    return f"<th{spans}>{escape(text)}</th>"


def page(title: str, body: Iterable[str]) -> str:
    """A whole page titled ``title`` (text) with :data:`STYLE`; ``body``: its parts (HTML), one a line."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
