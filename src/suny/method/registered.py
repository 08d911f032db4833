"""SUNY behind the common :class:`~suny.saliency.SaliencyMethod` interface.

SUNY-feature returns three maps from one explanation: ``suny`` (combined), ``suny-n`` (necessity)
and ``suny-s`` (sufficiency); SUNY-filter returns ``suny-filter`` (combined). Options are those of
:class:`Suny`; each image's :class:`Explanation` is returned in ``result.extras``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, ClassVar

import torch
from torch import Tensor

from suny.engine import Precision
from suny.method.explanation import CauseType, Explanation
from suny.method.suny import Suny
from suny.models.wrapper import ImageClassifier
from suny.saliency import SaliencyMethod, SaliencyResult, equal_runs

#: The options of :class:`Suny` that decide its maps.
SUNY_SETTINGS = ("cause", "set_size", "permutations", "exact", "combination", "substrate")


class _SunyMethod(SaliencyMethod):
    uses_layer = True
    cause: ClassVar[CauseType] = "feature"
    #: The Explanation's map behind each registry name of :attr:`map_names`.
    fields: ClassVar[tuple[str, ...]] = ("combined_map",)

    def __init__(
        self,
        model: ImageClassifier,
        layer: str | None = None,
        seed: int = 0,
        batch_size: int | None = None,
        precision: Precision = "float32",
        **options: Any,
    ) -> None:
        super().__init__(model, layer, seed, batch_size, precision)
        self.explainer = Suny(
            model,
            layer=self.layer,
            cause=self.cause,
            seed=seed,
            batch_size=self.batch_size,
            precision=self.precision,
            **options,
        )

    @staticmethod
    def default_batch_size(device: torch.device) -> int:
        return 128 if device.type == "cuda" else 16

    @property
    def settings(self) -> dict[str, Any]:
        """The explainer's options that decide the maps (:data:`SUNY_SETTINGS`), defaults resolved,
        and the search where it is not the exhaustive one (every stored row before the screen was
        computed by the exhaustive search, under a configuration without the option) with the
        screen's setting (a changed default is a new configuration)."""
        settings = {name: getattr(self.explainer, name) for name in SUNY_SETTINGS}
        if self.explainer.search != "exhaustive":
            settings["search"] = self.explainer.search
            settings["screen"] = asdict(self.explainer.screen_setting)
        return settings

    def explain(self, images: Tensor, targets: Tensor) -> SaliencyResult:
        """One explanation per row; the rows of one image share its singleton interventions."""
        explanations: list[Explanation] = []
        for rows in equal_runs(images):
            explanations += self.explainer.explain(images[rows[0]], [int(targets[r]) for r in rows])
        outputs = {
            name: torch.stack([getattr(e, field) for e in explanations])
            for name, field in zip(self.map_names, self.fields)
        }
        return SaliencyResult(outputs[self.output], list(explanations), outputs)


class SunyFeatureMethod(_SunyMethod):
    """SUNY-feature: ``suny`` (combined map, ``minmax(N * S)`` by default), ``suny-n`` (necessity map
    N) and ``suny-s`` (sufficiency map S), all from one explanation."""

    map_names = ("suny", "suny-n", "suny-s")
    fields = ("combined_map", "necessity_map", "sufficiency_map")
    #: N and S come before they are combined: the combination decides only ``suny``.
    ignored_settings: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "suny-n": ("combination",),
        "suny-s": ("combination",),
    }


class SunyFilterMethod(_SunyMethod):
    """SUNY-filter, combined map (``suny-filter``)."""

    map_names = ("suny-filter",)
    cause = "filter"
