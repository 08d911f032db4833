"""How SUNY finds its hypothesised sets F_N and F_S for a class: every cause's singleton effects
(:class:`ExhaustiveSearch`, the paper's Alg. 1 step 2) or the screen (:class:`ScreenedSearch`,
:mod:`suny.method.screening`), behind one small interface (:class:`SetSearch`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from suny.method.causes import FeatureCauses, Mode
from suny.method.screening import DEFAULT_SETTING, Game, ScreenSetting, descriptions, screen_top

#: Each intervention mode's game.
MODES: dict[Mode, Game] = {"remove": "necessity", "keep": "sufficiency"}


def singleton_effects(probability: float, removed: Tensor, kept: Tensor) -> tuple[Tensor, Tensor]:
    """Singleton effects ``E_N({k}) = (p - p(remove k)) / p`` and ``E_S({k}) = p(keep k) / p``.

    Args:
        probability: ``p``, the image's probability of the class.
        removed: the class's probabilities after removing each of some causes.
        kept: the class's probabilities after keeping each of them alone.

    Returns:
        ``E_N`` and ``E_S`` of those causes, float64.
    """
    return ((probability - removed) / probability).double(), (kept / probability).double()


@dataclass
class Singletons:
    """Class probabilities (K, classes) after removing and after keeping each cause alone.

    These 2K interventions serve every class; ``clean`` is the image's own (classes,), and the
    counts are those when they were done.
    """

    removed: Tensor
    kept: Tensor
    clean: Tensor
    forward_passes: int
    interventions: int
    seconds: float

    def effects(self, target: int) -> tuple[Tensor, Tensor]:
        """The singleton effects of class ``target``.

        Args:
            target: the class.

        Returns:
            ``E_N({k}) = (p - p(remove k)) / p`` and ``E_S({k}) = p(keep k) / p`` (K,), float64.
        """
        p = clean_probability(self.clean, target)
        return singleton_effects(p, self.removed[:, target], self.kept[:, target])


@dataclass
class Selection:
    """``F_N`` and ``F_S`` of one class (best first), and the effects they were chosen by.

    The singleton effects (K,) are NaN for the causes a search did not intervene on.
    """

    necessity_effects: Tensor
    sufficiency_effects: Tensor
    necessary: Tensor
    sufficient: Tensor


def top_set(effects: Tensor, size: int) -> Tensor:
    """The ``size`` causes with the highest effect, best first (NaN effects last)."""
    return torch.topk(effects.nan_to_num(nan=-torch.inf), min(size, len(effects)), sorted=True).indices


class SetSearch(ABC):
    """How :class:`Suny` finds F_N and F_S for a class of one image's causes.

    ``forward_passes``, ``interventions`` and ``seconds`` are the search's cost shared by every
    class (each explanation counts it in full); what a class's own search costs, the causes'
    counters show.
    """

    forward_passes = 0
    interventions = 0
    seconds = 0.0

    @abstractmethod
    def select(self, target: int, size: int) -> Selection:
        """The sets of class ``target``, ``size`` causes each."""


class ExhaustiveSearch(SetSearch):
    """Every cause's singleton effects (2K interventions for every class at once), then the top."""

    def __init__(self, singletons: Singletons) -> None:
        self.singletons = singletons
        self.forward_passes = singletons.forward_passes
        self.interventions = singletons.interventions
        self.seconds = singletons.seconds

    def select(self, target: int, size: int) -> Selection:
        """The top ``size`` causes of each game by the singletons of class ``target``."""
        necessity, sufficiency = self.singletons.effects(target)
        return Selection(necessity, sufficiency, top_set(necessity, size), top_set(sufficiency, size))


class ScreenedSearch(SetSearch):
    """The screen of :mod:`suny.method.screening` over SUNY-feature's causes, one per distinct mask.

    Causes with equal masks are one intervention, and the constant maps (mask 0) one more, whose
    effects are known after at most one pass (removing nothing is the image; keeping nothing, the
    substrate). A class's screen reuses every intervention an earlier class made.
    """

    def __init__(
        self, causes: FeatureCauses, seed: int = 0, setting: ScreenSetting = DEFAULT_SETTING
    ) -> None:
        self.causes = causes
        self.seed = seed
        self.setting = setting
        identities = causes.masks.identities.cpu()
        distinct = torch.unique(identities[identities >= 0])
        self.arms = torch.tensor([causes.representative(int(i)) for i in distinct], dtype=torch.long)
        #: Cause -> its arm (distinct masks first; the constant maps, if any, the last arm).
        self.arm_of = torch.searchsorted(distinct, identities).clamp_max(max(len(distinct) - 1, 0))
        self.constant = identities < 0
        height, width = causes.activations.shape[-2:]
        signal = causes.masks.signal_at((int(height), int(width)))
        features = descriptions(causes.activations[0, self.arms].cpu(), signal.cpu())
        if self.constant.any():
            self.arm_of[self.constant] = len(distinct)
            features = torch.cat([features, features.new_zeros(1, features.shape[1])])
        self.features = features

    def select(self, target: int, size: int) -> Selection:
        """The screened top ``size`` causes of each game for class ``target``."""
        p = clean_probability(self.causes.clean_probabilities(), target)
        necessity, sufficiency = (
            self.screen(self._intervened(target, p, mode), size, mode) for mode in MODES
        )
        return Selection(necessity, sufficiency, top_set(necessity, size), top_set(sufficiency, size))

    def _intervened(self, target: int, p: float, mode: Mode) -> Callable[[Tensor], Tensor]:
        """The singleton effects of ``mode`` of some causes, each intervened on alone."""

        def effects(players: Tensor) -> Tensor:
            alone = torch.eye(len(players), dtype=torch.bool)
            rows = self.causes.probabilities(alone, players, mode)[:, target]
            return singleton_effects(p, rows, rows)[0 if mode == "remove" else 1]

        return effects

    def screen(self, effects_of: Callable[[Tensor], Tensor], size: int, mode: Mode) -> Tensor:
        """The effects (K,) of ``mode`` that the screen measured (NaN elsewhere), asking
        ``effects_of`` (cause indices -> their exact singleton effects) for them; a replay of the
        screen passes effects known beforehand (``benchmarks/screening_replay.py``)."""
        known = torch.full((len(self.features),), torch.nan, dtype=torch.float64)
        if self.constant.any():  # one of them stands for all: their interventions are the same
            known[-1] = effects_of(self.constant.nonzero()[:1, 0])[0]
        screened = screen_top(
            self.features,
            lambda arms: effects_of(self.arms[arms]),
            size,
            known,
            self.setting,
            MODES[mode],
            self.seed,
        )
        return screened.effects[self.arm_of]


def clean_probability(clean: Tensor, target: int) -> float:
    """``p_c(x)``, at least the smallest positive float32 (the games divide by it)."""
    return max(float(clean[target]), torch.finfo(torch.float32).tiny)
