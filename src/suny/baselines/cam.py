"""Class activation maps whose only difference is the channel weights: Grad-CAM, Grad-CAM++,
Smooth Grad-CAM++ and Score-CAM.

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
    checked_noise,
    input_noise,
    mask_scores,
)
from suny.engine import Precision
from suny.models.wrapper import ImageClassifier
from suny.ops import batched, weighted_map
from suny.saliency import SaliencyResult


class CAM(Baseline):
    """Base class: subclasses supply the channel weights ``w`` (B, K) of :meth:`channel_weights`."""

    uses_layer = True
    #: Whether :meth:`channel_weights` needs ``dy_c / dA`` (``y_c`` the target's logit).
    uses_gradients: ClassVar[bool] = True

    def compute(self, images: Tensor, targets: Tensor) -> SaliencyResult:
        maps = []
        for chunk in batched(len(images), self.batch_size):
            x, c = images[chunk], targets[chunk]
            if self.uses_gradients:
                activations, gradients = activations_and_gradients(self.model, self.layer, x, c)
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


def gradcam_plus_plus_weights(activations: Tensor, first: Tensor, second: Tensor, third: Tensor) -> Tensor:
    """Grad-CAM++'s channel weights (Chattopadhay et al. 2018, Eq. 19 with the exponential score's
    derivatives) from the first, second and third-order terms ``D1, D2, D3`` (B, K, h, w) of
    ``activations`` ``A`` (B, K, h, w):

    ``alpha_ij = D2_ij / (2 D2_ij + (sum_ab A_k[a, b]) D3_ij + 1e-6)`` (0 where ``D2_ij = 0``),
    ``w_k = sum_ij alpha_ij relu(D1_ij)``, (B, K).
    """
    total = activations.sum(dim=(2, 3), keepdim=True)
    alpha = second / (2 * second + total * third + 1e-6)
    alpha = alpha.where(second != 0, torch.zeros_like(alpha))
    return (alpha * first.relu()).sum(dim=(2, 3))


class GradCAMPlusPlus(CAM):
    """Grad-CAM++ (Chattopadhay et al. 2018), as in pytorch-grad-cam: :func:`gradcam_plus_plus_weights`
    with ``D1 = g``, ``D2 = g^2``, ``D3 = g^3`` for ``g = dy_c / dA_k``."""

    map_names = ("gradcam++",)

    def channel_weights(
        self, images: Tensor, targets: Tensor, activations: Tensor, gradients: Tensor | None
    ) -> Tensor:
        assert gradients is not None
        return gradcam_plus_plus_weights(activations, gradients, gradients**2, gradients**3)


class SmoothGradCAMPlusPlus(CAM):
    """Smooth Grad-CAM++ (Omeiza et al. 2019, arXiv:1908.01224), the "SmoothGrad" row of the SUNY
    paper's tables (SPEC section 3): Grad-CAM++'s weights (:func:`gradcam_plus_plus_weights`) from
    the powers of the gradient averaged over ``n`` noisy copies of the image,

    ``D_p = (1/n) sum_i (dy_c(x + e_i) / dA)^p`` for p = 1, 2, 3, ``e_i ~ N(0, sigma^2)``,
    ``sigma = noise * (max(x) - min(x))``,

    and the map ``minmax(upsample(relu(sum_k w_k A_k)))`` on the clean image's activations ``A``,
    which also give ``alpha``'s ``sum_ab A_k[a, b]`` (Omeiza et al.'s Eq. for alpha and w). With
    ``samples=1`` and ``noise=0`` it is Grad-CAM++.

    ``n = samples`` (25) and ``noise`` (0.15) are those the paper's authors do not fix (their
    figures vary both); 0.15 of the range is SmoothGrad's recommended level, so both rows of
    noise-averaged maps use one scale, and 25 samples keep the map within Grad-CAM++'s family at a
    quarter of pixel SmoothGrad's 50 passes. The noise is drawn as pixel SmoothGrad's (a generator
    freshly seeded with ``seed`` per image). ``batch_size`` noisy copies run per float32
    forward/backward pass, as Grad-CAM++'s pass.

    Differences from torch-cam's ``SmoothGradCAMpp`` (0.5): it adds ``std`` (0.3) in the model's
    input space rather than a fraction of the image's range; its alpha sums ``A D3`` over the
    positions (``sum_ab A_k[a, b] D3_k[a, b]``, its "correction") where Grad-CAM++ and Omeiza et al.
    multiply ``D3_ij`` by the activations' sum; and its weights take ``relu`` of the last noisy pass's
    gradient instead of ``D1``, and its map the last noisy pass's activations; its alpha's
    denominator adds 1e-8 (1e-6 here, as pytorch-grad-cam's Grad-CAM++).
    """

    map_names = ("smoothgradcam++",)
    setting_names = ("samples", "noise")
    uses_gradients = False

    def __init__(
        self,
        model: ImageClassifier,
        layer: str | None = None,
        seed: int = 0,
        batch_size: int | None = None,
        precision: Precision = "float32",
        samples: int = 25,
        noise: float = 0.15,
    ) -> None:
        super().__init__(model, layer, seed, batch_size, precision)
        self.samples, self.noise = checked_noise(samples, noise)

    def channel_weights(
        self, images: Tensor, targets: Tensor, activations: Tensor, gradients: Tensor | None
    ) -> Tensor:
        first, second, third = self.gradient_moments(images, targets)
        return gradcam_plus_plus_weights(activations, first, second, third)

    def gradient_moments(self, images: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(D1, D2, D3)``, each (B, K, h, w): the mean over the noisy copies of each image of the
        first, second and third power of ``dy_c / dA``."""
        moments: list[list[Tensor]] = [[], [], []]
        for image, target in zip(images, targets):
            noisy = image + input_noise(image, self.samples, self.noise, self.generator())
            sums: list[Tensor] = []
            for chunk in batched(self.samples, self.batch_size):
                x = noisy[chunk]
                _, gradients = activations_and_gradients(self.model, self.layer, x, target.expand(len(x)))
                powers = [(gradients**p).sum(dim=0) for p in (1, 2, 3)]
                sums = powers if not sums else [s + p for s, p in zip(sums, powers)]
            for moment, total in zip(moments, sums):
                moment.append(total / self.samples)
        first, second, third = (torch.stack(moment) for moment in moments)
        return first, second, third


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
