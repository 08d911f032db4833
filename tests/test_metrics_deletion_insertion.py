"""Deletion and insertion curves on a toy model whose target probability is the mean of a region:
every curve below is known by hand."""

from __future__ import annotations

import pytest
import torch
from helpers.models import RegionMean, toy_classifier

from suny.metrics.deletion_insertion import (
    changed_counts,
    deletion_curve,
    deletion_insertion,
    insertion_curve,
    pixel_ranking,
)
from suny.ops import gaussian_blur

SIZE = 4
#: The top two rows: 8 of the 16 pixels.
TOP = torch.zeros(SIZE, SIZE, dtype=torch.bool)
TOP[:2] = True
#: A strict ranking: the region first (row-major), then the rest.
REGION_FIRST = (TOP.float() + torch.linspace(1, 0.5, SIZE * SIZE).view(SIZE, SIZE) / 10)[None]
REGION_LAST = 1 - REGION_FIRST
ONES = torch.ones(1, 3, SIZE, SIZE)
FRACTIONS = torch.arange(17) / 16
#: p_0 as the first k of 16 pixels of the region are removed (step 1): 1 -> 0 over k = 0..8.
FALLING_FIRST = (1 - torch.arange(17).clamp(max=8) / 8).unsqueeze(0)
FALLING_LAST = (1 - (torch.arange(17) - 8).clamp(min=0) / 8).unsqueeze(0)


@pytest.fixture
def model():
    """p_0 = mean of channel 0 over the top rows; normalisation (x - 0) / 1 so the substrate is 0."""
    return toy_classifier(RegionMean(TOP, 0.0, 1.0), SIZE, layer="conv")


def test_pixel_ranking_is_descending_with_ties_in_raster_order():
    maps = torch.tensor([[[0.5, 1.0], [0.5, 1.0]], [[0.0, 0.0], [0.0, 0.0]], [[0.1, 0.4], [0.3, 0.2]]])
    assert pixel_ranking(maps).tolist() == [[1, 3, 0, 2], [0, 1, 2, 3], [1, 2, 3, 0]]


def test_changed_counts():
    assert changed_counts(16, 5).tolist() == [0, 5, 10, 15, 16]
    counts = changed_counts(224 * 224, 224)
    assert len(counts) == 225 and counts[-1] == 224 * 224 and counts[1] == 224
    with pytest.raises(ValueError):
        changed_counts(16, 0)


def test_deletion_of_the_region_first_and_last(model):
    first = deletion_curve(model, ONES, REGION_FIRST, torch.tensor([0]), step=1)
    torch.testing.assert_close(first.fractions, FRACTIONS)
    torch.testing.assert_close(first.scores, FALLING_FIRST)
    torch.testing.assert_close(first.auc, torch.tensor([0.25]))
    last = deletion_curve(model, ONES, REGION_LAST, torch.tensor([0]), step=1)
    torch.testing.assert_close(last.scores, FALLING_LAST)
    torch.testing.assert_close(last.auc, torch.tensor([0.75]))
    assert first.forward_passes == last.forward_passes == 17


def test_other_class_has_the_complementary_curve(model):
    """Two images in one batch, one per class: p_1 = 1 - p_0, so its deletion AUC is 1 - 0.25."""
    images, maps = ONES.expand(2, -1, -1, -1), REGION_FIRST.expand(2, -1, -1)
    for batch_size in (1, 5, 64):  # any split of the (image, point) pairs gives the same curves
        curve = deletion_curve(model, images, maps, torch.tensor([0, 1]), step=1, batch_size=batch_size)
        torch.testing.assert_close(curve.scores, torch.cat([FALLING_FIRST, 1 - FALLING_FIRST]))
        torch.testing.assert_close(curve.auc, torch.tensor([0.25, 0.75]))
        assert curve.forward_passes == 34


def test_default_substrate_is_the_mean_colour():
    """With (x - 0.5) / 0.5 the substrate is 0.5 in [0, 1] space (zero after normalisation), so
    deleting the region takes p_0 from 1 to 0.5: AUC = 0.5 * (1 + 0.5) / 2 + 0.5 * 0.5."""
    model = toy_classifier(RegionMean(TOP, 0.5, 0.5), SIZE, mean=0.5, std=0.5, layer="conv")
    assert torch.equal(model.normalise(model.mean.expand(1, 3, SIZE, SIZE)), torch.zeros(1, 3, SIZE, SIZE))
    curve = deletion_curve(model, ONES, REGION_FIRST, torch.tensor([0]), step=1)
    torch.testing.assert_close(curve.scores, (1 + FALLING_FIRST) / 2)
    torch.testing.assert_close(curve.auc, torch.tensor([0.625]))
    # An explicit substrate replaces the mean colour.
    black = deletion_curve(
        model, ONES, REGION_FIRST, torch.tensor([0]), step=1, substrate=torch.zeros(3, 1, 1)
    )
    torch.testing.assert_close(black.auc, torch.tensor([0.25]))


