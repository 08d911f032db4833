"""The tables in LaTeX (booktabs), one ``tabular`` a file."""

from __future__ import annotations

import re

from suny.report.formatting import CellStyle, formatted_rows
from suny.report.tables import Table


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped and ↓, ↑, Δ in math mode."""
    return (
        re.sub(r"([&%$#_{}])", r"\\\1", text)
        .replace("↓", "$\\downarrow$")
        .replace("↑", "$\\uparrow$")
        .replace("Δ", "$\\Delta$")
    )


LATEX = CellStyle("\\textbf{{{}}}", "\\underline{{{}}}", " {{\\scriptsize({})}}", " $\\pm$ ", latex_escape)


def latex_table(table: Table) -> str:
    """A ``tabular``: one column group per model, the metrics' headers under it, a row per method."""
    top = " & ".join(
        f"\\multicolumn{{{n}}}{{c}}{{{latex_escape(model)}}}" for model, n in table.model_spans()
    )
    second = " & ".join(latex_escape(column.metric.header) for column in table.columns)
    lines = [
        "% " + f"{table.title} — {table.dataset}; bold: best, underlined: second best, (n): images",
        f"\\begin{{tabular}}{{l{'r' * len(table.columns)}}}",
        "\\toprule",
        f" & {top} \\\\",
        f"Method & {second} \\\\",
        "\\midrule",
        *(" & ".join(row) + " \\\\" for row in formatted_rows(table, LATEX)),
        "\\bottomrule",
        "\\end{tabular}",
    ]
    return "\n".join(lines) + "\n"
