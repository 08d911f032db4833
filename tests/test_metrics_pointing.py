"""Energy-based pointing game: exact proportions, edge cases, and agreement with Quantus."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from suny.metrics.pointing import pointing_proportion

SIZE = 4
BOX = torch.zeros(1, SIZE, SIZE, dtype=torch.bool)
BOX[0, :2, :2] = True  # 4 of 16 pixels
WHOLE = torch.ones(1, SIZE, SIZE, dtype=torch.bool)


def test_exact_proportions():
    """2 on the 4 box pixels (energy 8) and 1 on the 12 others: 8 / 20. A constant map scores the
    box's share of the image."""
    peaked = torch.where(BOX, 2.0, 1.0)
    maps = torch.cat([peaked, torch.full((1, SIZE, SIZE), 0.3), BOX.float(), (~BOX).float()])
    proportions = pointing_proportion(maps, BOX.expand(4, -1, -1))
    torch.testing.assert_close(proportions, torch.tensor([0.4, 0.25, 1.0, 0.0]))


def test_box_covering_the_whole_image_and_all_zero_maps():
    maps = torch.stack([torch.rand(SIZE, SIZE) + 0.01, torch.zeros(SIZE, SIZE)])
    torch.testing.assert_close(pointing_proportion(maps, WHOLE.expand(2, -1, -1)), torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(pointing_proportion(maps, BOX.expand(2, -1, -1))[1], torch.tensor(0.0))


def test_empty_mask_scores_zero_and_bad_input_raises():
    empty = torch.zeros(1, SIZE, SIZE, dtype=torch.bool)
    torch.testing.assert_close(pointing_proportion(torch.ones(1, SIZE, SIZE), empty), torch.tensor([0.0]))
    with pytest.raises(ValueError, match="non-negative"):
        pointing_proportion(-torch.ones(1, SIZE, SIZE), BOX)
    with pytest.raises(ValueError, match="shape"):
        pointing_proportion(torch.ones(2, SIZE, SIZE), BOX)


def test_agrees_with_quantus_attribution_localisation():
    """Quantus's AttributionLocalisation with abs and normalisation off computes
    sum(a * s) / (sum(a) + 1e-9); it needs a model and x_batch, which it does not use here."""
    quantus = pytest.importorskip("quantus")
    generator = torch.Generator().manual_seed(0)
    batch, size = 12, 32
    maps = torch.rand(batch, size, size, generator=generator)
    maps[3] = 0.0  # all zero: both give 0
    maps[4] = 0.5  # constant
    maps[5] = (maps[5] - 0.6).clamp(min=0)  # sparse, like a thresholded CAM
    masks = torch.zeros(batch, size, size, dtype=torch.bool)
    for i in range(batch):  # a union of two random boxes per image
        for _ in range(2):
            x0, y0 = torch.randint(0, size - 4, (2,), generator=generator).tolist()
            w, h = torch.randint(2, size - max(x0, y0), (2,), generator=generator).tolist()
            masks[i, y0 : y0 + h, x0 : x0 + w] = True
    masks[6] = True  # the whole image
    model = nn.Sequential(nn.Conv2d(3, 2, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    metric = quantus.AttributionLocalisation(abs=False, normalise=False, disable_warnings=True)
    expected = metric(
        model=model,
        x_batch=np.zeros((batch, 3, size, size), dtype=np.float32),
        y_batch=np.zeros(batch, dtype=np.int64),
        a_batch=maps.unsqueeze(1).numpy(),
        s_batch=masks.unsqueeze(1).numpy().astype(np.float32),
        device="cpu",
    )
    ours = pointing_proportion(maps, masks)
    torch.testing.assert_close(
        ours, torch.tensor(np.asarray(expected, dtype=np.float32)), rtol=1e-5, atol=1e-6
    )
    assert float(ours[6]) == 1.0 and float(ours[3]) == 0.0
