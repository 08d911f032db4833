"""SUNY behind the common :class:`~suny.saliency.SaliencyMethod` interface.

``suny`` (combined map, feature causes), ``suny-n`` (necessity map), ``suny-s`` (sufficiency map)
and ``suny-filter`` (combined map, filter causes). Options are those of :class:`Suny`; each image's
:class:`Explanation` is returned in ``result.extras``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from suny.method.explanation import CauseType
from suny.method.suny import Suny
from suny.models.wrapper import ImageClassifier
from suny.saliency import SaliencyMethod, SaliencyResult, register


class _SunyMethod(SaliencyMethod):
    uses_layer = True
    cause: ClassVar[CauseType] = "feature"
    output: ClassVar[Literal["combined", "necessity", "sufficiency"]] = "combined"

    def __init__(self, model: ImageClassifier, layer: str | None = None, seed: int = 0, **options: Any):
        super().__init__(model, layer, seed)
        self.explainer = Suny(model, layer=self.layer, cause=self.cause, seed=seed, **options)

    def explain(self, images: Tensor, targets: Tensor) -> SaliencyResult:
        explanations = [self.explainer.explain(image, int(target)) for image, target in zip(images, targets)]
        maps = torch.stack([getattr(e, f"{self.output}_map") for e in explanations])
        return SaliencyResult(maps, list(explanations))


@register("suny")
class SunyCombined(_SunyMethod):
    """SUNY-feature, combined map (``minmax(N + S)`` by default)."""


@register("suny-n")
class SunyNecessity(_SunyMethod):
    """SUNY-feature necessity map N."""

    output = "necessity"


@register("suny-s")
class SunySufficiency(_SunyMethod):
    """SUNY-feature sufficiency map S."""

    output = "sufficiency"


@register("suny-filter")
class SunyFilter(_SunyMethod):
    """SUNY-filter, combined map."""

    cause = "filter"
