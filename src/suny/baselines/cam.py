"""Class activation maps whose only difference is the channel weights: Grad-CAM, Grad-CAM++ and
Score-CAM.

Every CAM is ``minmax(upsample_bilinear(relu(sum_k w_k A_k)))`` with ``A_k`` (h x w) the k-th
feature map of the layer, as in pytorch-grad-cam (whose relu, bilinear resize and min-max give the
same map for one layer).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

import torch
from torch import Tensor

from suny.baselines.common import (
    Baseline,
    activations_and_gradients,
    mask_scores,
)
from suny.ops import batched, weighted_map
from suny.saliency import SaliencyResult


class CAM(Baseline):
    """Base class: subclasses supply the channel weights ``w`` (B, K) of :meth:`channel_weights`."""

    uses_layer = True
    #: Whether :meth:`channel_weights` needs ``dy_c / dA`` (``y_c`` the target's logit).
    uses_gradients: ClassVar[bool] = True

    def compute(self, images: Tensor, targets: Tensor) -> SaliencyResult:
        module = self.model.layer(self.layer)
        maps = []
        for chunk in batched(len(images), self.batch_size):
            x, c = images[chunk], targets[chunk]
            if self.uses_gradients:
                activations, gradients = activations_and_gradients(self.model, module, x, c)
            else:
                activations, gradients = self.model.forward_with_layer(x, self.layer)[1], None
            weights = self.channel_weights(x, c, activations, gradients)
            maps.append(weighted_map(weights, activations, tuple(x.shape[-2:])))
        return SaliencyResult(maps=torch.cat(maps))

    @abstractmethod
    def channel_weights(
        self, images: Tensor, targets: Tensor, activations: Tensor, gradients: Tensor | None
    ) -> Tensor:
        """Weights (B, K) for ``activations`` ``A`` (B, K, h, w) and ``gradients`` ``dy_c / dA``
        (``None`` when :attr:`uses_gradients` is false)."""


class GradCAM(CAM):
    """Grad-CAM (Selvaraju et al. 2017): ``w_k = mean_ij dy_c / dA_k[i, j]``."""

    map_names = ("gradcam",)

    def channel_weights(
        self, images: Tensor, targets: Tensor, activations: Tensor, gradients: Tensor | None
    ) -> Tensor:
        assert gradients is not None
        return gradients.mean(dim=(2, 3))


class GradCAMPlusPlus(CAM):
    """Grad-CAM++ (Chattopadhay et al. 2018, Eq. 19 with the exponential-score derivatives), as in
    pytorch-grad-cam, with ``g = dy_c / dA_k``:

    ``alpha_ij = g_ij^2 / (2 g_ij^2 + (sum_ab A_k[a, b]) g_ij^3 + 1e-6)`` (0 where ``g_ij = 0``),
    ``w_k = sum_ij alpha_ij relu(g_ij)``.
    """

    map_names = ("gradcam++",)

    def channel_weights(
        self, images: Tensor, targets: Tensor, activations: Tensor, gradients: Tensor | None
    ) -> Tensor:
        assert gradients is not None
        squared = gradients**2
        total = activations.sum(dim=(2, 3), keepdim=True)
        alpha = squared / (2 * squared + total * squared * gradients + 1e-6)
        alpha = alpha.where(gradients != 0, torch.zeros_like(alpha))
        return (alpha * gradients.relu()).sum(dim=(2, 3))


class ScoreCAM(CAM):
    """Score-CAM (Wang et al. 2020) as in the official code: ``w_k = p_c(x * M_k)`` with
    ``M_k = minmax(upsample_bilinear(A_k))`` at input resolution (``align_corners=False``) and
    ``p_c`` the softmax probability of the target class; no baseline subtraction, no softmax
    across channels; a constant ``A_k`` is skipped (``w_k = 0``).

    Differences from pytorch-grad-cam's ``ScoreCAM``, which scores with whatever target it is
    given (the logit for ``ClassifierOutputTarget``), applies a softmax across the channels'
    scores, upsamples the masks with ``align_corners=True`` and does not skip constant channels.
    Differences from the official code: the mask multiplies the [0, 1] image (a black substrate,
    as everywhere in suny), not the normalised one (a mean-colour substrate); and the relu comes
    before the map is upsampled, as in every CAM here and in pytorch-grad-cam (the official code
    relus after, which differs only where ``sum_k w_k A_k`` changes sign: layers with negative
    activations).

    ``batch_size`` masked inputs (of all images together) run per forward pass, in ``precision``.
    """

    map_names = ("scorecam",)
    uses_gradients = False

    def channel_weights(
        self, images: Tensor, targets: Tensor, activations: Tensor, gradients: Tensor | None
    ) -> Tensor:
        return mask_scores(self.engine(), activations, images, targets)
