"""The report's figures of one dataset and model: the mean deletion and insertion curves, fidelity
against cost, the sanity check per randomisation step, and a gallery of stored maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from suny.benchmark.store import ResultStore
from suny.metrics.deletion_insertion import changed_counts, plot_curves
from suny.report.aggregate import Summary, mean_curve
from suny.report.formatting import file_stem
from suny.report.sections import Picture
from suny.visualisation.series import series_style


def model_pictures(
    store: ResultStore, summary: Summary, dataset: str, model: str, out: Path, gallery_images: int
) -> list[Picture]:
    """Every figure of ``model`` on ``dataset``, written into ``out``; the gallery shows the first
    ``gallery_images`` stored images."""
    return [
        *curve_plots(store, summary, dataset, model, out),
        *cost_plot(summary, dataset, model, out),
        *sanity_plot(store, summary, dataset, model, out),
        *gallery(store, summary, dataset, model, out, gallery_images),
    ]


def curve_plots(store: ResultStore, summary: Summary, dataset: str, model: str, out: Path) -> list[Picture]:
    """Mean deletion and insertion curves per method: one PNG per curve kind (and curve length)."""
    pictures = []
    for kind in ("deletion", "insertion"):
        by_length: dict[int, dict[str, torch.Tensor]] = {}
        fractions: dict[int, torch.Tensor] = {}
        for key in summary.keys(dataset, model):
            curve = mean_curve(store, key, kind, summary.images_of(key, f"{kind}_auc"))
            if curve is None:
                continue
            settings = summary.settings[key.config]
            by_length.setdefault(len(curve), {})[summary.labels[key]] = torch.from_numpy(curve)
            fractions[len(curve)] = (
                changed_counts(settings["pixels"], settings["step"]).float() / settings["pixels"]
            )
        for length, curves in by_length.items():
            suffix = f"-{length}points" if len(by_length) > 1 else ""
            name = file_stem(f"{dataset}-{model}-{kind}{suffix}") + ".png"
            plot_curves(fractions[length], curves, out / name, f"mean {kind} curve, {model}, {dataset}")
            pictures.append(Picture(name, f"mean {kind} curves ({model})"))
    return pictures


def cost_plot(summary: Summary, dataset: str, model: str, out: Path) -> list[Picture]:
    """Fidelity against cost: each row's overall AUC over its seconds per image (log scale)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import LogFormatter

    points = [
        (summary.labels[key], cells["total_seconds"].value, cells["overall"].value)
        for key in summary.keys(dataset, model)
        if "overall" in (cells := summary.cells[key]) and "total_seconds" in cells
    ]
    if not points:
        return []
    figure = Figure(figsize=(6.5, 4.5), layout="constrained")
    axes = figure.subplots()
    for label, seconds, overall in points:
        axes.scatter(seconds, overall)
        axes.annotate(label, (seconds, overall), fontsize=7, xytext=(4, 3), textcoords="offset points")
    axes.set_xscale("log")
    # Plain seconds (20, 30, 100) on the log axis, not 2 x 10^1.
    for set_formatter in (axes.xaxis.set_major_formatter, axes.xaxis.set_minor_formatter):
        set_formatter(LogFormatter(labelOnlyBase=False))
    axes.set(xlabel="seconds per image (explanation + metrics)", ylabel="overall AUC (insertion - deletion)")
    axes.set_title(f"fidelity against cost, {model}, {dataset}")
    name = file_stem(f"{dataset}-{model}-cost") + ".png"
    figure.savefig(out / name, dpi=110)
    return [Picture(name, f"fidelity against cost ({model})")]


def sanity_plot(store: ResultStore, summary: Summary, dataset: str, model: str, out: Path) -> list[Picture]:
    """Mean Spearman and SSIM to the original map after each randomisation step, per method."""
    from matplotlib.figure import Figure

    kinds = {"spearman": "Spearman", "ssim": "SSIM"}
    series, layers = [], []
    for key in summary.keys(dataset, model):
        curves = [
            mean_curve(store, key, f"sanity_{kind}", summary.images_of(key, f"sanity_{kind}"))
            for kind in kinds
        ]
        if curves[0] is not None:
            series.append((summary.labels[key], curves))
            layers = summary.settings[key.config]["sanity_layers"]
    if not series:
        return []
    figure = Figure(figsize=(12, 4), layout="constrained")
    for index, (axes, title) in enumerate(zip(figure.subplots(1, 2), kinds.values())):
        for number, (label, curves) in enumerate(series):
            if (curve := curves[index]) is not None:
                axes.plot(range(1, len(curve) + 1), curve, marker="o", label=label, **series_style(number))
        axes.set_xticks(range(1, len(layers) + 1), layers, rotation=30, ha="right", fontsize=7)
        axes.set(
            xlabel="randomised down to (cumulative, logits first)", ylabel=f"{title} to the original map"
        )
        axes.axhline(0, color="0.7", linewidth=0.8)
    # One legend for both panels, beside them: eleven lines inside a panel hide the curves.
    figure.legend(
        *figure.axes[0].get_legend_handles_labels(), loc="outside right center", fontsize=7, handlelength=3
    )
    figure.suptitle(f"sanity check (cascading randomisation), {model}, {dataset}")
    name = file_stem(f"{dataset}-{model}-sanity") + ".png"
    figure.savefig(out / name, dpi=110)
    return [Picture(name, f"sanity check ({model})")]


def gallery(
    store: ResultStore, summary: Summary, dataset: str, model: str, out: Path, count: int
) -> list[Picture]:
    """The stored example maps of the first ``count`` images, one column per method."""
    from suny.visualisation.figures import ComparisonRow, comparison_figure

    rows = []
    for image_id, picture in store.example_images(dataset, model, count):
        maps: dict[str, np.ndarray] = {}
        seconds: dict[str, float] = {}
        classes = set()
        for key in summary.keys(dataset, model):
            if (example := store.example_map(key, image_id)) is not None:
                label = summary.labels[key]
                maps[label], seconds[label] = example.map, example.seconds
                classes.add(example.target)
        if maps:
            label = f"{image_id}\nclass {', '.join(map(str, sorted(classes)))}"
            rows.append(ComparisonRow(picture, maps, seconds, label))
    if not rows:
        return []
    name = file_stem(f"{dataset}-{model}-gallery") + ".png"
    comparison_figure(rows).savefig(out / name, dpi=90)
    return [Picture(name, f"example explanations ({model}; time per explanation)")]
