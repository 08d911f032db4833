"""Finding SUNY's hypothesised sets without intervening on every cause (issue 30).

``F_N`` and ``F_S`` are the ``size`` causes with the highest singleton effect (SUNY's Alg. 1, step 2).
The exhaustive search intervenes on every one of the K causes in both modes; the screen finds the
same top sets from a few exact interventions, as best-arm identification with a surrogate does
(GP-UCB, Srinivas et al. 2010; top-k identification, Kalyanakrishnan et al. 2012):

1. Each cause is described by ``phi_k``, what its intervention does to the image at the layer's
   resolution: its min-max normalised map times the image's mean absolute signal (the image minus
   the substrate, pooled to h x w). Equal descriptions are equal interventions, so the effect is a
   function of ``phi_k``; a constant map is no intervention at all.
2. A Gaussian process (squared-exponential kernel on ``phi``, mean that of the values seen, exact
   observations) fitted to the exact effects computed so far predicts every other cause's value
   ``mu_k`` with a standard deviation ``sigma_k``. Its hyperparameters (:data:`HYPERPARAMETERS`):
   the length scale is the median distance between descriptions and the signal variance that of
   the values seen ("median"), or the length scale is the one of :data:`LENGTH_SCALES` (times the
   median distance) with the highest leave-one-out log predictive density and the variance its
   maximum-likelihood value ``y^T K^-1 y / n`` ("leave-one-out"; Rasmussen & Williams 2006, 5.4.2).
   It fits the effects on a scale (:data:`SCALES`) that keeps their order, so the sets are the
   same on any: by default the log of the probability ratio
   ``p(intervened) / p`` (``-log(1 - E_N)`` and ``log E_S``), on which the heavy tail of ``E_S`` (a
   kept map can make the class 40 times likelier) no longer dominates the fit.
3. The first ``initial`` causes evaluated exactly are half the largest by ``sum(phi_k)`` (how much
   of the image the intervention changes) and half drawn at random (seeded), so that the surrogate
   sees the whole range. Then each round evaluates exactly the ``batch`` unevaluated causes with the
   highest upper bound ``mu_k + beta sigma_k``.
4. Stop when the ``size``-th largest exact value is at least every unevaluated cause's upper
   bound. ``beta`` is the larger of ``confidence`` and the surrogate's measured error: the largest
   leave-one-out standardised error ``|E_i - mu_{-i}| / sigma_{-i}`` over the causes evaluated
   (each predicted from all the others), so a surrogate that fits badly widens its own bounds.

The default setting (:data:`DEFAULT_SETTING`: the log-ratio scale, hyperparameters by
leave-one-out likelihood, ``confidence`` 2, 24 first evaluations, 8 a round) is the tuning rule's
choice of ``benchmarks/screening_replay.py`` on 42 Lite0 crops (the cheapest setting whose sets were
the exhaustive search's on 95% of them: 41 of 42), where the first setting (the effect scale, fixed
hyperparameters, ``confidence`` 3) had 83%. On the 158 held-out crops it has 92%, so the screen is
an option, not the default search: ``docs/results/screening/``.

The sets are then those of the exhaustive search whenever no unevaluated cause's effect exceeds its
bound; that is a statistical guarantee, not a proof, and ``docs/results/screening/`` measures how
often it holds. Everything after the sets (coalitions, Shapley values, maps) is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

#: Exact evaluations before the surrogate is first fitted, per game.
INITIAL = 24
#: Exact evaluations per round.
BATCH = 8
#: The smallest width of the upper bound, in standard deviations.
CONFIDENCE = 2.0
#: Added to the kernel's diagonal (relative): the effects are exact, this only keeps it invertible.
JITTER = 1e-6
#: The smallest probability ratio the log scale tells apart (below it, ratios are equal).
TINY_RATIO = 1e-30

Game = Literal["necessity", "sufficiency"]
Scale = Literal["effect", "log-ratio", "log-sufficiency"]
Hyperparameters = Literal["median", "leave-one-out"]


def _effect(effects: Tensor) -> Tensor:
    return effects


def _log_removed_ratio(effects: Tensor) -> Tensor:
    """``log(p / p(remove)) = -log(1 - E_N)``."""
    return -torch.log((1 - effects).clamp_min(TINY_RATIO))


def _log_kept_ratio(effects: Tensor) -> Tensor:
    """``log(p(keep) / p) = log E_S``."""
    return torch.log(effects.clamp_min(TINY_RATIO))


#: What the surrogate fits, per scale and game: an increasing function of the effect, so the top
#: sets are those of the effects. "log-ratio" fits the log of both probability ratios;
#: "log-sufficiency" only E_S's (an unbounded ratio with a heavy tail), E_N as it is (at most 1).
SCALES: dict[Scale, dict[Game, Callable[[Tensor], Tensor]]] = {
    "effect": {"necessity": _effect, "sufficiency": _effect},
    "log-ratio": {"necessity": _log_removed_ratio, "sufficiency": _log_kept_ratio},
    "log-sufficiency": {"necessity": _effect, "sufficiency": _log_kept_ratio},
}


def _sample_variance(values: Tensor, solved: Tensor) -> Tensor:
    """The variance of the values seen (1 for a single value)."""
    return values.var() if len(values) > 1 else values.new_tensor(1.0)


def _likeliest_variance(values: Tensor, solved: Tensor) -> Tensor:
    """The signal variance that maximises the likelihood: ``y^T K^-1 y / n`` (``y`` centred)."""
    return (values - values.mean()) @ solved / len(values)


@dataclass(frozen=True)
class HyperparameterRule:
    """The length scales tried (in units of the median distance between descriptions; the one with
    the highest leave-one-out log predictive density is kept) and the signal variance, from the
    values and ``K^-1 y`` (``y`` the values centred)."""

    length_scales: tuple[float, ...]
    variance: Callable[[Tensor, Tensor], Tensor]


#: Length scales the "leave-one-out" rule tries, in units of the median distance.
LENGTH_SCALES = (0.25, 0.5, 1.0, 2.0)
#: How the surrogate sets its hyperparameters (module docstring).
HYPERPARAMETERS: dict[Hyperparameters, HyperparameterRule] = {
    "median": HyperparameterRule((1.0,), _sample_variance),
    "leave-one-out": HyperparameterRule(LENGTH_SCALES, _likeliest_variance),
}


@dataclass(frozen=True)
class ScreenSetting:
    """How the screen runs (module docstring): exact evaluations before the surrogate is first
    fitted, per round, the smallest width of the upper bounds in standard deviations, the scale
    the surrogate fits the effects on, and how it sets its hyperparameters."""

    initial: int = INITIAL
    batch: int = BATCH
    confidence: float = CONFIDENCE
    scale: Scale = "log-ratio"
    hyperparameters: Hyperparameters = "leave-one-out"


#: The screen's setting unless told.
DEFAULT_SETTING = ScreenSetting()


@dataclass
class ScreenedSet:
    """The ``size`` causes with the highest effect (best first) and the exact effects computed (NaN
    where none)."""

    members: Tensor
    effects: Tensor


def descriptions(maps: Tensor, signal: Tensor) -> Tensor:
    """``phi`` (K, h * w) of maps (K, h, w): each min-max normalised (a constant map gives 0) times
    ``signal`` (h, w), the image's mean absolute difference to the substrate at that resolution."""
    flat = maps.flatten(start_dim=1).double()
    low, high = flat.amin(dim=1, keepdim=True), flat.amax(dim=1, keepdim=True)
    normalised = torch.where(high > low, (flat - low) / (high - low).clamp_min(1e-300), 0.0)
    return normalised * signal.flatten().double()


