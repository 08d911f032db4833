"""SUNY (paper Alg. 1): necessity and sufficiency responsibilities of a layer's causes.

For class c and causes k = 1..K (feature maps or filters of one layer):

1. singleton effects ``E_N({k}) = (p_c(x) - p_c(remove k)) / p_c(x)`` (Eq. 1) and
   ``E_S({k}) = p_c(keep k) / p_c(x)`` (Eq. 2) for every k (2K interventions);
2. hypothesised sets ``F_N`` / ``F_S``: the ``set_size`` causes with the highest singleton effect;
3. responsibilities ``R_N(f)``, ``R_S(f)``: Shapley values of f in the games (F_N, E_N) and
   (F_S, E_S) (Eqs. 3-4), exact for small sets, else by permutation sampling; 0 outside the sets;
4. maps ``N = minmax(up(relu(sum_k R_N(k) A_k)))``, ``S = minmax(up(relu(sum_k R_S(k) A_k)))`` and
   the combined map (default ``minmax(N + S)``).
"""

from __future__ import annotations

import time
from typing import Literal

import torch
from torch import Tensor
from tqdm.auto import tqdm

from suny.errors import SunyError
from suny.interventions.feature import Substrate
from suny.method.causes import Causes, FeatureCauses, FilterCauses, Precision
from suny.method.explanation import CauseType, Explanation
from suny.method.shapley import CachedGame, ShapleyEstimate, exact_shapley, sampled_shapley
from suny.models.wrapper import ImageClassifier, preserved_mode
from suny.ops import minmax, weighted_map

Combination = Literal["sum", "product", "necessity", "sufficiency"]
COMBINATIONS: tuple[str, ...] = ("sum", "product", "necessity", "sufficiency")

#: Default size of F_N and F_S per cause type, from the tuning run (docs/results/README.md): on the
#: development crops SUNY-feature's overall AUC is flat from 4 to 16 causes, so the cheapest size
#: (exact Shapley values, 16% fewer passes than 8) is the default; SUNY-filter gains 0.1 overall AUC
#: from 8 to 16 filters, and its coalitions only re-run the network's tail.
DEFAULT_SET_SIZE: dict[str, int] = {"feature": 4, "filter": 16}


