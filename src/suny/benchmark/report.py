"""The paper's tables from one or more results stores, in Markdown, CSV and LaTeX, with the mean
deletion/insertion curves, the sanity check per step, a gallery of maps, and one HTML page.

Aggregation (SPEC section 4, paper A.5): each image's score is the mean over its target classes
(classes without a value, such as a class without boxes in the pointing game, are left out), and a
table cell is the mean over its images, with ``n`` the number of images. Overall AUC is insertion
minus deletion per class. The attack score is the mean flip over the mean attack size
(:func:`~suny.metrics.attack.attack_score`). Rows are methods (with their non-default options,
when a store holds several settings of one method), columns are models, one set of tables per
dataset. The best value of a column is bold and the second best underlined: lower is better for
deletion and for the sanity check's similarities (a method passes when its map changes with the
weights), higher for everything else.
"""

from __future__ import annotations

import csv
import html
import json
import math
import re
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from suny.benchmark.store import ResultStore, curve_points, from_png, merge_stores
from suny.metrics.attack import attack_score
from suny.metrics.deletion_insertion import changed_counts, plot_curves

Better = Literal["lower", "higher"] | None
#: (dataset, model, method, config, seed): one row of one column group.
Group = tuple[str, str, str, str, int]


@dataclass(frozen=True)
class Column:
    """One column of a table: ``metric`` of ``model``."""

    model: str
    metric: str
    header: str
    better: Better = "higher"


@dataclass
class Cell:
    """A mean over ``n`` images; a paired difference also has its standard ``error`` and the
    number of images it ``wins``."""

    value: float
    n: int
    error: float | None = None
    wins: int | None = None


#: Table name -> (title, [(metric, header, better)]).
TABLES: dict[str, tuple[str, list[tuple[str, str, Better]]]] = {
    "fidelity": (
        "Deletion / insertion AUC (Table 1)",
        [
            ("deletion_auc", "Del ↓", "lower"),
            ("insertion_auc", "Ins ↑", "higher"),
            ("overall", "Overall ↑", "higher"),
        ],
    ),
    "attack": (
        "Saliency attack (Table 2)",
        [
            ("attack_score", "Score ↑", "higher"),
            ("attack_flip", "Flip rate", None),
            ("attack_size", "Size", None),
        ],
    ),
    "pointing": ("Energy-based pointing game (Table 3)", [("pointing", "Proportion ↑", "higher")]),
    "sanity": (
        "Sanity check: similarity to the original map after the last randomisation step",
        [("sanity_spearman", "Spearman ↓", "lower"), ("sanity_ssim", "SSIM ↓", "lower")],
    ),
    "paired": (
        "SUNY against each method, paired over the same images: mean difference ± standard error "
        "(positive: SUNY better), and the images where SUNY is better / all",
        [
            ("paired_deletion_auc", "Δ Del", None),
            ("paired_insertion_auc", "Δ Ins", None),
            ("paired_overall", "Δ Overall", None),
            ("paired_pointing", "Δ Pointing", None),
            ("paired_attack_flip", "Δ Flip", None),
        ],
    ),
    "cost": (
        "Cost: seconds per image",
        [
            ("explain_seconds", "Explain (s)", None),
            ("metric_seconds", "Metrics (s)", None),
            ("total_seconds", "Total (s)", None),
            ("images_per_second", "Images/s", None),
        ],
    ),
}

#: The row every other row is compared with in the paired table, and the direction of its metrics.
REFERENCE_METHOD = "suny"
TIE = 1e-9
PAIRED_METRICS: dict[str, Better] = {
    "deletion_auc": "lower",
    "insertion_auc": "higher",
    "overall": "higher",
    "pointing": "higher",
    "attack_flip": "higher",
}

NOTES = (
    "Each cell: mean over images (an image's score is the mean over its classes), with the number of "
    "images as a subscript. {b}: best, {u}: second best. Lower is better for deletion and for the sanity "
    "check's similarities; seconds are per image, a SUNY-feature variant counting the explanation it "
    "shares with the others in full."
)
COMMON_NOTE = (
    "The rows of a table compare the same images: for each model and metric, those that every row "
    "has (a run stopped early leaves some methods with more; `suny report --all-images` uses them all)."
)
ALL_NOTE = "Each row uses every image it has (`--all-images`): rows with different n are not comparable."
NOTES_HTML = NOTES.format(b="<b>Bold</b>", u="<u>underlined</u>")
NOTES = NOTES.format(b="**Bold**", u="<u>underlined</u>")

