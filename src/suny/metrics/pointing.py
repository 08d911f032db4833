"""Energy-based pointing game (Wang et al. 2020, Score-CAM): the share of the map's energy that
falls inside the target class's boxes.

``proportion = sum(map * mask) / sum(map)`` with ``mask`` the union of the class's boxes. Maps must
be non-negative (saliency maps in [0, 1]). An all-zero map scores 0: it points at nothing, and a
method must not escape the mean by producing empty maps (Quantus's ``AttributionLocalisation``
also gives 0, through its ``+ 1e-9`` in the denominator). An empty mask scores 0 as well.
"""

from __future__ import annotations

import torch
from torch import Tensor


def pointing_proportion(maps: Tensor, masks: Tensor) -> Tensor:
    """(B,) energy inside ``masks`` (B, H, W) bool over the total energy of ``maps`` (B, H, W)."""
    if maps.shape != masks.shape:
        raise ValueError(f"maps {tuple(maps.shape)} and masks {tuple(masks.shape)} differ in shape")
    if bool((maps < 0).any()):
        raise ValueError("the energy-based pointing game needs non-negative maps")
    maps = maps.float().flatten(start_dim=1)
    inside = (maps * masks.to(maps.device).flatten(start_dim=1)).sum(dim=1)
    total = maps.sum(dim=1)
    return torch.where(total > 0, inside / total.clamp_min(torch.finfo(maps.dtype).tiny), 0.0)
