"""Saliency attack: exact flips and sizes on a threshold toy model, and the shared noise draw."""

from __future__ import annotations

import math

import pytest
import torch
from helpers.models import RegionThreshold, toy_classifier

from suny.metrics.attack import attack_noise, attack_score, image_seed, saliency_attack, true_maps

SIZE = 4
TOP = torch.zeros(SIZE, SIZE, dtype=torch.bool)
TOP[:2] = True


def test_flips_and_sizes_are_exact():
    """Class 0 while the mean of channel 0 over the top rows exceeds 0.5; x = 0.6 and noise = -1,
    so a map lowers that mean by its own mean over the region."""
    model = toy_classifier(RegionThreshold(TOP, 0.5), SIZE, layer="conv")
    one_pixel = torch.zeros(SIZE, SIZE)
    one_pixel[0, 0] = 1.0
    maps = torch.stack(
        [
            TOP.float(),  # mean drops by 1 -> flips
            (~TOP).float(),  # outside the region -> no flip
            0.25 * TOP.float(),  # 0.6 - 0.25 = 0.35 -> flips
            0.05 * TOP.float(),  # 0.55 -> no flip
            torch.zeros(SIZE, SIZE),  # nothing -> no flip, size 0
            one_pixel,  # 0.6 - 1 / 8 = 0.475 -> flips, size 1 / 16
        ]
    )
    images = torch.full((6, 3, SIZE, SIZE), 0.6)
    result = saliency_attack(model, images, maps, -torch.ones_like(images), batch_size=4, threshold=0.0)
    assert result.original.tolist() == [0] * 6
    assert result.attacked.tolist() == [1, 0, 1, 0, 0, 1]
    assert result.flips.tolist() == [True, False, True, False, False, True]
    torch.testing.assert_close(result.sizes, torch.tensor([0.5, 0.5, 0.5, 0.5, 0.0, 1 / 16]))
    score = attack_score(result.flips, result.sizes)
    assert score == pytest.approx((3 / 6) / ((2 + 1 / 16) / 6))


def test_the_true_map_keeps_the_upper_half_of_the_min_max_map():
    """tau = 0.5: a ramp keeps its values from half its range on; the noise goes through that part
    only, and the size counts it alone. Class 0 while the top rows' mean of channel 0 exceeds 0.5."""
    ramp = torch.linspace(0.2, 1.0, SIZE * SIZE).view(SIZE, SIZE)  # min-max: 0 .. 1 in 16 steps
    kept = (ramp - 0.2) / 0.8 >= 0.5
    torch.testing.assert_close(true_maps(ramp[None])[0], ramp * kept)
    assert int(kept.sum()) == 8 and not kept[:2].any()  # the upper half lies in the bottom rows
    model = toy_classifier(RegionThreshold(TOP, 0.5), SIZE, layer="conv")
    maps = torch.stack([ramp, ramp.flip(0)])  # the second puts its upper half on the top rows
    images = torch.full((2, 3, SIZE, SIZE), 0.6)
    result = saliency_attack(model, images, maps, -torch.ones_like(images), threshold=0.5)
    assert result.flips.tolist() == [False, True]  # top rows untouched / lowered by 0.2-1.0
    torch.testing.assert_close(result.sizes, torch.tensor([0.5, 0.5]))
    literal = saliency_attack(model, images, maps, -torch.ones_like(images), threshold=0.0)
    torch.testing.assert_close(literal.sizes, torch.tensor([1.0, 1.0]))  # every pixel of a dense map
    assert literal.flips.tolist() == [True, True]


def test_all_zero_maps_give_a_nan_score():
    assert math.isnan(attack_score(torch.zeros(3, dtype=torch.bool), torch.zeros(3)))
    assert attack_score(torch.tensor([1.0, 0.5]), torch.tensor([0.25, 0.25])) == pytest.approx(3.0)


def test_noise_has_the_spec_variance():
    noise = attack_noise([f"image{i}" for i in range(100)], (3, 32, 32), seed=0)
    assert noise.shape == (100, 3, 32, 32)
    assert float(noise.var()) == pytest.approx(0.03, rel=0.02)
    assert abs(float(noise.mean())) < 0.002


def test_noise_depends_only_on_seed_and_key():
    """Same draw for an image whatever the batch, its position or the method; another seed or key
    gives another draw."""
    batch = attack_noise(["a", "b", "c"], (3, 8, 8), seed=7)
    torch.testing.assert_close(attack_noise(["c", "b"], (3, 8, 8), seed=7), batch[[2, 1]], rtol=0, atol=0)
    assert not torch.equal(attack_noise(["a"], (3, 8, 8), seed=8)[0], batch[0])
    assert not torch.equal(batch[0], batch[1])
    assert image_seed(7, "a") == image_seed(7, "a") != image_seed(7, "b")


def test_shapes_are_checked():
    model = toy_classifier(RegionThreshold(TOP, 0.5), SIZE, layer="conv")
    images = torch.zeros(2, 3, SIZE, SIZE)
    with pytest.raises(ValueError, match="do not match"):
        saliency_attack(model, images, torch.zeros(2, SIZE, SIZE), torch.zeros(1, 3, SIZE, SIZE))
