"""What the report shows, aggregated from a results store (SPEC section 4, paper A.5).

Each image's score is the mean over its target classes (classes without a value, such as a class
without boxes in the pointing game, are left out), and a cell is the mean over its images, with
``n`` the number of images. Overall AUC is insertion minus deletion per class
(:func:`~suny.metrics.deletion_insertion.overall_auc`). The attack score is the mean flip over the
mean attack size (:func:`~suny.metrics.attack.attack_score`). Cost: seconds per image, explanation
and metrics.
"""

from __future__ import annotations

import math
import tempfile
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from suny.benchmark.merge import merge_stores
from suny.benchmark.store import ResultStore
from suny.metrics.attack import attack_score
from suny.metrics.deletion_insertion import overall_auc
from suny.report.paired import paired_differences
from suny.report.rows import Cell, PerImage, RowKey, row_labels, superseded_rows

#: Metric -> image -> class -> value.
PerClass = dict[str, dict[str, dict[int, float]]]
#: Cost -> image -> the seconds of each of its classes.
PerClassSeconds = dict[str, dict[str, list[float]]]
#: (dataset, model, metric) -> images.
ImageSets = dict[tuple[str, str, str], set[str]]


@dataclass
class Summary:
    """Everything the report shows: the cells and label of each row, the settings of each
    configuration (hash -> settings), the runs, with common images the images of each (dataset,
    model, metric), the rows left out as superseded (-> the row that replaced each), and the devices
    each row's cost was measured on (:func:`cost_devices`)."""

    cells: dict[RowKey, dict[str, Cell]]
    labels: dict[RowKey, str]
    settings: dict[str, dict[str, Any]]
    runs: list[dict[str, Any]]
    images: ImageSets | None = None
    superseded: dict[RowKey, RowKey] = field(default_factory=dict)
    devices: dict[RowKey, Counter[str]] = field(default_factory=dict)

    def images_of(self, key: RowKey, metric: str) -> set[str] | None:
        """The images ``metric`` of row ``key`` is aggregated over (None: all it has)."""
        return None if self.images is None else self.images.get((key.dataset, key.model, metric), set())

    def datasets(self) -> list[str]:
        return sorted({key.dataset for key in self.cells})

    def models(self, dataset: str) -> list[str]:
        return sorted({key.model for key in self.keys(dataset)})

    def keys(self, dataset: str, model: str | None = None) -> list[RowKey]:
        """The rows of ``dataset`` (of one ``model`` where given), sorted."""
        return sorted(key for key in self.cells if key.dataset == dataset and model in (None, key.model))

    def rows(self, dataset: str) -> list[str]:
        """Row labels of a dataset, in the order of the first appearance of their methods."""
        return list(dict.fromkeys(self.labels[key] for key in self.keys(dataset)))


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


def summarise(store: ResultStore, common_images: bool = True, all_configurations: bool = False) -> Summary:
    """Aggregate a store (see the module docstring); with ``common_images``, each metric of a
    (dataset, model) only on the images that every row has (:func:`keep_common_images`). Rows that
    a later release's defaults replaced (:func:`~suny.report.rows.superseded_rows`) are left out
    unless ``all_configurations``."""
    settings = store.settings()
    per_image = per_image_scores(store)
    superseded = {}
    if not all_configurations:
        superseded = superseded_rows(list(per_image), settings, store.first_results())
    per_image = {key: scores for key, scores in per_image.items() if key not in superseded}
    images = keep_common_images(per_image) if common_images else None
    cells = {key: row_cells(scores) for key, scores in per_image.items()}
    labels = row_labels(list(cells), settings)
    for key, paired in paired_differences(per_image, labels).items():
        cells[key].update(paired)
    devices = cost_devices(store, cells.keys(), images)
    return Summary(cells, labels, settings, store.runs(), images, superseded, devices)


def cost_devices(
    store: ResultStore, keys: Collection[RowKey], images: ImageSets | None
) -> dict[RowKey, Counter[str]]:
    """Per row of ``keys``: the device of the runs that computed its explanations (their one-line
    description, :func:`~suny.engine.hardware.describe_device`; ``not recorded`` where no run was)
    -> how many of the images its cost cells count (all of them without common ``images``)."""
    devices: dict[RowKey, Counter[str]] = {}
    for key, image, device in store.explanation_devices():
        counted = None if images is None else images.get((key.dataset, key.model, "explain_seconds"), set())
        if key in keys and (counted is None or image in counted):
            devices.setdefault(key, Counter())[device or "not recorded"] += 1
    return devices


