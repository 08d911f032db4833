"""SUNY against each method, paired over the images both have: the mean difference, its standard
error and the images where SUNY is better; for the attack score, a ratio of two means over the
images, the difference with a paired bootstrap interval."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Literal

import numpy as np

from suny.report.rows import Cell, PerImage, RowKey

#: The row every other row is compared with, and the direction of the metrics compared.
REFERENCE_METHOD = "suny"
PAIRED_METRICS: dict[str, Literal["lower", "higher"]] = {
    "deletion_auc": "lower",
    "insertion_auc": "higher",
    "overall": "higher",
    "pointing": "higher",
    "attack_flip": "higher",
    "attack_size": "lower",
}
#: Ratios over the images (numerator's mean / denominator's mean, higher is better), compared by
#: :func:`bootstrap_ratio_difference`: name -> (numerator, denominator).
PAIRED_RATIOS: dict[str, tuple[str, str]] = {"attack_score": ("attack_flip", "attack_size")}
#: Resamples of the images, and the seed, of every bootstrap interval of the report.
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
#: The bootstrap interval's coverage (a percentile interval: 2.5% and 97.5%).
BOOTSTRAP_COVERAGE = 0.95
#: Smaller differences are rounding: a tie, not a win.
TIE = 1e-9
#: A paired difference at least this many standard errors from zero decides between two methods
#: (more on few images: :func:`decisive_errors`).
DECISIVE_ERRORS = 2.0
#: The most images on which Student's quantile ``t_{0.975, n-1}`` exceeds :data:`DECISIVE_ERRORS`.
FEW_IMAGES = 61


def decisive_errors(n: int) -> float:
    """The standard errors a mean of ``n`` paired differences must clear to decide:
    ``max(DECISIVE_ERRORS, t_{0.975, n-1})``, Student's two-sided 95% quantile where it is the
    larger (``n <= FEW_IMAGES``: 12.7 for 2 images, 2.26 for 10, 2.01 for 50), so that a few images
    with a small spread decide nothing."""
    from scipy import stats  # imported here: only the verdict needs it

    return max(DECISIVE_ERRORS, float(stats.t.ppf(0.975, n - 1)))


def decided(cell: Cell) -> int:
    """+1 where the reference is better by at least :func:`decisive_errors` standard errors of the
    paired difference, -1 where it is worse by as much, 0 otherwise (also without an error, and for
    no difference at all). A cell with a bootstrap interval is decided by it: +1 where the interval
    lies above 0, -1 where below."""
    if cell.interval is not None:
        low, high = cell.interval
        return 1 if low > TIE else -1 if high < -TIE else 0
    if cell.error is None or not math.isfinite(cell.error) or abs(cell.value) <= TIE:
        return 0
    if abs(cell.value) < decisive_errors(cell.n) * cell.error:
        return 0
    return 1 if cell.value > 0 else -1


def difference_cell(differences: np.ndarray) -> Cell:
    """The mean of paired differences ``d`` (positive: the reference is better), its standard error
    ``std(d, ddof=1) / sqrt(n)`` (NaN for one difference) and the wins ``#{d_i > TIE}``."""
    d = np.asarray(differences, dtype=np.float64)
    error = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else math.nan
    return Cell(float(d.mean()), len(d), error, int((d > TIE).sum()))


def bootstrap_ratio_difference(
    ours: tuple[np.ndarray, np.ndarray],
    theirs: tuple[np.ndarray, np.ndarray],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Cell:
    """``mean(a) / mean(b) - mean(a') / mean(b')`` for per-image ``ours = (a, b)`` and ``theirs =
    (a', b')`` (the same n images, in the same order), with the paired bootstrap over the images:
    each of ``resamples`` draws n images with replacement (one draw for both rows, from a generator
    seeded with ``seed``) and recomputes the difference. The cell's interval is the draws'
    percentile interval of :data:`BOOTSTRAP_COVERAGE`, its error their standard deviation; draws where
    a denominator's mean is 0 are left out. The difference of a set whose denominator's mean is 0
    is NaN, with no interval."""
    (a, b), (c, d) = (tuple(np.asarray(x, dtype=np.float64) for x in pair) for pair in (ours, theirs))
    n = len(a)

    def ratio(numerators: np.ndarray, denominators: np.ndarray) -> np.ndarray:
        totals = denominators.sum(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(totals > 0, numerators.sum(axis=-1) / totals, np.nan)

    value = float(ratio(a, b) - ratio(c, d))
    if n < 2 or not math.isfinite(value):
        return Cell(value, n)
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    differences = ratio(a[draws], b[draws]) - ratio(c[draws], d[draws])
    differences = differences[np.isfinite(differences)]
    tail = (1 - BOOTSTRAP_COVERAGE) / 2 * 100
    low, high = np.percentile(differences, [tail, 100 - tail])
    return Cell(value, n, float(differences.std(ddof=1)), interval=(float(low), float(high)))


def paired_differences(per_image: PerImage, labels: dict[RowKey, str]) -> dict[RowKey, dict[str, Cell]]:
    """For every row of the (dataset, model) of a row labelled :data:`REFERENCE_METHOD`: per metric
    of :data:`PAIRED_METRICS`, the differences ``d_i`` between the reference and the row on the
    images both have, signed so that positive means the reference is better (``ref - row`` where
    higher is better, ``row - ref`` where lower is). Cell ``paired_{metric}``: their
    :func:`difference_cell`; for each ratio of :data:`PAIRED_RATIOS`, on the images where both rows
    have both parts, :func:`bootstrap_ratio_difference` (``ref - row``)."""
    paired: dict[RowKey, dict[str, Cell]] = defaultdict(dict)
    for reference in (key for key in per_image if labels.get(key) == REFERENCE_METHOD):
        for key, metrics in per_image.items():
            if key == reference or (key.dataset, key.model) != (reference.dataset, reference.model):
                continue
            for metric, better in PAIRED_METRICS.items():
                ours, theirs = per_image[reference].get(metric, {}), metrics.get(metric, {})
                images = sorted(ours.keys() & theirs.keys())
                if not images:
                    continue
                sign = 1.0 if better == "higher" else -1.0
                d = sign * np.array([ours[i] - theirs[i] for i in images], dtype=np.float64)
                paired[key][f"paired_{metric}"] = difference_cell(d)
            for ratio, (numerator, denominator) in PAIRED_RATIOS.items():
                rows = (per_image[reference], metrics)
                parts = [row.get(part, {}) for row in rows for part in (numerator, denominator)]
                shared = sorted(set.intersection(*(set(part) for part in parts)))
                if shared:
                    a, b, c, d = (np.array([part[i] for i in shared]) for part in parts)
                    paired[key][f"paired_{ratio}"] = bootstrap_ratio_difference((a, b), (c, d))
    return paired
