"""The two kinds of cause SUNY reasons about, behind one interface.

Both take a coalition matrix (B, n) over a list of ``players`` (cause indices) and return
``p_c`` of the model after the intervention ``remove S`` or ``keep S`` for each row:

- :class:`FeatureCauses`: feature maps of a layer; interventions mask the input image
  (:mod:`suny.interventions.feature`), so each costs one full forward pass.
- :class:`FilterCauses`: filters of a convolution; ``remove S`` prunes the filters in S, ``keep S``
  prunes every other filter (:mod:`suny.interventions.filter`), re-running only the tail.

The feature maps ``A_k`` are the positive part ``relu(output_k)`` of the layer's output. The paper's
networks are explained after a ReLU, where this changes nothing; a layer with signed outputs (the
linear bottleneck that ends every EfficientNet block, a BatchNorm) would otherwise give masks that
highlight "least negative" regions and maps ``relu(sum_k R(k) A_k)`` that are zero everywhere when
the most responsible channels are negative (as measured on Lite0's last block).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Literal

import torch
from torch import Tensor
from tqdm.auto import tqdm

from suny.interventions.feature import FeatureMasks, Substrate, members_of
from suny.interventions.filter import FilterReplay
from suny.models.wrapper import ImageClassifier
from suny.ops import batched

Mode = Literal["remove", "keep"]
Precision = Literal["float32", "bfloat16", "float16"]


def autocast(device: torch.device, precision: Precision):
    """Mixed precision for the interventions' forward passes (a no-op for float32)."""
    if precision == "float32":
        return nullcontext()
    dtype = torch.bfloat16 if precision == "bfloat16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


class Causes:
    """Shared state: the model, the image, the class, the clean probability and the pass count."""

    #: (1, K, h, w): the maps ``A_k`` that the responsibilities weight.
    activations: Tensor
    logits: Tensor

    def __init__(
        self,
        model: ImageClassifier,
        image: Tensor,
        batch_size: int,
        precision: Precision = "float32",
        progress: tqdm | None = None,
    ) -> None:
        self.model = model
        self.image = image
        self.batch_size = batch_size
        self.precision = precision
        self.progress = progress
        self.forward_passes = 0
        self.target = 0

    @property
    def num_causes(self) -> int:
        return int(self.activations.shape[1])

    def set_target(self, target: int) -> float:
        """Fix the class c and return ``p_c(x)``."""
        self.target = target
        self.probability = float(self.logits.float().softmax(dim=1)[0, target])
        return self.probability

    def autocast(self):
        return autocast(self.model.device, self.precision)

    def _count(self, passes: int) -> None:
        self.forward_passes += passes
        if self.progress is not None:
            self.progress.update(passes)

    def probabilities(self, coalitions: Tensor, players: Tensor, mode: Mode) -> Tensor:
        """``p_c`` after ``mode`` of each coalition (B, n) over ``players`` (n,)."""
        coalitions = coalitions.to(self.model.device)
        players = players.to(self.model.device)
        out = []
        with torch.no_grad(), self.autocast():
            for chunk in batched(len(coalitions), self.batch_size):
                logits = self._logits(coalitions[chunk], players, mode)
                out.append(logits.float().softmax(dim=1)[:, self.target])
                self._count(chunk.stop - chunk.start)
        return torch.cat(out) if out else torch.zeros(0, device=self.model.device)

    def _logits(self, coalitions: Tensor, players: Tensor, mode: Mode) -> Tensor:
        raise NotImplementedError


class FeatureCauses(Causes):
    """Feature maps of ``layer`` as causes; interventions mask the input."""

    def __init__(
        self,
        model: ImageClassifier,
        layer: str,
        image: Tensor,
        batch_size: int,
        substrate: Substrate = "black",
        precision: Precision = "float32",
        progress: tqdm | None = None,
    ) -> None:
        super().__init__(model, image, batch_size, precision, progress)
        self.layer = layer
        self.logits, activations = model.forward_with_layer(image, layer)
        self.activations = activations.float().relu()
        self.forward_passes = 1
        self.masks = FeatureMasks(image, self.activations, substrate)

    def _logits(self, coalitions: Tensor, players: Tensor, mode: Mode) -> Tensor:
        images = self.masks.images(members_of(coalitions, players), mode)
        return self.model(images)


class FilterCauses(Causes):
    """Filters of the convolution behind ``layer`` as causes; interventions prune them.

    The maps weight the feature maps of ``layer`` itself when it has one channel per filter (a
    ReLU after the convolution, a residual block ending in it), else the convolution's outputs.
    """

    def __init__(
        self,
        model: ImageClassifier,
        layer: str,
        image: Tensor,
        batch_size: int,
        precision: Precision = "float32",
        progress: tqdm | None = None,
    ) -> None:
        super().__init__(model, image, batch_size, precision, progress)
        self.layer = model.filter_layer(layer)
        self.replay = FilterReplay(model, self.layer, image)
        self.logits = self.replay.logits(torch.ones(1, self.replay.num_filters, dtype=torch.bool))
        self.forward_passes = self.replay.forward_passes
        activations = self.replay.activations
        if layer != self.layer:
            _, layer_maps = model.forward_with_layer(image, layer)
            self.forward_passes += 1
            if layer_maps.shape[1] == self.replay.num_filters:
                activations = layer_maps
        self.activations = activations.float().relu()

    def _logits(self, coalitions: Tensor, players: Tensor, mode: Mode) -> Tensor:
        size = coalitions.shape[0]
        keep = torch.full((size, self.num_causes), mode == "remove", device=coalitions.device)
        keep[:, players] = coalitions if mode == "keep" else ~coalitions
        return self.replay.logits(keep)
