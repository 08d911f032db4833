"""``suny report``: the report of one or more results stores written into a folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from suny.report.aggregate import open_results, summarise
from suny.report.appendix import appendices
from suny.report.csv_format import write_csv
from suny.report.formatting import file_stem
from suny.report.html import results_page
from suny.report.latex import latex_table
from suny.report.markdown import markdown_page
from suny.report.plots import model_pictures
from suny.report.sections import Section
from suny.report.tables import TABLES, build_table


def write_results_report(
    paths: Sequence[str | Path],
    out: str | Path,
    gallery_images: int = 4,
    common_images: bool = True,
    all_configurations: bool = False,
) -> list[str]:
    """Write the report of the stores ``paths`` into ``out``.

    The folder gets ``tables.md`` (every table, the settings of each row and the runs),
    ``index.html`` (the same with the figures), and per dataset and table ``{dataset}-{table}.csv``
    and ``.tex``, and per dataset and model the figures of :mod:`suny.report.plots` as PNG.

    Args:
        paths: The results files; several (one per host of a run) are merged first.
        out: The folder, created if needed; files of the same names are replaced.
        gallery_images: How many images each model's gallery of maps shows.
        common_images: Aggregate each metric of a dataset and model over the images that every row
            has, so that the rows of a table compare the same images; False: each row over all it has.
        all_configurations: Keep the rows that a later release's defaults replaced (by default they
            are left out and listed after the tables).

    Returns:
        The names of the files written, ``tables.md`` and ``index.html`` first.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    sections: list[Section] = []
    with open_results(paths) as store:
        summary = summarise(store, common_images, all_configurations)
        for dataset in summary.datasets():
            tables = [table for name in TABLES if (table := build_table(summary, dataset, name)) is not None]
            for table in tables:
                stem = file_stem(f"{dataset}-{table.name}")
                write_csv(table, out / f"{stem}.csv")
                (out / f"{stem}.tex").write_text(latex_table(table), encoding="utf-8")
                written += [f"{stem}.csv", f"{stem}.tex"]
            pictures = {
                model: model_pictures(store, summary, dataset, model, out, gallery_images)
                for model in summary.models(dataset)
            }
            written += [picture.file for model in pictures.values() for picture in model]
            sections.append(Section(dataset, tables, pictures))
    tables_after = appendices(summary)
    (out / "tables.md").write_text(markdown_page(sections, tables_after, common_images), encoding="utf-8")
    (out / "index.html").write_text(results_page(sections, tables_after, common_images), encoding="utf-8")
    return ["tables.md", "index.html", *written]
