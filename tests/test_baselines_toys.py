"""The baselines on tiny hand-built classifiers whose correct maps are known (what every method
must guarantee is in ``test_method_contract.py``)."""

from __future__ import annotations

import pytest
import torch
from helpers.methods import make
from helpers.models import (
    BOTTOM_RIGHT,
    PATCH_SIZE,
    TOP_LEFT,
    QuadrantNet,
    patch_classifier,
    patches,
    toy_classifier,
)
from torch import Tensor

from suny.baselines import RISE, CexCNN
from suny.models.wrapper import ImageClassifier
from suny.registry import method_names

SIZE = PATCH_SIZE
HALF = SIZE // 2
BASELINES = ["gradcam", "gradcam++", "scorecam", "groupcam", "smoothgrad", "rise", "cexcnn"]
SUNY = ["suny", "suny-n", "suny-s", "suny-filter"]


@pytest.fixture
def patch_model() -> ImageClassifier:
    return patch_classifier()


def test_registry_has_the_seven_baselines() -> None:
    assert set(BASELINES) <= set(method_names())


# ----------------------------------------------------------------------------- known maps
@pytest.mark.parametrize("name", ["gradcam", "gradcam++", "groupcam", "cexcnn"])
@pytest.mark.parametrize("target, patch", [(0, TOP_LEFT), (1, BOTTOM_RIGHT)])
def test_map_is_exactly_the_target_patch(
    name: str, target: int, patch: Tensor, patch_model: ImageClassifier
) -> None:
    """Only A_c moves logit c, and A_c is class c's patch: the map is that patch, exactly.

    Group-CAM (one channel per group): group c is the patch, which beats the blurred image (its
    max drops), the other group is zero; CexCNN: deleting filter c lowers p_c, deleting the other
    raises it, so only filter c is kept."""
    maps = make(name, patch_model, groups=2) if name == "groupcam" else make(name, patch_model)
    result = maps(patches(), target)
    torch.testing.assert_close(result.maps[0], patch.float(), rtol=0, atol=1e-6)


def test_cexcnn_importance_is_the_drop_of_p_c(patch_model: ImageClassifier) -> None:
    """p_0 = sigmoid(4 - 4) = 1/2 on the patches; without filter 0 logit 0 is 0 and logit 1 is 4,
    without filter 1 the reverse: importances 1/2 - sigmoid(-4) and 1/2 - sigmoid(4)."""
    result = CexCNN(patch_model)(patches(), 0)
    record = result.extras[0]
    expected = torch.tensor([0.5 - torch.sigmoid(torch.tensor(-4.0)), 0.5 - torch.sigmoid(torch.tensor(4.0))])
    torch.testing.assert_close(record.importance, expected)
    assert record.kept.tolist() == [True, False]


def test_cexcnn_threshold_keeping_nothing_gives_zeros(patch_model: ImageClassifier) -> None:
    result = CexCNN(patch_model, threshold=0.9)(patches(), 0)
    assert not result.extras[0].kept.any()
    assert torch.equal(result.maps, torch.zeros(1, SIZE, SIZE))


def test_cexcnn_divides_by_the_max_without_min_max(patch_model: ImageClassifier) -> None:
    """A uniform red image makes A_0 a positive constant: the map is 1 everywhere (min-max would
    give zeros). Deleting filter 1 (A_1 = 0) changes nothing: importance 0 is not kept."""
    x = torch.zeros(1, 3, SIZE, SIZE)
    x[:, 0] = 0.5
    result = CexCNN(patch_model)(x, 0)
    assert result.extras[0].importance[1] == 0
    assert result.extras[0].kept.tolist() == [True, False]
    torch.testing.assert_close(result.maps, torch.ones(1, SIZE, SIZE))


def test_rise_concentrates_on_the_quadrant_that_decides() -> None:
    """QuadrantNet's class 0 sees the top-left quadrant only: RISE's map holds most of its mass
    there and its least salient top-left pixel beats every pixel far from it. Class 1
    (p_1 = 1 - p_0) is the other way round."""
    model = toy_classifier(QuadrantNet(), SIZE)
    x = torch.ones(2, 3, SIZE, SIZE)
    maps = RISE(model, masks=1000, grid_size=4, seed=3)(x, torch.tensor([0, 1])).maps
    positive, negative = maps
    far = torch.zeros_like(TOP_LEFT)
    far[HALF + 4 :, HALF + 4 :] = True
    assert positive[TOP_LEFT].sum() / positive.sum() > 0.5  # a quarter of the pixels
    assert positive[TOP_LEFT].mean() > 3 * positive[~TOP_LEFT].mean()
    assert positive[TOP_LEFT].min() > positive[far].max()
    assert negative[TOP_LEFT].max() < negative[far].min()


