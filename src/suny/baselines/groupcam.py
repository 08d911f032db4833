"""Group-CAM (Zhang, Rao and Yang 2021)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from suny.baselines.common import (
    Baseline,
    activations_and_gradients,
    mask_scores,
)
from suny.engine import Precision
from suny.errors import OptionError, SunyError
from suny.models.wrapper import ImageClassifier
from suny.ops import batched, gaussian_blur, minmax, upsample, weighted_map
from suny.saliency import SaliencyResult


class GroupCAM(Baseline):
    """Group-CAM: the Grad-CAM-weighted activations ``w_k A_k`` (``w_k = mean dy_c / dA_k``) are
    split into ``groups`` groups of consecutive channels (sizes differ by at most one; fewer groups
    when the layer has fewer channels); each group's sum, relu'd, upsampled and min-max normalised,
    is ``M_g``. With ``b = blur(x)`` (Gaussian, ``blur_kernel`` x ``blur_kernel``, sigma
    ``blur_sigma``)::

        s_g = relu(p_c(x * M_g + b * (1 - M_g)) - p_c(b))
        map = minmax(sum_g s_g M_g)

    A constant group map is skipped (``s_g = 0``), as in the official code. Differences from the
    official code: each group's score is relu'd (SPEC section 3; the code relus only the
    weighted sum), and the group maps are not thresholded at their 70th percentile (a later
    addition to the code that the paper does not describe). ``batch_size`` images per gradient pass
    and masked inputs per forward pass (those in ``precision``).
    """

    map_names = ("groupcam",)
    setting_names = ("groups", "blur_kernel", "blur_sigma")

    uses_layer = True

    def __init__(
        self,
        model: ImageClassifier,
        layer: str | None = None,
        seed: int = 0,
        batch_size: int = 64,
        groups: int = 32,
        blur_kernel: int = 51,
        blur_sigma: float = 50.0,
        precision: Precision = "float32",
    ) -> None:
        super().__init__(model, layer, seed, batch_size, precision)
        if groups < 1:
            raise SunyError(f"groups must be at least 1, got {groups}")
        if blur_kernel < 1 or blur_kernel % 2 == 0 or not 0 < blur_sigma < math.inf:
            raise OptionError(
                f"Group-CAM's blur needs an odd blur_kernel >= 1 and a finite blur_sigma > 0; got "
                f"blur_kernel={blur_kernel}, blur_sigma={blur_sigma}"
            )
        self.groups = groups
        self.blur_kernel = blur_kernel
        self.blur_sigma = blur_sigma

    def compute(self, images: Tensor, targets: Tensor) -> SaliencyResult:
        size = tuple(images.shape[-2:])
        maps = []
        for chunk in batched(len(images), self.batch_size):
            x, c = images[chunk], targets[chunk]
            activations, gradients = activations_and_gradients(self.model, self.layer, x, c)
            weighted = gradients.mean(dim=(2, 3), keepdim=True) * activations
            parts = weighted.tensor_split(min(self.groups, weighted.shape[1]), dim=1)
            group_maps = torch.stack([part.sum(dim=1) for part in parts], dim=1).relu()
            blurred = gaussian_blur(x, self.blur_kernel, self.blur_sigma)
            engine = self.engine()
            base = engine.probabilities(len(blurred), blurred.__getitem__, targets=c)
            scores = mask_scores(engine, group_maps, x, c, substrate=blurred)
            weights = (scores - base[:, None]).relu()
            maps.append(weighted_map(weights, minmax(upsample(group_maps, size)), size))
        return SaliencyResult(maps=torch.cat(maps))
