"""SUNY (paper Alg. 1): necessity and sufficiency responsibilities of a layer's causes.

For class c and causes k = 1..K (feature maps or filters of one layer):

1. singleton effects ``E_N({k}) = (p_c(x) - p_c(remove k)) / p_c(x)`` (Eq. 1) and
   ``E_S({k}) = p_c(keep k) / p_c(x)`` (Eq. 2) for every k (2K interventions);
2. hypothesised sets ``F_N`` / ``F_S``: the ``set_size`` causes with the highest singleton effect
   (found by intervening on every cause, or, with ``search="screen"``, on the few that a surrogate
   of the effects points at: :mod:`suny.method.screening`);
3. responsibilities ``R_N(f)``, ``R_S(f)``: Shapley values of f in the games (F_N, E_N) and
   (F_S, E_S) (Eqs. 3-4), exact for small sets, else by permutation sampling; 0 outside the sets;
4. maps ``N = minmax(up(relu(sum_k R_N(k) A_k)))``, ``S = minmax(up(relu(sum_k R_S(k) A_k)))`` and
   the combined map (default ``minmax(N * S)``, :data:`DEFAULT_COMBINATION`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, get_args, overload

import torch
from torch import Tensor
from tqdm.auto import tqdm

from suny.engine import Precision, resolve_precision
from suny.errors import OptionError, SunyError, TargetError
from suny.interventions.feature import Substrate
from suny.method.causes import Causes, FeatureCauses, causes_of
from suny.method.explanation import CauseType, Explanation, thumbnail
from suny.method.progress import ProgressCallback, RunProgress
from suny.method.screening import DEFAULT_SETTING, ScreenSetting
from suny.method.search import (
    ExhaustiveSearch,
    ScreenedSearch,
    Selection,
    SetSearch,
    Singletons,
    clean_probability,
)
from suny.method.shapley import CachedGame, ShapleyEstimate, exact_shapley, sampled_shapley
from suny.models.wrapper import ImageClassifier, preserved_mode
from suny.ops import minmax, weighted_map

Combination = Literal["sum", "product", "necessity", "sufficiency"]
COMBINATIONS: tuple[str, ...] = ("sum", "product", "necessity", "sufficiency")
#: How F_N and F_S are found: every cause's singleton effect, or the screen (SUNY-feature only).
Search = Literal["exhaustive", "screen"]
SEARCHES: tuple[str, ...] = ("exhaustive", "screen")
#: How N and S make the single map unless told: the tuning rule's winner on the 200 development
#: crops (docs/results/README.md), whose product beat Score-CAM on pointing at every set size.
DEFAULT_COMBINATION: Combination = "product"

#: Default size of F_N and F_S per cause type. SUNY-feature: 4, the tuning rule's winner on the 200
#: development crops (the cheapest of the eight products, every one of which beat Score-CAM on
#: pointing). SUNY-filter: 16, from the previous protocol's run (the rule picks one candidate, and
#: its pick is a feature one; a filter coalition only re-runs the network's tail, so size is cheap).
DEFAULT_SET_SIZE: dict[str, int] = {"feature": 4, "filter": 16}


def combine(necessity_map: Tensor, sufficiency_map: Tensor, rule: Combination) -> Tensor:
    """The single SUNY map: ``minmax(N + S)`` (sum), ``minmax(N * S)`` (product), or N or S alone."""
    if rule == "sum":
        return minmax(necessity_map + sufficiency_map)
    if rule == "product":
        return minmax(necessity_map * sufficiency_map)
    if rule == "necessity":
        return necessity_map
    if rule == "sufficiency":
        return sufficiency_map
    raise SunyError(f"unknown combination {rule!r}; use one of {', '.join(COMBINATIONS)}")


class Suny:
    """The SUNY explainer for one model and layer.

    Args:
        model: the classifier to explain.
        layer: the layer whose causes are explained (default: the model's default layer).
        cause: "feature" (feature maps of ``layer``; interventions mask the input) or "filter"
            (filters of the convolution behind ``layer``; interventions prune them).
        set_size: size of the hypothesised sets F_N and F_S (default: :data:`DEFAULT_SET_SIZE`).
        permutations: Shapley sampling rounds (the games are solved exactly instead when that costs
            no more coalitions, or when ``exact=True``).
        exact: force (True) or forbid (False) exact enumeration.
        combination: how N and S make the single map (:func:`combine`; default :data:`DEFAULT_COMBINATION`).
        substrate: what removed pixels become (SUNY-feature).
        search: how F_N and F_S are found: ``"exhaustive"`` (every cause's singleton effects) or
            ``"screen"`` (SUNY-feature: exact interventions on the causes a surrogate points at,
            :mod:`suny.method.screening`).
        screen_setting: how the screen runs (``search="screen"``;
            :class:`~suny.method.screening.ScreenSetting`).
        batch_size: interventions per forward pass (default: 128 on CUDA, 16 on the CPU).
        precision: of the interventions' forward passes (:mod:`suny.engine.precision`).
        seed: of the Shapley sampling (same seed, same result).
        progress: a progress bar (None: only on a terminal).
        on_progress: told the interventions made so far after every forward pass (of at most
            :meth:`planned_interventions`); raising from it stops the run (:mod:`suny.method.progress`).
    """

    def __init__(
        self,
        model: ImageClassifier,
        layer: str | None = None,
        cause: CauseType = "feature",
        set_size: int | None = None,
        permutations: int = 16,
        exact: bool | None = None,
        combination: Combination = DEFAULT_COMBINATION,
        substrate: Substrate = "black",
        batch_size: int | None = None,
        precision: Precision = "float32",
        seed: int = 0,
        progress: bool | None = False,
        search: Search = "exhaustive",
        on_progress: ProgressCallback | None = None,
        screen_setting: ScreenSetting = DEFAULT_SETTING,
    ) -> None:
        if cause not in ("feature", "filter"):
            raise SunyError(f"unknown cause type {cause!r}; use feature or filter")
        if search not in SEARCHES:
            raise SunyError(f"unknown search {search!r}; use one of {', '.join(SEARCHES)}")
        if substrate not in get_args(Substrate):
            raise OptionError(f"unknown substrate {substrate!r}; use {', '.join(get_args(Substrate))}")
        if search == "screen" and cause != "feature":
            raise SunyError(
                "the screen finds SUNY-feature's sets; SUNY-filter's singletons are cheap already"
            )
        set_size = DEFAULT_SET_SIZE[cause] if set_size is None else set_size
        if set_size < 1 or permutations < 1:
            raise SunyError("set_size and permutations must be at least 1")
        combine(torch.zeros(1, 1), torch.zeros(1, 1), combination)  # validates the rule
        self.model = model
        self.layer = layer or model.default_layer
        model.layer(self.layer)  # a clear error listing the valid layers
        self.cause: CauseType = cause
        self.set_size = set_size
        self.permutations = permutations
        self.exact = exact
        self.combination: Combination = combination
        self.substrate: Substrate = substrate
        self.batch_size = batch_size or (128 if model.device.type == "cuda" else 16)
        self.precision = resolve_precision(precision, model.device)
        self.seed = seed
        self.progress = progress
        self.search: Search = search
        self.screen_setting = screen_setting
        self.on_progress = on_progress

    @overload
    def explain(self, image: Tensor, target: int | None = None) -> Explanation: ...

    @overload
    def explain(self, image: Tensor, target: Sequence[int]) -> list[Explanation]: ...

    def explain(
        self, image: Tensor, target: int | Sequence[int] | None = None
    ) -> Explanation | list[Explanation]:
        """Explain one image (3, H, W) or (1, 3, H, W) in [0, 1].

        Args:
            image: the image.
            target: the class to explain (default: the predicted class), or a list of classes:
                the singleton interventions are shared, each class adds only its own coalitions.

        Returns:
            The explanation, or one per class of a list.
        """
        start = time.perf_counter()
        causes, bar = self._prepare(image)
        try:
            targets = self._targets(causes, target)
            if bar is not None:
                bar.total = self.planned_interventions(causes.num_causes, len(targets))
            search = self.set_search(causes, start)
            explanations = [self.explain_class(causes, search, c) for c in targets]
        finally:
            if bar is not None:
                bar.close()
        return explanations if isinstance(target, Sequence) else explanations[0]

    def prepare(self, image: Tensor) -> Causes[Any]:
        """The causes of ``image``, for :meth:`singletons` and :meth:`explain_class`.

        One forward pass (for filters, also the pruning point's values and the per-channel
        corrections).

        Args:
            image: (3, H, W) or (1, 3, H, W) in [0, 1].

        Returns:
            The causes, with their cache of interventions.
        """
        return self._prepare(image, progress=False)[0]

    def planned_interventions(self, num_causes: int, classes: int = 1) -> int | None:
        """The interventions explaining ``classes`` classes over ``num_causes`` causes asks for.

        At most (fewer where coalitions are known); None with the screen, which decides as it goes.
        """
        if self.search == "screen":
            return None
        return 2 * num_causes + 2 * self._shapley_budget() * classes

    def _prepare(self, image: Tensor, progress: bool | None = None) -> tuple[Causes[Any], tqdm[Any] | None]:
        image = image.reshape(1, *image.shape[-3:]).to(self.model.device)
        show = self.progress if progress is None else progress
        bar = (
            None
            if show is False
            else tqdm(
                desc=f"SUNY-{self.cause}",
                unit="intervention",
                leave=False,
                disable=None if show is None else not show,
            )
        )
        with preserved_mode(self.model):
            self.model.eval()
            causes = causes_of(
                self.cause,
                self.model,
                self.layer,
                image,
                self.batch_size,
                self.precision,
                self.substrate,
                RunProgress(bar, self.on_progress).update,
            )
        return causes, bar

    def _targets(self, causes: Causes[Any], target: int | Sequence[int] | None) -> list[int]:
        if target is None:
            return [int(causes.logits.argmax(dim=1))]
        targets = [int(t) for t in target] if isinstance(target, Sequence) else [int(target)]
        if not targets:
            raise TargetError("no class to explain: the list of targets is empty")
        for t in targets:
            if not 0 <= t < self.model.num_classes:
                raise TargetError(
                    f"class index {t} is out of range: {self.model.name} has classes "
                    f"0..{self.model.num_classes - 1}"
                )
        return targets

    def singletons(self, causes: Causes[Any], start: float | None = None) -> Singletons:
        """Remove and keep every cause alone (2K interventions, every class at once)."""
        start = time.perf_counter() if start is None else start
        with preserved_mode(self.model):
            self.model.eval()
            removed, kept = causes.singletons("remove"), causes.singletons("keep")
        return Singletons(
            removed,
            kept,
            causes.clean_probabilities(),
            causes.forward_passes,
            causes.interventions,
            time.perf_counter() - start,
        )

    def set_search(self, causes: Causes[Any], start: float | None = None) -> SetSearch:
        """The search of F_N and F_S over ``causes`` that :attr:`search` names.

        Args:
            causes: from :meth:`prepare`.
            start: when the explanation started (the exhaustive search's seconds count from it).

        Returns:
            The search; the exhaustive one has made its 2K singleton interventions, for every class.
        """
        if self.search == "screen" and isinstance(causes, FeatureCauses):
            return ScreenedSearch(causes, self.seed, self.screen_setting)
        return ExhaustiveSearch(self.singletons(causes, start))

    def explain_class(self, causes: Causes[Any], search: SetSearch, target: int) -> Explanation:
        """Hypothesised sets, responsibilities and maps of class ``target``.

        A search serves every class, set size and sampling budget (the tuning benchmark reuses an
        exhaustive one). The explanation's cost is the search's shared cost and what this class
        adds (its own screen, its coalitions).

        Args:
            causes: from :meth:`prepare`.
            search: from :meth:`set_search`.
            target: the class.

        Returns:
            The explanation.
        """
        start, passes, interventions = time.perf_counter(), causes.forward_passes, causes.interventions
        K = causes.num_causes
        with preserved_mode(self.model):
            self.model.eval()
            selection = search.select(target, self.set_size)
        necessity_effects, sufficiency_effects = selection.necessity_effects, selection.sufficiency_effects
        necessary, sufficient = selection.necessary, selection.sufficient
        p = clean_probability(causes.clean_probabilities(), target)

        def necessity_game(coalitions: Tensor) -> Tensor:
            return (p - causes.probabilities(coalitions, necessary, "remove")[:, target]) / p

        def sufficiency_game(coalitions: Tensor) -> Tensor:
            return causes.probabilities(coalitions, sufficient, "keep")[:, target] / p

        with preserved_mode(self.model):
            self.model.eval()
            r_n = self._solve(necessity_game, necessary, necessity_effects, empty_value=0.0)
            r_s = self._solve(sufficiency_game, sufficient, sufficiency_effects, empty_value=None)

        def spread(values: Tensor, players: Tensor) -> Tensor:
            full = torch.zeros(K, dtype=torch.float64)
            full[players] = values
            return full

        necessity, sufficiency = spread(r_n.values, necessary), spread(r_s.values, sufficient)
        height, width = causes.image.shape[-2:]
        necessity_map, sufficiency_map = weighted_map(
            torch.stack([necessity, sufficiency]), causes.activations.expand(2, -1, -1, -1), (height, width)
        )
        return Explanation(
            necessity_map=necessity_map,
            sufficiency_map=sufficiency_map,
            combined_map=combine(necessity_map, sufficiency_map, self.combination),
            target=target,
            target_name=self.model.class_name(target),
            probability=float(causes.clean_probabilities()[target]),
            necessity_effects=necessity_effects,
            sufficiency_effects=sufficiency_effects,
            necessary_set=necessary.tolist(),
            sufficient_set=sufficient.tolist(),
            necessity=necessity,
            necessity_stderr=spread(r_n.stderr, necessary),
            sufficiency=sufficiency,
            sufficiency_stderr=spread(r_s.stderr, sufficient),
            layer=causes.layer,
            cause=self.cause,
            seed=self.seed,
            forward_passes=search.forward_passes + causes.forward_passes - passes,
            interventions=search.interventions + causes.interventions - interventions,
            combination=self.combination,
            model_name=self.model.name,
            thumbnail=thumbnail(causes.image),
            seconds=search.seconds + time.perf_counter() - start,
            game_values={
                "necessity_full": r_n.full_value,
                "necessity_empty": r_n.empty_value,
                "sufficiency_full": r_s.full_value,
                "sufficiency_empty": r_s.empty_value,
            },
        )

    def _use_exact(self, n: int) -> bool:
        if self.exact is not None:
            return self.exact
        return bool(2**n <= self.permutations * max(n - 1, 1) + 2)

    def _shapley_budget(self) -> int:
        n = self.set_size
        return 2**n if self._use_exact(n) else self.permutations * max(n - 1, 1) + 1

    def _solve(
        self,
        game: Callable[[Tensor], Tensor],
        players: Tensor,
        singleton_effects: Tensor,
        empty_value: float | None,
    ) -> ShapleyEstimate:
        """Shapley values of ``game`` over ``players``.

        The singleton effects (and the empty set's value when it is known) are reused, not
        evaluated again.
        """
        n = len(players)
        cached = CachedGame(game, n)
        cached.seed(torch.eye(n, dtype=torch.bool), singleton_effects[players])
        if empty_value is not None:
            cached.seed(torch.zeros(1, n, dtype=torch.bool), torch.tensor([empty_value]))
        if self._use_exact(n):
            return exact_shapley(cached, n)
        generator = torch.Generator().manual_seed(self.seed)
        return sampled_shapley(cached, n, self.permutations, generator)


__all__ = [
    "COMBINATIONS",
    "SEARCHES",
    "ExhaustiveSearch",
    "ProgressCallback",
    "ScreenedSearch",
    "Selection",
    "SetSearch",
    "Singletons",
    "Suny",
    "combine",
]
