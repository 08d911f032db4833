"""The baselines on tiny hand-built classifiers whose correct maps are known, plus what every method
must guarantee: hooks removed and train/eval flags restored (errors included), no ``.grad`` left on
parameters, same seed same map, batching that does not change the maps, finite maps in [0, 1]."""

from __future__ import annotations

import pytest
import torch
from conftest import toy_classifier
from torch import Tensor, nn

from suny.baselines import RISE, CexCNN
from suny.models.wrapper import ImageClassifier
from suny.registry import create_method, method_names

SIZE = 32
HALF = SIZE // 2
TOP_LEFT = torch.zeros(SIZE, SIZE, dtype=torch.bool)
TOP_LEFT[:HALF, :HALF] = True
BOTTOM_RIGHT = torch.zeros(SIZE, SIZE, dtype=torch.bool)
BOTTOM_RIGHT[HALF:, HALF:] = True
BASELINES = ["gradcam", "gradcam++", "scorecam", "groupcam", "smoothgrad", "rise", "cexcnn"]
#: Small settings so that every method runs in well under a second on the toys.
FAST = {"rise": {"masks": 64, "grid_size": 4}, "smoothgrad": {"samples": 6}}


class Tripwire(nn.Conv2d):
    """An identity 1x1 convolution that counts its calls and raises on call ``fail_at`` (a
    convolution, so that FilterReplay's traced tail calls it too)."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, channels, 1, bias=False)
        with torch.no_grad():
            self.weight.copy_(torch.eye(channels).view(channels, channels, 1, 1))
        self.calls = 0
        self.fail_at: int | None = None

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("tripwire")
        return super().forward(x)


class PatchNet(nn.Module):
    """Two classes: logit c = ``scale * max over pixels of relu(channel c of x)`` for c = 0 (red),
    1 (green). ``layer`` is the 1x1 convolution picking the red and green channels, so on
    :func:`patches` (red top-left quadrant, green bottom-right) ``A_c`` is class c's patch."""

    def __init__(self, scale: float = 4.0) -> None:
        super().__init__()
        self.layer = nn.Conv2d(3, 2, 1)
        with torch.no_grad():
            self.layer.weight.zero_()
            self.layer.bias.zero_()
            self.layer.weight[0, 0] = 1.0
            self.layer.weight[1, 1] = 1.0
        self.relu = nn.ReLU()
        self.gate = Tripwire(2)
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        return self.scale * self.gate(self.relu(self.layer(x))).amax(dim=(2, 3))


