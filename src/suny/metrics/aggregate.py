"""Aggregation over target classes: an image with several ground-truth classes is scored once per
class, and its score is the mean over its classes (paper A.5)."""

from __future__ import annotations

import torch
from torch import Tensor


def mean_by_group(values: Tensor, groups: Tensor, num_groups: int | None = None) -> Tensor:
    """``out[g] = mean(values[i] for i with groups[i] == g)`` for ``values`` (N, ...) and
    ``groups`` (N,) in ``0 .. num_groups - 1``; NaN for a group without rows, and a NaN value makes
    its group NaN. Floating values keep their dtype; others (flags, counts) become float32."""
    dtype = values.dtype if values.is_floating_point() else torch.float32
    groups = groups.to(values.device, torch.long)
    num_groups = int(groups.max()) + 1 if num_groups is None else num_groups
    values = values.double()
    sums = values.new_zeros((num_groups, *values.shape[1:])).index_add_(0, groups, values)
    counts = torch.bincount(groups, minlength=num_groups).to(values)
    return (sums / counts.view(-1, *[1] * (values.dim() - 1))).to(dtype)
