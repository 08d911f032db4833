"""Which layer to explain (issue 29): Lite's head activation (7 x 7) against its last 14 x 14
post-activation layer, by a rule fixed before looking.

Procedure:

- Images: the first 100 development crops of ``../shared/data/ilsvrc-val-crops`` (image-id order,
  their ground-truth classes), EfficientNet-Lite0, the published grid's protocol (float32, curves at
  224 pixels per step, the attack at tau = 0.5, the pointing game): ``docs/results/layers/run.sh``.
- Layers: ``_head_activation`` (1,280 maps of 7 x 7, the published tables' layer) and
  ``_blocks.11._expand_activation`` (672 maps of 14 x 14: block 11's expansion, the last activation
  before a convolution strides to 7 x 7).
- Methods at both layers: SUNY with its tuned defaults (``suny``), ``suny-filter`` and every
  layer-based baseline (Grad-CAM, Grad-CAM++, Smooth Grad-CAM++, Score-CAM, Group-CAM, CexCNN).
  RISE and pixel SmoothGrad have no layer: the fixed references, one row each.
- The head rows are the published store's (``docs/results/results.sqlite``), the 14 x 14 rows this
  run's (``docs/results/layers/results.sqlite``); every comparison is paired over the images both
  rows have.
- Metrics of the rule, as in the tuning (``benchmarks/tune_suny.py``): overall AUC (insertion -
  deletion) and the pointing game, each difference decided at two standard errors of the paired
  per-image differences (Student's t quantile where larger, on 61 images or fewer); the attack score
  (flip rate / mean size), decided where its 95% paired bootstrap interval (2,000 resamples) excludes
  0. Deletion, insertion, flip rate, size and the explanation's seconds are reported too.
- Rule, per method: its two layers are the candidates; a candidate wins a metric where it beats the
  other by the margin above; the candidate that wins more of the three metrics is the method's
  better layer, ties going to the cheaper one (seconds per explanation), then to the higher overall
  AUC (the tuning's rule). A default changes only where the better layer wins more metrics than it
  loses (never on the tie-breaks alone), and for SUNY only where that holds on every Lite model
  checked.
- SUNY's standing, per layer: SUNY at that layer against the best baseline at that layer (the
  layer-based baselines there and the two references, the best by each metric's mean), the metrics
  it wins and loses by the margin above.

    python benchmarks/layer_question.py            # writes docs/results/layers/README.md and layers.csv
"""

from __future__ import annotations

import argparse
import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from suny.report.aggregate import keep_common_images, open_results, per_image_scores
from suny.report.paired import bootstrap_ratio_difference, decided, difference_cell
from suny.report.rows import Cell, superseded_rows

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / "docs" / "results" / "results.sqlite"
OUT = ROOT / "docs" / "results" / "layers"
MODEL = "efficientnet-lite0"
#: Short name -> layer.
LAYERS = {"head 7x7": "_head_activation", "14x14": "_blocks.11._expand_activation"}
LAYER_METHODS = (
    "suny",
    "suny-filter",
    "gradcam",
    "gradcam++",
    "smoothgradcam++",
    "scorecam",
    "groupcam",
    "cexcnn",
)
REFERENCES = ("rise", "smoothgrad")
#: The rule's metrics, each higher-is-better.
RULE = ("overall", "attack_score", "pointing")
REPORTED = ("deletion_auc", "insertion_auc", "overall", "attack_flip", "attack_size", "pointing")


@dataclass
class Row:
    """A method at a layer (None: a reference without one): per metric, image -> score."""

    method: str
    layer: str | None
    scores: dict[str, dict[str, float]]

    @property
    def name(self) -> str:
        shown = next((short for short, layer in LAYERS.items() if layer == self.layer), self.layer)
        return self.method if self.layer is None else f"{self.method} @ {shown}"

    def mean(self, metric: str) -> float:
        if metric == "attack_score":
            flips, sizes = (
                np.fromiter(self.scores[m].values(), float) for m in ("attack_flip", "attack_size")
            )
            return float(flips.mean() / sizes.mean()) if sizes.mean() > 0 else math.nan
        return float(np.fromiter(self.scores[metric].values(), float).mean())

    @property
    def seconds(self) -> float:
        return float(np.fromiter(self.scores["explain_seconds"].values(), float).mean())

    @property
    def images(self) -> int:
        return len(self.scores["overall"])