PER_IMAGE_SQL = """
SELECT dataset, model, method, config, seed, metric, image_id, AVG(value) FROM results
WHERE value IS NOT NULL GROUP BY dataset, model, method, config, seed, metric, image_id
UNION ALL
SELECT dataset, model, method, config, seed, 'overall', image_id, AVG(i.value - d.value)
FROM results AS i JOIN results AS d USING (dataset, image_id, class, model, method, seed, config)
WHERE i.metric = 'insertion_auc' AND d.metric = 'deletion_auc'
  AND i.value IS NOT NULL AND d.value IS NOT NULL
GROUP BY dataset, model, method, config, seed, image_id
UNION ALL
SELECT dataset, model, method, config, seed, 'explain_seconds', image_id, SUM(seconds) FROM explanations
GROUP BY dataset, model, method, config, seed, image_id
UNION ALL
SELECT dataset, model, method, config, seed, 'metric_seconds', image_id, SUM(seconds) FROM results
WHERE metric NOT LIKE 'sanity%' GROUP BY dataset, model, method, config, seed, image_id
ORDER BY 1, 2, 3, 4, 5, 6, 7
"""


@dataclass
class Summary:
    """Everything the report shows, aggregated from a store."""

    cells: dict[Group, dict[str, Cell]] = field(default_factory=dict)
    labels: dict[Group, str] = field(default_factory=dict)
    settings: dict[str, dict] = field(default_factory=dict)
    runs: list[dict] = field(default_factory=list)
    #: (dataset, model, metric) -> the images its cells use, when restricted to common images.
    images: dict[tuple[str, str, str], set[str]] | None = None

    def images_of(self, group: Group, metric: str) -> set[str] | None:
        """The images ``metric`` of ``group`` is aggregated over (None: all it has)."""
        return None if self.images is None else self.images.get((group[0], group[1], metric), set())

    def datasets(self) -> list[str]:
        return sorted({group[0] for group in self.cells})

    def models(self, dataset: str) -> list[str]:
        return sorted({group[1] for group in self.cells if group[0] == dataset})

    def groups(self, dataset: str) -> list[Group]:
        return sorted(group for group in self.cells if group[0] == dataset)

    def rows(self, dataset: str) -> list[str]:
        """Row labels of a dataset, in the order of the first appearance of their methods."""
        return list(dict.fromkeys(self.labels[group] for group in self.groups(dataset)))

    def table(self, dataset: str, name: str) -> Table | None:
        """Table ``name`` of ``dataset``, or None when no row has any of its values."""
        title, metrics = TABLES[name]
        models = self.models(dataset)
        columns = [
            Column(model, metric, header, better) for model in models for metric, header, better in metrics
        ]
        cells = {
            (self.labels[group], group[1], metric): cell
            for group in self.groups(dataset)
            for metric, cell in self.cells[group].items()
        }
        rows = [row for row in self.rows(dataset) if any((row, c.model, c.metric) in cells for c in columns)]
        used = [c for c in columns if any((row, c.model, c.metric) in cells for row in rows)]
        return Table(name, title, dataset, used, rows, cells) if rows else None


