"""CexCNN (Debbi 2021, "Causal explanation of convolutional neural networks")."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from suny.baselines.common import Baseline
from suny.engine import Precision
from suny.method.causes import FilterCauses
from suny.models.wrapper import ImageClassifier
from suny.ops import upsample
from suny.saliency import SaliencyResult, equal_runs


@dataclass
class CexCNNRecord:
    """Per image: ``importance[k] = p_c(x) - p_c(x with filter k deleted)`` and the kept filters."""

    importance: Tensor
    kept: Tensor


class CexCNN(Baseline):
    """CexCNN: filter k of the convolution ``model.filter_layer(layer)`` is deleted, with SUNY-filter's
    intervention (its channel removed: :mod:`suny.interventions.filter`), and its importance is the
    drop ``p_c(x) - p_c(x without k)``; the filters with importance ``> threshold`` (default 0) are
    kept, and::

        map = upsample(relu(mean_{k kept} A_k)) / max

    with ``A_k`` the layer's k-th map on ``x`` (the pruning point's output when the layer does not
    have one channel per filter). The map is divided by its maximum (it is not min-max
    normalised); it is all zeros when no filter is kept or the mean is nowhere positive.
    ``batch_size`` deletions per pass (of what follows the convolution), in ``precision``.
    Extras: one :class:`CexCNNRecord` per image.
    """

    map_names = ("cexcnn",)
    setting_names = ("threshold",)
    uses_layer = True

    def __init__(
        self,
        model: ImageClassifier,
        layer: str | None = None,
        seed: int = 0,
        batch_size: int = 64,
        precision: Precision = "float32",
        threshold: float = 0.0,
    ) -> None:
        super().__init__(model, layer, seed, batch_size, precision)
        self.threshold = threshold

    def compute(self, images: Tensor, targets: Tensor) -> SaliencyResult:
        assert self.layer is not None
        maps: list[Tensor] = [images.new_zeros(0)] * len(images)
        records: list[CexCNNRecord | None] = [None] * len(images)
        for rows in equal_runs(images):  # the classes of one image share its deletions
            causes = FilterCauses(
                self.model, self.layer, images[rows[0]][None], self.batch_size, self.precision
            )
            count = causes.num_causes
            deleted = causes.probabilities(torch.eye(count, dtype=torch.bool), torch.arange(count), "remove")
            clean = causes.clean_probabilities()
            activations = causes.layer_maps[0].float().cpu()
            for row in rows:
                target = int(targets[row])
                importance = clean[target] - deleted[:, target]
                kept = importance > self.threshold
                mean = (activations * kept[:, None, None]).sum(dim=0) / kept.sum().clamp_min(1)
                cam = upsample(mean.relu()[None, None], (images.shape[-2], images.shape[-1]))[0, 0]
                maps[row] = cam / cam.max().clamp_min(torch.finfo(cam.dtype).tiny)
                records[row] = CexCNNRecord(importance=importance, kept=kept)
        return SaliencyResult(maps=torch.stack(maps).to(images.device), extras=records)