class QuadrantNet(nn.Module):
    """Two classes: logit 0 = ``scale * (mean of channel 0 over the top-left quadrant - 0.5)``,
    logit 1 = 0: class 0 depends on the top-left quadrant only."""

    def __init__(self, scale: float = 8.0) -> None:
        super().__init__()
        self.layer = nn.Conv2d(3, 1, 1, bias=False)
        with torch.no_grad():
            self.layer.weight.zero_()
            self.layer.weight[0, 0] = 1.0
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        a = self.layer(x)[:, 0]
        h, w = a.shape[-2:]
        logit = self.scale * (a[:, : h // 2, : w // 2].mean(dim=(1, 2)) - 0.5)
        return torch.stack([logit, torch.zeros_like(logit)], dim=1)


def patches() -> Tensor:
    """(1, 3, 32, 32): a red top-left quadrant and a green bottom-right one on black."""
    x = torch.zeros(1, 3, SIZE, SIZE)
    x[0, 0][TOP_LEFT] = 1.0
    x[0, 1][BOTTOM_RIGHT] = 1.0
    return x


@pytest.fixture
def patch_model() -> ImageClassifier:
    return toy_classifier(PatchNet(), SIZE)


def make(name: str, model: ImageClassifier, **options) -> object:
    return create_method(name, model, **{**FAST.get(name, {}), **options})


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


# ------------------------------------------------------------------ what every method must do
def module_flags(model: nn.Module) -> dict[str, bool]:
    return {name: module.training for name, module in model.named_modules()}


def assert_no_hooks(model: nn.Module) -> None:
    for name, module in model.named_modules():
        for hooks in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            assert not getattr(module, hooks), f"{name} keeps {hooks}"


#: The forward call (counted by the tripwire) that raises: mid-call for every method.
FAIL_AT = {"gradcam": 1, "gradcam++": 1, "smoothgrad": 2, "scorecam": 2, "groupcam": 3, "rise": 2}


@pytest.mark.parametrize("name", BASELINES)
def test_hooks_removed_and_mode_restored_after_an_error(name: str, patch_model: ImageClassifier) -> None:
    method = make(name, patch_model, batch_size=1)
    patch_model.train()
    patch_model.network.layer.eval()
    flags = module_flags(patch_model)
    gate = patch_model.network.gate
    gate.calls, gate.fail_at = 0, FAIL_AT.get(name, 2)
    with pytest.raises(RuntimeError, match="tripwire"):
        method(patches(), 0)
    assert gate.calls == gate.fail_at
    assert_no_hooks(patch_model)
    assert module_flags(patch_model) == flags
    assert all(p.grad is None for p in patch_model.parameters())


@pytest.mark.parametrize("name", BASELINES)
def test_mode_restored_and_no_hooks_or_grads_after_a_call(name: str, patch_model: ImageClassifier) -> None:
    patch_model.train()
    flags = module_flags(patch_model)
    make(name, patch_model)(patches(), 1)
    assert module_flags(patch_model) == flags
    assert_no_hooks(patch_model)
    assert all(p.grad is None for p in patch_model.parameters())


@pytest.mark.parametrize("name", ["gradcam", "gradcam++", "groupcam", "smoothgrad"])
def test_gradient_methods_work_frozen_and_under_no_grad(name: str, patch_model: ImageClassifier) -> None:
    """The same map whether the parameters require gradients or not, and inside ``no_grad``."""
    expected = make(name, patch_model)(patches(), 0).maps
    patch_model.requires_grad_(False)
    with torch.no_grad():
        frozen = make(name, patch_model)(patches(), 0).maps
    assert torch.is_grad_enabled()
    torch.testing.assert_close(frozen, expected, rtol=0, atol=0)
    assert all(p.grad is None for p in patch_model.parameters())


@pytest.mark.parametrize("name", ["rise", "smoothgrad"])
def test_same_seed_same_map(name: str, patch_model: ImageClassifier) -> None:
    x = patches() * 0.5 + 0.25
    first = make(name, patch_model, seed=7)(x, 0).maps
    again = make(name, patch_model, seed=7)(x, 0).maps
    other = make(name, patch_model, seed=8)(x, 0).maps
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.parametrize("name", BASELINES)
def test_batching_does_not_change_the_maps(name: str) -> None:
    """Two images with different targets in one call, one forward per masked input, equal the
    images explained one at a time with large batches."""
    torch.manual_seed(0)
    network = PatchNet()
    with torch.no_grad():
        network.layer.weight.copy_(torch.randn(2, 3, 1, 1))
    model = toy_classifier(network, SIZE)
    images = torch.rand(2, 3, SIZE, SIZE)
    targets = torch.tensor([0, 1])
    together = make(name, model, batch_size=1)(images, targets).maps
    alone = torch.cat([make(name, model)(images[i : i + 1], targets[i]).maps for i in range(2)])
    assert together.shape == (2, SIZE, SIZE)
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", BASELINES)
def test_maps_are_finite_in_the_unit_range_even_when_constant(
    name: str, patch_model: ImageClassifier
) -> None:
    """A black image makes every activation and input gradient 0: every map but RISE's (whose sum
    of masks still varies) is constant, hence all zeros."""
    for images in (patches(), torch.zeros(1, 3, SIZE, SIZE)):
        maps = make(name, patch_model)(images, 0).maps
        assert maps.shape == (1, SIZE, SIZE) and maps.dtype == torch.float32
        assert torch.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1
    if name != "rise":
        assert torch.equal(maps, torch.zeros_like(maps))


@pytest.mark.parametrize("name", ["scorecam", "groupcam", "rise"])
def test_bfloat16_autocast_stays_close(name: str) -> None:
    model = toy_classifier(QuadrantNet(), SIZE)
    x = torch.rand(1, 3, SIZE, SIZE)
    exact = make(name, model, seed=4)(x, 0).maps
    mixed = make(name, model, seed=4, precision="bfloat16")(x, 0).maps
    assert (mixed - exact).abs().max() < 0.05


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", BASELINES)
def test_cuda_maps_match_cpu(name: str) -> None:
    cpu_model = toy_classifier(PatchNet(), SIZE)
    x = patches() * 0.5 + 0.25
    expected = make(name, cpu_model)(x, 0).maps
    gpu = make(name, cpu_model.to("cuda"))(x, 0).maps
    assert gpu.device.type == "cuda"
    if name not in ("rise", "smoothgrad"):  # random draws differ between devices
        torch.testing.assert_close(gpu.cpu(), expected, rtol=0, atol=1e-4)
