"""SUNY-feature interventions: remove or keep the image regions that feature maps highlight.

Each feature map ``A_k`` of the layer becomes a soft mask ``m_k = minmax(upsample(A_k))`` in [0, 1]
at input resolution (a constant map gives ``m_k = 0``). For a set S of causes (SPEC section 1):

- ``remove S = s + (x - s) * prod_{k in S} (1 - m_k)``
- ``keep S   = s + (x - s) * (1 - prod_{k in S} (1 - m_k))``

with the substrate ``s`` = 0 (black, the paper's choice) by default; a blurred copy of the image or
its mean colour may be used instead. For one cause this is the paper's ``x * (1 - m_k)`` and
``x * m_k``; ``keep S`` and ``remove S`` always add up to the image.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from suny.ops import gaussian_blur, minmax, upsample

Substrate = Literal["black", "blur", "mean"]


def substrate_image(image: Tensor, substrate: Substrate) -> Tensor:
    """What removed pixels become: black (0), a Gaussian blur of the image (kernel 51, sigma 50,
    as Group-CAM's), or the image's mean colour."""
    if substrate == "black":
        return torch.zeros_like(image)
    if substrate == "blur":
        return gaussian_blur(image, 51, 50.0)
    if substrate == "mean":
        return image.mean(dim=(2, 3), keepdim=True).expand_as(image)
    raise ValueError(f"unknown substrate {substrate!r}; use black, blur or mean")


class FeatureMasks:
    """Masked copies of one image (1, 3, H, W) for sets of feature-map causes.

    The masks are made for the causes of each batch as it is built (upsampling a few h x w maps
    costs little), so the K full-resolution masks never exist at once.
    """

    def __init__(self, image: Tensor, activations: Tensor, substrate: Substrate = "black") -> None:
        if activations.dim() != 4 or activations.shape[0] != 1:
            raise ValueError(f"expected activations (1, K, h, w), got {tuple(activations.shape)}")
        self.image = image
        self.size = (int(image.shape[-2]), int(image.shape[-1]))
        # index -1 (padding) selects an all-zero map: mask 0, factor 1 in every product
        maps = activations[0].float()
        self._maps = torch.cat([maps, maps.new_zeros(1, *maps.shape[1:])])
        self.num_causes = int(maps.shape[0])
        self.identities = mask_identities(maps)
        # Built channels-last: the masked batches come out in the layout the CPU kernels prefer.
        background = substrate_image(image, substrate)
        self._base = background.contiguous(memory_format=torch.channels_last)
        self._signal = (image - background).contiguous(memory_format=torch.channels_last)

    def signal_at(self, size: tuple[int, int]) -> Tensor:
        """How much each region of the image differs from the substrate: ``|x - s|`` averaged over the
        colour channels and pooled to ``size`` (h, w), so an intervention's mask weighted by it says
        how much of the image the intervention changes there."""
        difference = self._signal.abs().mean(dim=1, keepdim=True)
        return torch.nn.functional.adaptive_avg_pool2d(difference, size)[0, 0]

    def masks(self, causes: Tensor) -> Tensor:
        """``m_k = minmax(upsample(A_k))`` of ``causes`` (any shape of indices, -1: mask 0), with the
        shape of ``causes`` followed by (H, W)."""
        maps = self._maps[causes.reshape(-1)][:, None]
        return minmax(upsample(maps, self.size))[:, 0].view(*causes.shape, *self.size)

    def retained(self, members: Tensor) -> Tensor:
        """``prod_{k in S}(1 - m_k)`` for each row of ``members`` (B, s): cause indices, with
        ``-1`` padding for sets smaller than ``s``. Returns (B, 1, H, W)."""
        return (1 - self.masks(members)).prod(dim=1).unsqueeze(1)

    def images(self, members: Tensor, mode: Literal["remove", "keep"]) -> Tensor:
        """The image with the sets in ``members`` (B, s) removed or kept (B, 3, H, W)."""
        retained = self.retained(members)
        weight = retained if mode == "remove" else 1 - retained
        return self._base + self._signal * weight


def mask_identities(activations: Tensor) -> Tensor:
    """(K,) one id per distinct mask, -1 for a constant map (mask 0: an intervention on it changes
    nothing). Two maps get one id when their min-max normalised values are equal, which makes their
    masks ``minmax(upsample(A_k))`` equal (both steps commute with ``A -> a A + b``, ``a > 0``)."""
    normalised = minmax(activations.float()).flatten(start_dim=1)  # (K, h, w) -> (K, h * w)
    flat = activations.flatten(start_dim=1)
    constant = flat.amax(dim=1) == flat.amin(dim=1)
    _, inverse = torch.unique(normalised, dim=0, return_inverse=True)
    return torch.where(constant, -1, inverse)


def members_of(coalitions: Tensor, players: Tensor) -> Tensor:
    """Rows of a (B, n) boolean coalition matrix over ``players`` as (B, s) padded index lists
    (``-1`` for padding, ``s`` = the largest coalition, at least 1)."""
    sizes = coalitions.sum(dim=1)
    width = max(int(sizes.max()) if len(sizes) else 0, 1)
    # Stable sort puts members (True) first, in player order.
    order = torch.argsort((~coalitions).to(torch.int8), dim=1, stable=True)[:, :width]
    chosen = players.to(coalitions.device)[order]
    valid = torch.arange(width, device=coalitions.device)[None, :] < sizes[:, None]
    return torch.where(valid, chosen, torch.full_like(chosen, -1))