def combine(necessity_map: Tensor, sufficiency_map: Tensor, rule: Combination = "sum") -> Tensor:
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

    ``cause``: "feature" (feature maps of ``layer``; interventions mask the input) or "filter"
    (filters of the convolution behind ``layer``; interventions prune them). ``set_size``: size of
    the hypothesised sets F_N and F_S (default: :data:`DEFAULT_SET_SIZE` of the cause type).
    ``permutations``: Shapley sampling rounds (the games are solved exactly instead when that costs
    no more coalitions, or when ``exact=True``).
    """

    def __init__(
        self,
        model: ImageClassifier,
        layer: str | None = None,
        cause: CauseType = "feature",
        set_size: int | None = None,
        permutations: int = 16,
        exact: bool | None = None,
        combination: Combination = "sum",
        substrate: Substrate = "black",
        batch_size: int | None = None,
        precision: Precision = "float32",
        seed: int = 0,
        progress: bool | None = False,
    ) -> None:
        if cause not in ("feature", "filter"):
            raise SunyError(f"unknown cause type {cause!r}; use feature or filter")
        set_size = DEFAULT_SET_SIZE[cause] if set_size is None else set_size
        if set_size < 1 or permutations < 1:
            raise SunyError("set_size and permutations must be at least 1")
        combine(torch.zeros(1, 1), torch.zeros(1, 1), combination)  # validates the rule
        self.model = model
        self.layer = layer or model.default_layer
        model.layer(self.layer)  # a clear error listing the valid layers
        self.cause = cause
        self.set_size = set_size
        self.permutations = permutations
        self.exact = exact
        self.combination = combination
        self.substrate = substrate
        on_gpu = model.device.type == "cuda"
        self.batch_size = batch_size or (128 if on_gpu else 16)
        self.precision = precision
        self.seed = seed
        self.progress = progress

    def explain(self, image: Tensor, target: int | None = None) -> Explanation:
        """Explain class ``target`` (default: the predicted class) for one image (3, H, W) or
        (1, 3, H, W) in [0, 1]."""
        start = time.perf_counter()
        causes = self.prepare(image, target)
        try:
            return self.explain_prepared(causes, self.singleton_effects(causes), start)
        finally:
            if causes.progress is not None:
                causes.progress.close()

    def prepare(self, image: Tensor, target: int | None = None) -> Causes:
        """The causes of ``image`` for class ``target`` (default: the prediction): one forward
        pass (or the head pass and one tail replay, for filters)."""
        image = image.reshape(1, *image.shape[-3:]).to(self.model.device)
        disable = None if self.progress is None else not self.progress  # None: only on a terminal
        bar = tqdm(desc=f"SUNY-{self.cause}", unit="pass", disable=disable, leave=False)
        options = dict(batch_size=self.batch_size, precision=self.precision, progress=bar)
        with preserved_mode(self.model):
            self.model.eval()
            if self.cause == "feature":
                causes = FeatureCauses(self.model, self.layer, image, substrate=self.substrate, **options)
            else:
                causes = FilterCauses(self.model, self.layer, image, **options)
        if target is None:
            target = int(causes.logits.argmax(dim=1))
        elif not 0 <= target < self.model.num_classes:
            raise SunyError(
                f"class index {target} is out of range: {self.model.name} has classes "
                f"0..{self.model.num_classes - 1}"
            )
        causes.set_target(target)
        bar.total = 2 * causes.num_causes + 2 * self._shapley_budget()
        return causes

    def singleton_effects(self, causes: Causes) -> tuple[Tensor, Tensor]:
        """``E_N({k})`` and ``E_S({k})`` of every cause (2K interventions), float64 on the CPU."""
        p = self._clean_probability(causes)
        everyone = torch.arange(causes.num_causes)
        singletons = torch.eye(causes.num_causes, dtype=torch.bool)
        with preserved_mode(self.model):
            self.model.eval()
            removed = causes.probabilities(singletons, everyone, "remove")
            kept = causes.probabilities(singletons, everyone, "keep")
        return ((p - removed) / p).double().cpu(), (kept / p).double().cpu()

    @staticmethod
    def _clean_probability(causes: Causes) -> float:
        return max(causes.probability, torch.finfo(torch.float32).tiny)

    def explain_prepared(
        self, causes: Causes, effects: tuple[Tensor, Tensor], start: float | None = None
    ) -> Explanation:
        """Hypothesised sets, responsibilities and maps from the singleton ``effects`` (which can be
        reused across set sizes and sampling budgets: the tuning benchmark does)."""
        start = time.perf_counter() if start is None else start
        necessity_effects, sufficiency_effects = effects
        p = self._clean_probability(causes)
        K = causes.num_causes
        size = min(self.set_size, K)
        necessary = torch.topk(necessity_effects, size, sorted=True).indices
        sufficient = torch.topk(sufficiency_effects, size, sorted=True).indices

        def necessity_game(coalitions: Tensor) -> Tensor:
            return (p - causes.probabilities(coalitions, necessary, "remove")) / p

        def sufficiency_game(coalitions: Tensor) -> Tensor:
            return causes.probabilities(coalitions, sufficient, "keep") / p

        with preserved_mode(self.model):
            self.model.eval()
            r_n = self._solve(necessity_game, necessary, necessity_effects, empty_value=0.0)
            r_s = self._solve(sufficiency_game, sufficient, sufficiency_effects, empty_value=None)

        def spread(values: Tensor, players: Tensor) -> Tensor:
            full = torch.zeros(K, dtype=torch.float64)
            full[players] = values
            return full

        necessity, sufficiency = spread(r_n.values, necessary), spread(r_s.values, sufficient)
        size_hw = tuple(causes.image.shape[-2:])
        necessity_map, sufficiency_map = weighted_map(
            torch.stack([necessity, sufficiency]), causes.activations.expand(2, -1, -1, -1), size_hw
        )
        return Explanation(
            necessity_map=necessity_map,
            sufficiency_map=sufficiency_map,
            combined_map=combine(necessity_map, sufficiency_map, self.combination),
            target=causes.target,
            target_name=self.model.class_name(causes.target),
            probability=causes.probability,
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
            forward_passes=causes.forward_passes,
            combination=self.combination,
            model_name=self.model.name,
            seconds=time.perf_counter() - start,
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
        return 2**n <= self.permutations * max(n - 1, 1) + 2

    def _shapley_budget(self) -> int:
        n = self.set_size
        return 2**n if self._use_exact(n) else self.permutations * max(n - 1, 1) + 1

    def _solve(
        self, game, players: Tensor, singleton_effects: Tensor, empty_value: float | None
    ) -> ShapleyEstimate:
        """Shapley values of ``game`` over ``players``, reusing the singleton effects (and the
        empty set's value when it is known) instead of evaluating them again."""
        n = len(players)
        cached = CachedGame(game, n)
        cached.seed(torch.eye(n, dtype=torch.bool), singleton_effects[players])
        if empty_value is not None:
            cached.seed(torch.zeros(1, n, dtype=torch.bool), torch.tensor([empty_value]))
        if self._use_exact(n):
            return exact_shapley(cached, n)
        generator = torch.Generator().manual_seed(self.seed)
        return sampled_shapley(cached, n, self.permutations, generator)


__all__ = ["COMBINATIONS", "Suny", "combine"]