def test_insertion_and_overall(model):
    """From a black start (blur replaced by zeros): region first rises over the first half."""
    result = deletion_insertion(
        model,
        ONES.expand(2, -1, -1, -1),
        torch.cat([REGION_FIRST, REGION_LAST]),
        torch.tensor([0, 0]),
        step=1,
        blur=torch.zeros_like,
    )
    torch.testing.assert_close(result.insertion.scores, torch.cat([1 - FALLING_FIRST, 1 - FALLING_LAST]))
    torch.testing.assert_close(result.insertion.auc, torch.tensor([0.75, 0.25]))
    torch.testing.assert_close(result.deletion.auc, torch.tensor([0.25, 0.75]))
    torch.testing.assert_close(result.overall, torch.tensor([0.5, -0.5]))
    assert result.forward_passes == 4 * 17


def test_insertion_starts_from_the_default_blur():
    """Ends of the default insertion curve: p(gaussian_blur(x, 11, 5)) and p(x)."""
    size = 16
    region = torch.zeros(size, size, dtype=torch.bool)
    region[:8, :8] = True
    model = toy_classifier(RegionMean(region, 0.0, 1.0), size, layer="conv")
    images = torch.zeros(1, 3, size, size)
    images[..., 4:12, 4:12] = 1.0
    maps = torch.rand(1, size, size, generator=torch.Generator().manual_seed(0))
    curve = insertion_curve(model, images, maps, torch.tensor([0]), step=10)
    blurred = gaussian_blur(images, 11, 5.0)
    expected_start = blurred[0, 0][region].mean()
    assert abs(float(expected_start) - 0.25) > 0.01  # the blur moved it off p(x) = 16 / 64
    torch.testing.assert_close(curve.scores[0, 0], expected_start)
    torch.testing.assert_close(curve.scores[0, -1], torch.tensor(0.25))
    assert curve.scores.shape == (1, 27)  # ceil(256 / 10) + 1


def test_step_that_does_not_divide_the_image(model):
    """Step 5 of 16 pixels: points at 0, 5, 10, 15, 16 changed pixels, trapezoids on those."""
    curve = deletion_curve(model, ONES, REGION_FIRST, torch.tensor([0]), step=5)
    torch.testing.assert_close(curve.fractions, torch.tensor([0, 5, 10, 15, 16]) / 16)
    torch.testing.assert_close(curve.scores, torch.tensor([[1, 3 / 8, 0, 0, 0]]))
    torch.testing.assert_close(curve.auc, torch.tensor([70 / 256]))


@pytest.mark.parametrize("value", [0.0, 0.7])
def test_constant_and_all_zero_maps_follow_raster_order(model, value):
    """Every pixel ties, so pixels go in raster order: the top rows (the region) first."""
    curve = deletion_curve(model, ONES, torch.full((1, SIZE, SIZE), value), torch.tensor([0]), step=1)
    torch.testing.assert_close(curve.auc, torch.tensor([0.25]))


def test_ties_keep_raster_order_inside_a_level(model):
    """Left column pair tied at 1 (rows 0-3), the rest tied at 0: the left column goes first (its
    two region pixels at ranks 0 and 1), then the rest in raster order (6 region pixels next)."""
    maps = torch.zeros(1, SIZE, SIZE)
    maps[0, :, 0] = 1.0
    curve = deletion_curve(model, ONES, maps, torch.tensor([0]), step=1)
    removed = torch.tensor([0, 1, 2, 2, 2, 3, 4, 5, 6, 7, 8, 8, 8, 8, 8, 8, 8])
    torch.testing.assert_close(curve.scores, (1 - removed / 8).unsqueeze(0))


def test_shapes_are_checked(model):
    with pytest.raises(ValueError, match="maps must have shape"):
        deletion_curve(model, ONES, torch.zeros(1, 2, 2), torch.tensor([0]))
    with pytest.raises(ValueError, match="targets"):
        deletion_curve(model, ONES, REGION_FIRST, torch.tensor([0, 1]))