@dataclass
class Table:
    name: str
    title: str
    dataset: str
    columns: list[Column]
    rows: list[str]
    cells: dict[tuple[str, str, str], Cell]

    def cell(self, row: str, column: Column) -> Cell | None:
        return self.cells.get((row, column.model, column.metric))

    def marks(self) -> dict[tuple[str, int], str]:
        """(row, column index) -> "best" or "second" (ties share a mark)."""
        marks = {}
        for index, column in enumerate(self.columns):
            if column.better is None:
                continue
            values = {
                row: c.value for row in self.rows if (c := self.cell(row, column)) and math.isfinite(c.value)
            }
            ranked = sorted(set(values.values()), reverse=column.better == "higher")
            for row, value in values.items():
                if value == ranked[0]:
                    marks[row, index] = "best"
                elif len(ranked) > 1 and value == ranked[1]:
                    marks[row, index] = "second"
        return marks

    def formatted(self, style: Literal["markdown", "latex", "html"]) -> list[list[str]]:
        """The body rows with marked values and ``n`` per cell, in ``style``."""
        wrap = {
            "markdown": {"best": "**{}**", "second": "<u>{}</u>"},
            "latex": {"best": "\\textbf{{{}}}", "second": "\\underline{{{}}}"},
            "html": {"best": "<b>{}</b>", "second": "<u>{}</u>"},
        }[style]
        count = {"markdown": " <sub>{}</sub>", "latex": " {{\\scriptsize({})}}", "html": " <sub>{}</sub>"}[
            style
        ]
        plus_minus = " $\\pm$ " if style == "latex" else " ± "
        marks = self.marks()
        body = []
        for row in self.rows:
            line = [_escape(row, style)]
            for index, column in enumerate(self.columns):
                cell = self.cell(row, column)
                if cell is None:
                    line.append("–")
                    continue
                text = _format(cell.value, column.metric)
                if cell.error is not None:
                    text += plus_minus + _format(cell.error, column.metric).lstrip("+")
                mark = marks.get((row, index))
                size = cell.n if cell.wins is None else f"{cell.wins}/{cell.n}"
                line.append((wrap[mark].format(text) if mark else text) + count.format(size))
            body.append(line)
        return body

    def markdown(self) -> str:
        header = ["method", *(f"{c.model}<br>{c.header}" for c in self.columns)]
        lines = [f"### {self.title} — {self.dataset}", "", _md_row(header), _md_row(["---"] * len(header))]
        lines += [_md_row(row) for row in self.formatted("markdown")]
        return "\n".join(lines) + "\n"

    def latex(self) -> str:
        spans = [(model, len(list(items))) for model, items in groupby(self.columns, key=lambda c: c.model)]
        top = " & ".join(f"\\multicolumn{{{n}}}{{c}}{{{_escape(m, 'latex')}}}" for m, n in spans)
        second = " & ".join(_escape(c.header, "latex") for c in self.columns)
        lines = [
            "% " + f"{self.title} — {self.dataset}; bold: best, underlined: second best, (n): images",
            f"\\begin{{tabular}}{{l{'r' * len(self.columns)}}}",
            "\\toprule",
            f" & {top} \\\\",
            f"Method & {second} \\\\",
            "\\midrule",
            *(" & ".join(row) + " \\\\" for row in self.formatted("latex")),
            "\\bottomrule",
            "\\end{tabular}",
        ]
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        spans = [(model, len(list(items))) for model, items in groupby(self.columns, key=lambda c: c.model)]
        top = "".join(f'<th colspan="{n}">{html.escape(m)}</th>' for m, n in spans)
        second = "".join(f"<th>{html.escape(c.header)}</th>" for c in self.columns)
        body = "".join(
            f'<tr><td class="name">{row[0]}</td>' + "".join(f"<td>{v}</td>" for v in row[1:]) + "</tr>"
            for row in self.formatted("html")
        )
        return (
            f"<h3>{html.escape(self.title)}</h3><table><thead><tr><th rowspan=2>method</th>{top}</tr>"
            f"<tr>{second}</tr></thead><tbody>{body}</tbody></table>"
        )

    def write_csv(self, path: Path) -> None:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            paired = any(cell.wins is not None for cell in self.cells.values())
            suffixes = ("", ":n", ":se", ":wins") if paired else ("", ":n")
            writer.writerow(
                ["method", *(f"{c.model}:{c.metric}{suffix}" for c in self.columns for suffix in suffixes)]
            )
            for row in self.rows:
                values: list[object] = [row]
                for column in self.columns:
                    cell = self.cell(row, column)
                    if cell is None:
                        values += [""] * len(suffixes)
                        continue
                    values += [_csv_number(cell.value), cell.n]
                    if paired:
                        values += [_csv_number(math.nan if cell.error is None else cell.error), cell.wins]
                writer.writerow(values)


