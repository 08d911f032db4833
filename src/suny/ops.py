"""Small tensor operations shared by SUNY, the baselines and the evaluations."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def minmax(maps: Tensor, dims: int = 2) -> Tensor:
    """Min-max normalise each map over its last ``dims`` dimensions to [0, 1].

    A constant map becomes all zeros (never NaN): ``(m - min) / (max - min)`` with 0 where
    ``max == min``.
    """
    flat = maps.flatten(start_dim=maps.dim() - dims)
    low = flat.amin(dim=-1, keepdim=True)
    span = flat.amax(dim=-1, keepdim=True) - low
    scaled = torch.where(span > 0, (flat - low) / span.clamp_min(torch.finfo(flat.dtype).tiny), 0.0)
    return scaled.view_as(maps)


def upsample(maps: Tensor, size: Sequence[int]) -> Tensor:
    """Bilinear upsampling of (B, K, h, w) maps to (B, K, H, W) (``align_corners=False``)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps, size=tuple(size), mode="bilinear", align_corners=False)


def weighted_map(weights: Tensor, maps: Tensor, size: Sequence[int]) -> Tensor:
    """``minmax(upsample(relu(sum_k w_k maps_k)))``: (B, K) weights and (B, K, h, w) maps to
    (B, H, W) in [0, 1] (the CAM map, and SUNY's Alg. 1 lines 21-22)."""
    cam = (weights[:, :, None, None].to(maps) * maps).sum(dim=1, keepdim=True).relu()
    return minmax(upsample(cam, size))[:, 0]


def gaussian_kernel1d(
    kernel_size: int, sigma: float, device: torch.device | None = None, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Normalised 1-D Gaussian weights of odd length ``kernel_size``."""
    if kernel_size % 2 != 1:
        raise ValueError(f"the blur kernel size must be odd, got {kernel_size}")
    offsets = torch.arange(kernel_size, device=device, dtype=dtype) - kernel_size // 2
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)  # torchvision's form: no overflow for a huge sigma
    return weights / weights.sum()


def gaussian_blur(images: Tensor, kernel_size: int, sigma: float) -> Tensor:
    """Separable Gaussian blur of (B, C, H, W) images with reflect padding (as torchvision's
    ``gaussian_blur``), computed as two depthwise 1-D convolutions."""
    channels = images.shape[1]
    weights = gaussian_kernel1d(kernel_size, sigma, images.device, images.dtype)
    pad = kernel_size // 2
    out = images
    for vertical in (True, False):
        size = out.shape[2 if vertical else 3]
        mode = "reflect" if pad < size else "replicate"  # reflect needs pad < size
        padding = (0, 0, pad, pad) if vertical else (pad, pad, 0, 0)
        shape = (1, 1, kernel_size, 1) if vertical else (1, 1, 1, kernel_size)
        kernel = weights.view(shape).expand(channels, *shape[1:])
        out = F.conv2d(F.pad(out, padding, mode=mode), kernel, groups=channels)
    return out


def batched(n: int, batch_size: int) -> list[slice]:
    """Slices that cover ``range(n)`` in chunks of at most ``batch_size``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