def paired(first: Row, second: Row, metric: str) -> Cell:
    """``first - second`` on ``metric`` over the images both have: the per-image mean difference,
    or for the attack score the difference of the ratios with its paired bootstrap interval."""
    parts = ("attack_flip", "attack_size") if metric == "attack_score" else (metric,)
    shared = sorted(set.intersection(*(set(row.scores[p]) for row in (first, second) for p in parts)))
    a, b = ([np.array([row.scores[p][i] for i in shared]) for p in parts] for row in (first, second))
    if metric == "attack_score":
        return bootstrap_ratio_difference((a[0], a[1]), (b[0], b[1]))
    return difference_cell(a[0] - b[0])


def load_rows(stores: Sequence[Path]) -> list[Row]:
    """The rows of :data:`MODEL` for the methods of the question (with their defaults: no options set,
    none that a later release replaced), each on the images every row has."""
    with open_results([str(path) for path in stores]) as store:
        settings = store.settings()
        per_image = per_image_scores(store)
        superseded = superseded_rows(list(per_image), settings, store.first_results())
    wanted = set(LAYER_METHODS) | set(REFERENCES)
    selected = {
        key: scores
        for key, scores in per_image.items()
        if key.model == MODEL
        and key.method in wanted
        and key not in superseded
        and settings[key.config].get("layer") in LAYERS.values()
        and not settings[key.config].get("method_options")
        and settings[key.config].get("step") == 224
        and settings[key.config].get("precision") == "float32"
    }
    selected = {key: scores for key, scores in selected.items() if "overall" in scores}
    keep_common_images(selected)
    rows = [
        Row(key.method, settings[key.config]["layer"] if key.method in LAYER_METHODS else None, scores)
        for key, scores in selected.items()
    ]
    methods, layers = (*LAYER_METHODS, *REFERENCES), (None, *LAYERS.values())
    return sorted(rows, key=lambda row: (methods.index(row.method), layers.index(row.layer)))


@dataclass
class LayerVerdict:
    """One method's two layers compared: per metric the difference (14x14 - head) and who wins."""

    method: str
    differences: dict[str, Cell]
    better: str
    outright: bool


def layer_verdicts(rows: list[Row]) -> list[LayerVerdict]:
    """The rule per method (module docstring)."""
    verdicts = []
    for method in LAYER_METHODS:
        found = {row.layer: row for row in rows if row.method == method}
        if set(found) != set(LAYERS.values()):
            continue
        head, deep = found[LAYERS["head 7x7"]], found[LAYERS["14x14"]]
        differences = {metric: paired(deep, head, metric) for metric in RULE}
        deep_wins = sum(decided(cell) == 1 for cell in differences.values())
        head_wins = sum(decided(cell) == -1 for cell in differences.values())
        if deep_wins != head_wins:
            winner = deep if deep_wins > head_wins else head
        else:
            winner = min((head, deep), key=lambda row: (row.seconds, -row.mean("overall")))
        verdicts.append(LayerVerdict(method, differences, winner.name, deep_wins != head_wins))
    return verdicts


def standing(rows: list[Row], layer: str) -> tuple[Row, dict[str, tuple[Row, Cell]]] | None:
    """SUNY at ``layer`` and, per rule metric, the best baseline there with SUNY's difference to it."""
    suny = next((row for row in rows if row.method == "suny" and row.layer == layer), None)
    baselines = [row for row in rows if not row.method.startswith("suny") and row.layer in (layer, None)]
    if suny is None or not baselines:
        return None
    best = {metric: max(baselines, key=lambda row: row.mean(metric)) for metric in RULE}
    return suny, {metric: (row, paired(suny, row, metric)) for metric, row in best.items()}