# --------------------------------------------------------------------------------- reading
@contextmanager
def open_results(paths: Sequence[str | Path]) -> Iterator[ResultStore]:
    """One store to read: the file itself, or several merged into a temporary file."""
    if len(paths) == 1:
        with ResultStore(paths[0], readonly=True) as store:
            yield store
        return
    for path in paths:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such results file")
    with tempfile.TemporaryDirectory() as folder:
        merged = Path(folder) / "merged.sqlite"
        merge_stores(paths, merged)
        with ResultStore(merged, readonly=True) as store:
            yield store


def summarise(store: ResultStore, common_images: bool = True) -> Summary:
    """Aggregate a store (see the module docstring); with ``common_images``, each metric of a
    (dataset, model) only on the images that every row has (:func:`keep_common_images`)."""
    summary = Summary()
    summary.settings = {
        config: json.loads(text) for config, text in store.query("SELECT config, settings FROM configs")
    }
    rows = store.connection.execute(PER_IMAGE_SQL)
    per_image: dict[Group, dict[str, dict[str, float]]] = defaultdict(dict)
    for (dataset, model, method, config, seed, metric), items in groupby(rows, key=lambda r: r[:6]):
        per_image[dataset, model, method, config, seed][metric] = {r[6]: r[7] for r in items}
    if common_images:
        summary.images = keep_common_images(per_image)
    for group, by_image in per_image.items():
        metrics = {m: np.fromiter(values.values(), np.float64) for m, values in by_image.items() if values}
        cells = {metric: Cell(float(values.mean()), len(values)) for metric, values in metrics.items()}
        if "attack_flip" in metrics and "attack_size" in metrics:
            flips, sizes = (torch.from_numpy(metrics[k]) for k in ("attack_flip", "attack_size"))
            cells["attack_score"] = Cell(attack_score(flips, sizes), len(flips))
        if "explain_seconds" in cells:
            seconds = metrics["explain_seconds"].mean() + cells.get("metric_seconds", Cell(0.0, 0)).value
            cells["total_seconds"] = Cell(float(seconds), cells["explain_seconds"].n)
            cells["images_per_second"] = Cell(
                1 / seconds if seconds > 0 else math.nan, cells["explain_seconds"].n
            )
        summary.cells[group] = cells
    summary.labels = row_labels(list(summary.cells), summary.settings)
    for group, cells in paired_differences(per_image, summary.labels).items():
        summary.cells[group].update(cells)
    columns = [row[1] for row in store.query("PRAGMA table_info(runs)")]
    summary.runs = [dict(zip(columns, row)) for row in store.query("SELECT * FROM runs ORDER BY started")]
    return summary


def keep_common_images(
    per_image: dict[Group, dict[str, dict[str, float]]],
) -> dict[tuple[str, str, str], set[str]]:
    """Reduce each metric's ``image -> value`` of every group to the images that all groups of its
    (dataset, model) with that metric have, so that the rows of a table compare the same images (a
    run stopped early, or a method added later, leaves some rows with more). Returns (dataset,
    model, metric) -> those images."""
    shared: dict[tuple[str, str, str], set[str]] = {}
    for group, metrics in per_image.items():
        for metric, values in metrics.items():
            key = (group[0], group[1], metric)
            shared[key] = shared[key] & values.keys() if key in shared else set(values)
    for group, metrics in per_image.items():
        for metric, values in metrics.items():
            images = shared[group[0], group[1], metric]
            metrics[metric] = {image: value for image, value in values.items() if image in images}
    return shared


def paired_differences(
    per_image: dict[Group, dict[str, dict[str, float]]], labels: dict[Group, str]
) -> dict[Group, dict[str, Cell]]:
    """For every row of the (dataset, model) of a row labelled :data:`REFERENCE_METHOD`: per metric
    of :data:`PAIRED_METRICS`, the differences ``d_i`` between the reference and the row on the
    images both have, signed so that positive means the reference is better (``ref - row`` where
    higher is better, ``row - ref`` where lower is). Cell: mean of ``d``, its standard error
    ``std(d, ddof=1) / sqrt(n)`` (NaN for one image), and the wins ``#{d_i > TIE}`` (smaller
    differences are rounding, a tie)."""
    paired: dict[Group, dict[str, Cell]] = defaultdict(dict)
    for reference in (group for group in per_image if labels.get(group) == REFERENCE_METHOD):
        for group, metrics in per_image.items():
            if group == reference or group[:2] != reference[:2]:
                continue
            for metric, better in PAIRED_METRICS.items():
                ours, theirs = per_image[reference].get(metric, {}), metrics.get(metric, {})
                images = sorted(ours.keys() & theirs.keys())
                if not images:
                    continue
                sign = 1.0 if better == "higher" else -1.0
                d = sign * np.array([ours[i] - theirs[i] for i in images], dtype=np.float64)
                error = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else math.nan
                paired[group][f"paired_{metric}"] = Cell(float(d.mean()), len(d), error, int((d > TIE).sum()))
    return paired