def test_rise_is_the_formula_over_its_masks() -> None:
    """map = minmax(sum_i p_c(x * M_i) M_i / (N p1)), checked one mask at a time."""
    model = toy_classifier(QuadrantNet(), SIZE)
    x = torch.rand(1, 3, SIZE, SIZE)
    method = RISE(model, masks=40, grid_size=5, p1=0.3, batch_size=7, seed=1)
    masks = method.mask_set((SIZE, SIZE)).masks(slice(0, 40))
    total = torch.zeros(SIZE, SIZE)
    for mask in masks:
        total += model(x * mask).softmax(dim=1)[0, 0].detach() * mask
    expected = total / (40 * 0.3)
    expected = (expected - expected.min()) / (expected.max() - expected.min())
    torch.testing.assert_close(method(x, 0).maps[0], expected, rtol=0, atol=1e-5)


def test_rise_masks_match_the_official_skimage_upsampling() -> None:
    """Each mask is ``resize(grid, (s + 1) * cell, order=1, mode="reflect",
    anti_aliasing=False)[dy:dy + H, dx:dx + W]``, as in the official code."""
    from skimage.transform import resize

    for size, grid in [((32, 32), 7), ((30, 45), 4), ((17, 9), 3)]:
        method = RISE(toy_classifier(QuadrantNet(), SIZE), masks=12, grid_size=grid, seed=2)
        mask_set = method.mask_set(size)
        masks = mask_set.masks(slice(0, 12))
        cells = [-(-side // grid) for side in size]
        for i in range(12):
            up = resize(
                mask_set.grids[i].numpy(),
                [(grid + 1) * cell for cell in cells],
                order=1,
                mode="reflect",
                anti_aliasing=False,
            )
            dy, dx = int(mask_set.shifts[0][i]), int(mask_set.shifts[1][i])
            assert 0 <= dy < cells[0] and 0 <= dx < cells[1]
            expected = torch.from_numpy(up[dy : dy + size[0], dx : dx + size[1]])
            torch.testing.assert_close(masks[i], expected, rtol=0, atol=1e-6)
        assert 0.2 < mask_set.grids.mean() < 0.8  # p1 = 0.5


# ------------------------------------------------------------------------- seeds and precision
@pytest.mark.parametrize("name", ["rise", "smoothgrad"])
def test_same_seed_same_map(name: str, patch_model: ImageClassifier) -> None:
    """RISE and SmoothGrad draw masks and noise: another seed, other maps (the same seed gives the
    same maps for every method: ``test_method_contract.py``)."""
    x = patches() * 0.5 + 0.25
    first = make(name, patch_model, seed=7)(x, 0).maps
    again = make(name, patch_model, seed=7)(x, 0).maps
    other = make(name, patch_model, seed=8)(x, 0).maps
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.parametrize("name", [*(name for name in BASELINES if name != "rise"), *SUNY])
def test_maps_of_a_black_image_are_all_zeros(name: str, patch_model: ImageClassifier) -> None:
    """A black image makes every activation and input gradient 0: every map but RISE's (whose sum
    of masks still varies) is constant, hence all zeros; SUNY's responsibility maps weight all-zero
    activations (finite maps in [0, 1] for every method: ``test_method_contract.py``)."""
    maps = make(name, patch_model)(torch.zeros(1, 3, SIZE, SIZE), 0).maps
    assert torch.equal(maps, torch.zeros_like(maps))


@pytest.mark.parametrize("name", ["scorecam", "groupcam", "rise"])
def test_bfloat16_autocast_stays_close(name: str) -> None:
    model = toy_classifier(QuadrantNet(), SIZE)
    x = torch.rand(1, 3, SIZE, SIZE)
    exact = make(name, model, seed=4)(x, 0).maps
    mixed = make(name, model, seed=4, precision="bfloat16")(x, 0).maps
    assert (mixed - exact).abs().max() < 0.05
