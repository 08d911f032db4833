"""The results report (``suny report``): the paper's tables from one or more results stores, in
Markdown, CSV and LaTeX, with the mean deletion/insertion curves, the sanity check per step, a
gallery of maps, and one HTML page.

- :mod:`~suny.report.rows`: the keys, cells and labels of the rows;
- :mod:`~suny.report.aggregate`: the store read and aggregated (:func:`summarise`), with
  :mod:`~suny.report.paired` for SUNY against each method;
- :mod:`~suny.report.tables`: the tables as data; :mod:`~suny.report.formatting` and one renderer
  per format: :mod:`~suny.report.markdown`, :mod:`~suny.report.latex`,
  :mod:`~suny.report.csv_format`, :mod:`~suny.report.html`;
- :mod:`~suny.report.plots`: the figures; :mod:`~suny.report.writer`: the folder.
"""

from suny.report.aggregate import Summary, open_results, summarise
from suny.report.rows import Cell, RowKey
from suny.report.sections import Picture, Section
from suny.report.tables import TABLES, Column, Table, build_table
from suny.report.writer import write_results_report

__all__ = [
    "TABLES",
    "Cell",
    "Column",
    "Picture",
    "RowKey",
    "Section",
    "Summary",
    "Table",
    "build_table",
    "open_results",
    "summarise",
    "write_results_report",
]