def per_image_scores(store: ResultStore) -> PerImage:
    """Row -> metric -> image -> score, images in order: for each stored metric and for ``overall``,
    the mean over the image's classes with a value; for the cost (:func:`read_per_class`), the sum
    over its classes."""
    values, seconds = read_per_class(store)
    per_image: PerImage = {}
    for key in sorted(values.keys() | seconds.keys()):
        by_class = values.get(key, {})
        by_class["overall"] = overall_per_class(by_class)
        means = {
            metric: {image: math.fsum(classes.values()) / len(classes) for image, classes in images.items()}
            for metric, images in by_class.items()
        }
        sums = {
            metric: {image: math.fsum(times) for image, times in images.items()}
            for metric, images in seconds.get(key, {}).items()
        }
        per_image[key] = {
            metric: dict(sorted(images.items()))
            for metric, images in sorted((means | sums).items())
            if images
        }
    return per_image


def read_per_class(store: ResultStore) -> tuple[dict[RowKey, PerClass], dict[RowKey, PerClassSeconds]]:
    """Per row: every stored value (but None), and the seconds of ``explain_seconds`` (the
    explanations) and ``metric_seconds`` (the results but the sanity check's, not the grid's cost)."""
    values: dict[RowKey, PerClass] = {}
    seconds: dict[RowKey, PerClassSeconds] = {}

    def add_seconds(key: RowKey, cost: str, image_id: str, time: float) -> None:
        seconds.setdefault(key, {}).setdefault(cost, {}).setdefault(image_id, []).append(time)

    for result in store.per_class_results():
        if result.value is not None:
            by_image = values.setdefault(result.key, {}).setdefault(result.metric, {})
            by_image.setdefault(result.image_id, {})[result.target] = result.value
        if not result.metric.startswith("sanity"):
            add_seconds(result.key, "metric_seconds", result.image_id, result.seconds)
    for explanation in store.explanation_times():
        add_seconds(explanation.key, "explain_seconds", explanation.image_id, explanation.seconds)
    return values, seconds


def overall_per_class(values: PerClass) -> dict[str, dict[int, float]]:
    """Image -> class -> :func:`overall_auc` of each class with an insertion and a deletion AUC."""
    insertion, deletion = values.get("insertion_auc", {}), values.get("deletion_auc", {})
    pairs = [(image, target) for image, classes in insertion.items() for target in classes]
    pairs = [(image, target) for image, target in pairs if target in deletion.get(image, {})]
    overall = overall_auc(
        torch.tensor([insertion[image][target] for image, target in pairs], dtype=torch.float64),
        torch.tensor([deletion[image][target] for image, target in pairs], dtype=torch.float64),
    )
    by_image: dict[str, dict[int, float]] = {}
    for (image, target), value in zip(pairs, overall.tolist()):
        by_image.setdefault(image, {})[target] = value
    return by_image


def keep_common_images(per_image: PerImage) -> ImageSets:
    """Reduce each metric's ``image -> score`` of every row to the images that all rows of its
    (dataset, model) with that metric have, so that the rows of a table compare the same images (a
    run stopped early, or a method added later, leaves some rows with more). Returns (dataset,
    model, metric) -> those images."""
    shared: ImageSets = {}
    for key, metrics in per_image.items():
        for metric, scores in metrics.items():
            where = (key.dataset, key.model, metric)
            shared[where] = shared[where] & scores.keys() if where in shared else set(scores)
    for key, metrics in per_image.items():
        for metric, scores in metrics.items():
            images = shared[key.dataset, key.model, metric]
            metrics[metric] = {image: score for image, score in scores.items() if image in images}
    return shared


def row_cells(scores: dict[str, dict[str, float]]) -> dict[str, Cell]:
    """The cells of one row: per metric, the mean of its images' scores; the attack score; the cost
    per image ``total_seconds = explain_seconds + metric_seconds`` and ``images_per_second``, its
    inverse."""
    metrics = {metric: np.fromiter(by_image.values(), np.float64) for metric, by_image in scores.items()}
    cells = {
        metric: Cell(float(values.mean()), len(values)) for metric, values in metrics.items() if len(values)
    }
    for suffix in ("", "_literal"):
        if f"attack_flip{suffix}" in cells and f"attack_size{suffix}" in cells:
            flips, sizes = (torch.from_numpy(metrics[f"attack_{kind}{suffix}"]) for kind in ("flip", "size"))
            cells[f"attack_score{suffix}"] = Cell(attack_score(flips, sizes), len(flips))
    if "explain_seconds" in cells:
        explain = cells["explain_seconds"]
        total = explain.value + cells.get("metric_seconds", Cell(0.0, 0)).value
        cells["total_seconds"] = Cell(total, explain.n)
        cells["images_per_second"] = Cell(1 / total if total > 0 else math.nan, explain.n)
    return cells


def mean_curve(
    store: ResultStore, key: RowKey, curve: str, images: set[str] | None = None
) -> np.ndarray | None:
    """The mean curve ``curve`` of row ``key`` over ``images`` (default: all it has), each image's
    classes averaged first; None where it has none."""
    total: np.ndarray | None = None
    count = 0
    for image, curves in store.curves(key, curve):
        if images is None or image in images:
            mean = np.stack(curves).mean(axis=0, dtype=np.float64)
            total = mean if total is None else total + mean
            count += 1
    return None if total is None else total / count