def row_labels(groups: Sequence[Group], settings: dict[str, dict]) -> dict[Group, str]:
    """The method with its options (``suny (set_size=4)``); a seed or a configuration hash is added
    where two groups of one dataset and model would otherwise share a label."""

    def base(group: Group) -> str:
        options = settings.get(group[3], {}).get("method_options", {})
        suffix = ", ".join(f"{k}={v}" for k, v in sorted(options.items()))
        return f"{group[2]} ({suffix})" if suffix else group[2]

    labels = {group: base(group) for group in groups}
    clashes = defaultdict(list)
    for group in groups:
        clashes[group[0], group[1], labels[group]].append(group)
    for members in clashes.values():
        if len(members) > 1:
            seeds = {g[4] for g in members}
            for g in members:
                labels[g] += f" seed {g[4]}" if len(seeds) == len(members) else f" #{g[3][:6]} seed {g[4]}"
    return labels


def mean_curves(
    store: ResultStore, group: Group, curve: str, images: set[str] | None = None
) -> np.ndarray | None:
    """The mean curve of ``group`` (each image's classes averaged first) over ``images`` (default:
    all it has), streamed from the store."""
    total, count = None, 0
    rows = store.connection.execute(
        "SELECT image_id, points FROM curves WHERE dataset = ? AND model = ? AND method = ? AND config = ? "
        "AND seed = ? AND curve = ? ORDER BY image_id",
        (*group, curve),
    )
    for image, items in groupby(rows, key=lambda r: r[0]):
        if images is not None and image not in images:
            continue
        mean = np.mean([curve_points(points) for _, points in items], axis=0, dtype=np.float64)
        total = mean if total is None else total + mean
        count += 1
    return None if total is None else total / count


