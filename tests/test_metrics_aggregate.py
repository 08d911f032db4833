"""Mean over the classes of an image."""

from __future__ import annotations

import math

import torch

from suny.metrics.aggregate import mean_by_group


def test_mean_by_group():
    values = torch.tensor([0.2, 0.4, 1.0, 0.5, 0.7])
    groups = torch.tensor([0, 0, 1, 2, 2])
    torch.testing.assert_close(mean_by_group(values, groups), torch.tensor([0.3, 1.0, 0.6]))


def test_flags_become_fractions_and_rows_keep_their_shape():
    flips = torch.tensor([True, False, True])
    torch.testing.assert_close(mean_by_group(flips, torch.tensor([1, 1, 0])), torch.tensor([1.0, 0.5]))
    curves = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    torch.testing.assert_close(
        mean_by_group(curves, torch.tensor([0, 0, 1])), torch.tensor([[0.5, 0.5], [0.5, 0.5]])
    )


def test_empty_group_and_nan_give_nan():
    means = mean_by_group(torch.tensor([1.0, math.nan]), torch.tensor([0, 2]), num_groups=3)
    assert means[0] == 1.0 and math.isnan(means[1]) and math.isnan(means[2])
