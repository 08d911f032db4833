"""CexCNN (Debbi 2021, "Causal explanation of convolutional neural networks")."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from suny.baselines.common import Baseline
from suny.engine import Precision
from suny.interventions.filter import FilterReplay
from suny.models.wrapper import ImageClassifier
from suny.ops import upsample
from suny.saliency import SaliencyResult


@dataclass
class CexCNNRecord:
    """Per image: ``importance[k] = p_c(x) - p_c(x with filter k deleted)`` and the kept filters."""

    importance: Tensor
    kept: Tensor


class CexCNN(Baseline):
    """CexCNN: filter k of the convolution ``model.filter_layer(layer)`` is deleted (its weights
    zeroed, through :class:`~suny.interventions.filter.FilterReplay`) and its importance is the
    drop ``p_c(x) - p_c(x without k)``; the filters with importance ``> threshold`` (default 0)
    are kept, and::

        map = upsample(relu(mean_{k kept} A_k)) / max

    with ``A_k`` the convolution's output on ``x``. The map is divided by its maximum (it is not
    min-max normalised); it is all zeros when no filter is kept or the mean is nowhere positive.
    ``batch_size`` deletions per forward pass (of the network after the convolution).
    Extras: one :class:`CexCNNRecord` per image.
    """

    map_names = ("cexcnn",)

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
        self.conv = model.filter_layer(self.layer)

    def compute(self, images: Tensor, targets: Tensor) -> SaliencyResult:
        maps, records = [], []
        for image, target in zip(images, targets):
            replay = FilterReplay(self.model, self.conv, image[None])
            count = replay.num_filters
            # Row 0 keeps every filter (p_c(x)); row k + 1 deletes filter k.
            keep = torch.cat([torch.ones(1, count, dtype=torch.bool), ~torch.eye(count, dtype=torch.bool)])
            probabilities = replay.probabilities(keep.to(image.device), int(target), self.batch_size)
            importance = probabilities[0] - probabilities[1:]
            kept = importance > self.threshold
            activations = replay.activations[0].float()
            mean = (activations * kept[:, None, None]).sum(dim=0) / kept.sum().clamp_min(1)
            cam = upsample(mean.relu()[None, None], tuple(image.shape[-2:]))[0, 0]
            maps.append(cam / cam.max().clamp_min(torch.finfo(cam.dtype).tiny))
            records.append(CexCNNRecord(importance=importance, kept=kept))
        return SaliencyResult(maps=torch.stack(maps), extras=records)