@dataclass
class _Fit:
    """The surrogate conditioned on some values with one length scale."""

    length_scale: float
    cholesky: Tensor
    weights: Tensor
    scale: Tensor
    inverse_diagonal: Tensor

    def leave_one_out_density(self) -> float:
        """``sum_i log N(y_i; mu_{-i}, sigma_{-i}^2)`` up to a constant: residual ``(K^-1 y)_i /
        (K^-1)_ii`` and variance ``scale / (K^-1)_ii``."""
        variance = self.scale / self.inverse_diagonal
        residual = self.weights / self.inverse_diagonal
        return float((-0.5 * residual.square() / variance - 0.5 * variance.log()).sum())


class Surrogate:
    """A Gaussian process over descriptions ``phi`` fitted to exact effects (module docstring)."""

    def __init__(self, features: Tensor, hyperparameters: Hyperparameters) -> None:
        self.features = features.double()
        self.rule = HYPERPARAMETERS[hyperparameters]
        distances = torch.pdist(self.features) if len(features) > 1 else features.new_ones(1)
        positive = distances[distances > 0]
        self.median_distance = float(positive.median()) if positive.numel() else 1.0

    @staticmethod
    def _kernel(a: Tensor, b: Tensor, length_scale: float) -> Tensor:
        return torch.exp(-torch.cdist(a, b).square() / (2 * length_scale**2))

    def _conditioned(self, x: Tensor, values: Tensor, length_scale: float) -> _Fit:
        gram = self._kernel(x, x, length_scale)
        jitter, failed = JITTER, 1
        while failed:  # equal descriptions (masks that differ only where the image is the substrate)
            cholesky, info = torch.linalg.cholesky_ex(gram + jitter * torch.eye(len(x), dtype=torch.float64))
            failed, jitter = int(info), jitter * 100
        solved = torch.cholesky_solve((values - self.mean)[:, None], cholesky)[:, 0]
        scale = self.rule.variance(values, solved).clamp_min(1e-12)
        diagonal = torch.cholesky_inverse(cholesky).diagonal().clamp_min(1e-300)
        return _Fit(length_scale, cholesky, solved, scale, diagonal)

    def fit(self, observed: Tensor, values: Tensor) -> None:
        """Condition on the exact ``values`` of the causes ``observed``."""
        self.observed, self.values = observed, values
        self.mean = values.mean()
        x = self.features[observed]
        candidates = [self._conditioned(x, values, self.median_distance * m) for m in self.rule.length_scales]
        best = max(candidates, key=_Fit.leave_one_out_density)
        self.length_scale, self.cholesky, self.weights = best.length_scale, best.cholesky, best.weights
        self.scale, self._inverse_diagonal = best.scale, best.inverse_diagonal

    def predict(self, queried: Tensor) -> tuple[Tensor, Tensor]:
        """(mean, standard deviation) of the effects of the causes ``queried``."""
        cross = self._kernel(self.features[self.observed], self.features[queried], self.length_scale)
        solved = torch.cholesky_solve(cross, self.cholesky)
        variance = (1 - (cross * solved).sum(dim=0)).clamp_min(0) * self.scale
        return self.mean + cross.T @ self.weights, variance.sqrt()

    def leave_one_out(self) -> Tensor:
        """``|E_i - mu_{-i}| / sigma_{-i}`` of every observed cause, each predicted from the others
        (closed form: ``(K^-1 y)_i / sqrt((K^-1)_ii)`` in the kernel's units)."""
        return self.weights.abs() / self._inverse_diagonal.sqrt() / self.scale.sqrt()