# --------------------------------------------------------------------------------- writing
def write_report(
    paths: Sequence[str | Path], out: str | Path, gallery_images: int = 4, common_images: bool = True
) -> list[str]:
    """Write the report of the stores ``paths`` into ``out``; returns the files written.
    ``common_images``: see :func:`summarise`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    sections: list[str] = []
    markdown: list[str] = []
    with open_results(paths) as store:
        summary = summarise(store, common_images)
        for dataset in summary.datasets():
            tables = [t for name in TABLES if (t := summary.table(dataset, name)) is not None]
            markdown.append(f"## {dataset}\n")
            parts = [f"<h2>{html.escape(dataset)}</h2>"]
            for table in tables:
                stem = _file_stem(f"{dataset}-{table.name}")
                table.write_csv(out / f"{stem}.csv")
                (out / f"{stem}.tex").write_text(table.latex(), encoding="utf-8")
                written += [f"{stem}.csv", f"{stem}.tex"]
                markdown.append(table.markdown())
                parts.append(table.html())
            for model in summary.models(dataset):
                pictures = _curve_plots(store, summary, dataset, model, out)
                pictures += _cost_plot(summary, dataset, model, out)
                pictures += _sanity_plot(store, summary, dataset, model, out)
                pictures += _gallery(store, summary, dataset, model, out, gallery_images)
                written += [name for name, _ in pictures]
                figures = "".join(
                    f'<figure><img src="{html.escape(name)}" alt="{html.escape(caption)}">'
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>"
                    for name, caption in pictures
                )
                parts.append(f"<h3>{html.escape(model)}</h3><div class='pictures'>{figures}</div>")
            sections.append("\n".join(parts))
    runs = _run_rows(summary.runs)
    run_table = "\n".join(_md_row(row) for row in [RUN_HEADER, ["---"] * len(RUN_HEADER), *runs])
    scope = COMMON_NOTE if common_images else ALL_NOTE
    text = f"# Results\n\n{NOTES} {scope}\n\n" + "\n".join(markdown) + f"\n## Runs\n\n{run_table}\n"
    (out / "tables.md").write_text(text, encoding="utf-8")
    (out / "index.html").write_text(_page(sections, runs, scope), encoding="utf-8")
    return ["tables.md", "index.html", *written]


def _curve_plots(
    store: ResultStore, summary: Summary, dataset: str, model: str, out: Path
) -> list[tuple[str, str]]:
    """Mean deletion and insertion curves per method: one PNG per curve kind (and curve length)."""
    pictures = []
    for kind in ("deletion", "insertion"):
        by_length: dict[int, dict[str, np.ndarray]] = defaultdict(dict)
        fractions: dict[int, torch.Tensor] = {}
        for group in summary.groups(dataset):
            images = summary.images_of(group, f"{kind}_auc")
            if group[1] != model or (curve := mean_curves(store, group, kind, images)) is None:
                continue
            settings = summary.settings[group[3]]
            by_length[len(curve)][summary.labels[group]] = curve
            fractions[len(curve)] = (
                changed_counts(settings["pixels"], settings["step"]).float() / settings["pixels"]
            )
        for length, curves in by_length.items():
            suffix = f"-{length}points" if len(by_length) > 1 else ""
            name = _file_stem(f"{dataset}-{model}-{kind}{suffix}") + ".png"
            tensors = {label: torch.from_numpy(curve) for label, curve in curves.items()}
            plot_curves(fractions[length], tensors, out / name, f"mean {kind} curve, {model}, {dataset}")
            pictures.append((name, f"mean {kind} curves ({model})"))
    return pictures


def _cost_plot(summary: Summary, dataset: str, model: str, out: Path) -> list[tuple[str, str]]:
    """Fidelity against cost: each row's overall AUC over its seconds per image (log scale)."""
    from matplotlib.figure import Figure

    points = [
        (summary.labels[group], cells["total_seconds"].value, cells["overall"].value)
        for group, cells in summary.cells.items()
        if group[:2] == (dataset, model) and "overall" in cells and "total_seconds" in cells
    ]
    if not points:
        return []
    figure = Figure(figsize=(6.5, 4.5), layout="constrained")
    axes = figure.subplots()
    for label, seconds, overall in points:
        axes.scatter(seconds, overall)
        axes.annotate(label, (seconds, overall), fontsize=7, xytext=(4, 3), textcoords="offset points")
    axes.set_xscale("log")
    axes.set(xlabel="seconds per image (explanation + metrics)", ylabel="overall AUC (insertion - deletion)")
    axes.set_title(f"fidelity against cost, {model}, {dataset}")
    name = _file_stem(f"{dataset}-{model}-cost") + ".png"
    figure.savefig(out / name, dpi=110)
    return [(name, f"fidelity against cost ({model})")]


def _sanity_plot(
    store: ResultStore, summary: Summary, dataset: str, model: str, out: Path
) -> list[tuple[str, str]]:
    """Mean Spearman and SSIM to the original map after each randomisation step, per method."""
    from matplotlib.figure import Figure

    series, layers = [], []
    for group in summary.groups(dataset):
        if group[1] == model:
            curves = [
                mean_curves(store, group, f"sanity_{kind}", summary.images_of(group, f"sanity_{kind}"))
                for kind in ("spearman", "ssim")
            ]
            if curves[0] is not None:
                series.append((summary.labels[group], curves))
                layers = summary.settings[group[3]]["sanity_layers"]
    if not series:
        return []
    figure = Figure(figsize=(11, 4), layout="constrained")
    for index, (axes, kind) in enumerate(zip(figure.subplots(1, 2), ("Spearman", "SSIM"))):
        for label, curves in series:
            if curves[index] is not None:
                axes.plot(range(1, len(curves[index]) + 1), curves[index], marker="o", label=label)
        axes.set_xticks(range(1, len(layers) + 1), layers, rotation=30, ha="right", fontsize=7)
        axes.set(xlabel="randomised down to (cumulative, logits first)", ylabel=f"{kind} to the original map")
        axes.axhline(0, color="0.7", linewidth=0.8)
    figure.axes[0].legend(fontsize=7)
    figure.suptitle(f"sanity check (cascading randomisation), {model}, {dataset}")
    name = _file_stem(f"{dataset}-{model}-sanity") + ".png"
    figure.savefig(out / name, dpi=110)
    return [(name, f"sanity check ({model})")]