def difference_text(cell: Cell) -> str:
    mark = {1: " ✓", -1: " ✗", 0: ""}[decided(cell)]
    if cell.interval is not None:
        return f"{cell.value:+.3f} [{cell.interval[0]:+.3f}, {cell.interval[1]:+.3f}]{mark}"
    return f"{cell.value:+.3f} ± {cell.error:.3f}{mark}"


def write(rows: list[Row], out: Path) -> str:
    """``layers.csv`` (every row's means) and ``README.md``; returns the README's text."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "layers.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["method", "layer", "images", *REPORTED, "attack_score", "explain_seconds"])
        for row in rows:
            means = [f"{row.mean(metric):.6g}" for metric in (*REPORTED, "attack_score")]
            writer.writerow([row.method, row.layer or "", row.images, *means, f"{row.seconds:.4g}"])
    images = sorted({row.images for row in rows})
    header = ["row", "n", "deletion ↓", "insertion ↑", "overall ↑", "attack score ↑ (flip, size)"]
    header += ["pointing ↑", "explain (s)"]
    means = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        attack = (
            f"{row.mean('attack_score'):.3f} ({row.mean('attack_flip'):.3f}, {row.mean('attack_size'):.3f})"
        )
        values = [f"{row.mean(metric):.3f}" for metric in ("deletion_auc", "insertion_auc", "overall")]
        cells = [
            row.name,
            str(row.images),
            *values,
            attack,
            f"{row.mean('pointing'):.3f}",
            f"{row.seconds:.2f}",
        ]
        means.append("| " + " | ".join(cells) + " |")
    verdicts = [
        "| method | n | Δ overall | Δ attack score | Δ pointing | better layer |",
        "|---|---|---|---|---|---|",
    ]
    for verdict in layer_verdicts(rows):
        cells = " | ".join(difference_text(verdict.differences[metric]) for metric in RULE)
        how = "" if verdict.outright else " (tie: the cheaper)"
        verdicts.append(
            f"| {verdict.method} | {verdict.differences['overall'].n} | {cells} | {verdict.better}{how} |"
        )
    standings = [
        "| SUNY at | vs best on overall | vs best on attack score | vs best on pointing | won / lost |"
    ]
    standings.append("|---|---|---|---|---|")
    for short, layer in LAYERS.items():
        found = standing(rows, layer)
        if found is None:
            continue
        _, best = found
        cells = " | ".join(f"{row.name}: {difference_text(cell)}" for row, cell in best.values())
        won = sum(decided(cell) == 1 for _, cell in best.values())
        lost = sum(decided(cell) == -1 for _, cell in best.values())
        standings.append(f"| {short} | {cells} | {won} / {lost} |")
    text = f"""# Which layer to explain: Lite0's head (7 x 7) against its last 14 x 14 layer

Generated by `python benchmarks/layer_question.py` from `docs/results/results.sqlite` (the head rows
and the references) and `docs/results/layers/results.sqlite` (the 14 x 14 rows, `run.sh`); the
procedure and the rule, fixed before looking, are in the script's docstring. Images per row: {images}
(each comparison is paired over the images both rows have). `layers.csv` has every mean.

Means (the attack at tau = 0.5):

{chr(10).join(means)}

Each method at 14 x 14 minus at the head (positive: 14 x 14 better), ± the standard error of the
paired per-image differences, or [the 95% paired bootstrap interval] for the attack score; ✓: 14 x 14
wins the metric by the rule's margin, ✗: the head does:

{chr(10).join(verdicts)}

SUNY against the best baseline at the same layer (the layer-based baselines there, RISE and pixel
SmoothGrad), per metric (positive: SUNY better; ✓ won, ✗ lost by the margin):

{chr(10).join(standings)}
"""
    (out / "README.md").write_text(text, encoding="utf-8")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stores", nargs="+", type=Path, default=[PUBLISHED, OUT / "results.sqlite"])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    print(write(load_rows(args.stores), args.out))


if __name__ == "__main__":
    main()