def screen_top(
    features: Tensor,
    evaluate: Callable[[Tensor], Tensor],
    size: int,
    known: Tensor | None = None,
    setting: ScreenSetting = DEFAULT_SETTING,
    game: Game = "necessity",
    seed: int = 0,
) -> ScreenedSet:
    """The ``size`` causes with the highest effect, evaluating few exactly (module docstring).

    Args:
        features: ``phi`` (K, d) of every cause (:func:`descriptions`).
        evaluate: exact effects (n,) float64 of the causes at the given indices (n,).
        size: how many causes the set has.
        known: effects already known (K,), NaN elsewhere (constant maps, causes evaluated before).
        setting: the screen's setting.
        game: whose effects ``evaluate`` gives (it picks the scale's function, :data:`SCALES`).
        seed: of the random half of the first evaluations.

    Returns:
        The set (best first) and every exact effect (NaN where none).
    """
    count = len(features)
    effects = (
        torch.full((count,), torch.nan, dtype=torch.float64) if known is None else known.double().clone()
    )
    size = min(size, count)
    to_scale = SCALES[setting.scale][game]
    initial = setting.initial

    def measure(indices: Tensor) -> None:
        indices = indices[effects[indices].isnan()]
        if indices.numel():
            effects[indices] = evaluate(indices).double().cpu()

    extent = features.double().sum(dim=1)
    largest = torch.argsort(extent, descending=True, stable=True)[: initial - initial // 2]
    generator = torch.Generator().manual_seed(seed)
    shuffled = torch.randperm(count, generator=generator)
    chosen = torch.cat([largest, shuffled[~torch.isin(shuffled, largest)][: initial // 2]])
    measure(chosen)
    surrogate = Surrogate(features, setting.hyperparameters)
    while True:
        observed = (~effects.isnan()).nonzero()[:, 0]
        others = effects.isnan().nonzero()[:, 0]
        if others.numel() == 0:
            break
        values = to_scale(effects[observed])
        threshold = torch.topk(values, min(size, len(values))).values[-1]
        surrogate.fit(observed, values)
        beta = max(setting.confidence, float(surrogate.leave_one_out().max()))
        mean, deviation = surrogate.predict(others)
        bounds = mean + beta * deviation
        if len(values) >= size and bool((bounds <= threshold).all()):
            break
        measure(others[torch.topk(bounds, min(setting.batch, len(others))).indices])
    observed = (~effects.isnan()).nonzero()[:, 0]
    order = torch.argsort(effects[observed], descending=True, stable=True)
    return ScreenedSet(observed[order[:size]], effects)