def _gallery(
    store: ResultStore, summary: Summary, dataset: str, model: str, out: Path, count: int
) -> list[tuple[str, str]]:
    """The stored example maps of the first ``count`` images, one column per method."""
    from suny.visualisation.figures import ComparisonRow, comparison_figure

    images = store.query(
        "SELECT image_id, picture FROM images WHERE dataset = ? AND model = ? ORDER BY image_id LIMIT ?",
        (dataset, model, count),
    )
    rows = []
    for image_id, picture in images:
        maps, seconds, classes = {}, {}, set()
        for group in summary.groups(dataset):
            if group[1] != model:
                continue
            found = store.query(
                "SELECT class, map, seconds FROM explanations WHERE dataset = ? AND image_id = ? "
                "AND model = ? AND method = ? AND config = ? AND seed = ? AND map IS NOT NULL "
                "ORDER BY class LIMIT 1",
                (dataset, image_id, *group[1:]),
            )
            if found:
                target, data, time_taken = found[0]
                maps[summary.labels[group]], seconds[summary.labels[group]] = from_png(data), time_taken
                classes.add(target)
        if maps:
            label = f"{image_id}\nclass {', '.join(map(str, sorted(classes)))}"
            rows.append(ComparisonRow(from_png(picture), maps, seconds, label))
    if not rows:
        return []
    name = _file_stem(f"{dataset}-{model}-gallery") + ".png"
    comparison_figure(rows).savefig(out / name, dpi=90)
    return [(name, f"example explanations ({model}; time per explanation)")]


RUN_HEADER = [
    "run",
    "host",
    "rank",
    "device",
    "started",
    "wall (s)",
    "images",
    "computed",
    "skipped",
    "RSS MiB",
]


def _run_rows(runs: list[dict]) -> list[list[str]]:
    """One row per process of the ``runs`` table (wall time, images, resident memory start → end)."""
    rows = []
    for run in runs:
        wall = run["finished"] - run["started"] if run["finished"] else None
        memory = f"{run['rss_start_mib']:.0f} → {run['rss_end_mib']:.0f}" if run["rss_end_mib"] else "–"
        rows.append(
            [
                str(run["run"]),
                run["host"],
                f"{run['rank']}/{run['world_size']}",
                run["device"],
                time.strftime("%Y-%m-%d %H:%M", time.localtime(run["started"])),
                "unfinished" if wall is None else f"{wall:.0f}",
                *("–" if run[k] is None else str(run[k]) for k in ("images", "computed", "skipped")),
                memory,
            ]
        )
    return rows


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; color: #222; }
h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; text-align: center; } td.name { text-align: left; }
sub { color: #888; } .pictures { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; } figure img { max-width: 100%; } figcaption { color: #555; font-size: 0.9em; }
"""


def _page(sections: list[str], runs: list[list[str]], scope: str) -> str:
    header = "".join(f"<th>{html.escape(h)}</th>" for h in RUN_HEADER)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in runs)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>suny results</title>'
        f"<style>{STYLE}</style></head><body><h1>Results</h1><p>{NOTES_HTML} {html.escape(scope)}</p>"
        + "\n".join(sections)
        + f"<h2>Runs</h2><table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></body></html>\n"
    )


def _format(value: float, metric: str) -> str:
    if not math.isfinite(value):
        return "–"
    if metric.endswith("seconds"):
        return f"{value:.2f}"
    if metric.startswith("paired_"):
        return f"{value:+.3f}"
    return f"{value:.1f}" if metric == "images_per_second" and value >= 10 else f"{value:.3f}"


def _escape(text: str, style: str) -> str:
    if style == "latex":
        return (
            re.sub(r"([&%$#_{}])", r"\\\1", text)
            .replace("↓", "$\\downarrow$")
            .replace("↑", "$\\uparrow$")
            .replace("Δ", "$\\Delta$")
        )
    if style == "html":
        return html.escape(text)
    return text.replace("|", "\\|")


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _csv_number(value: float) -> str:
    return "" if not math.isfinite(value) else f"{value:.6g}"


def _file_stem(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_")
