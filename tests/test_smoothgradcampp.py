"""Smooth Grad-CAM++ (the paper's "SmoothGrad" row): exact values on a model whose derivatives are
known, Grad-CAM++ as its noiseless case, and torch-cam's ``SmoothGradCAMpp`` on the same noise draws
(equal where the two definitions coincide, the documented difference where they do not)."""

from __future__ import annotations

import pytest
import torch
from helpers.models import SquareAndSumNet, toy_classifier
from torch import Tensor

from suny.baselines import GradCAMPlusPlus, SmoothGradCAMPlusPlus
from suny.baselines.common import activations_and_gradients, input_noise
from suny.errors import SunyError
from suny.models import ImageClassifier, load_model
from suny.ops import minmax, upsample

#: Red channel (A_0) and green channel (A_1) of the 2 x 2 image of the exact tests.
RED = [[1.0, 2.0], [0.0, 3.0]]
GREEN = [[0.0, 0.0], [1.0, 1.0]]


@pytest.fixture
def square_model() -> ImageClassifier:
    return toy_classifier(SquareAndSumNet())


def image() -> Tensor:
    return torch.stack([torch.tensor(RED), torch.tensor(GREEN), torch.zeros(2, 2)])[None]


def test_noiseless_weights_are_grad_cam_plus_plus_by_hand(square_model: ImageClassifier) -> None:
    """Without noise ``D_p = g^p``. Channel 0: ``g = A_0 = a``, ``sum A_0 = 6``, so ``alpha =
    a^2 / (2 a^2 + 6 a^3) = 1 / (2 + 6 a)`` (0 at a = 0) and ``w_0 = 1/8 + 2/14 + 3/20``. Channel 1:
    ``g = 1``, ``sum A_1 = 2``: ``alpha = 1/4`` at each of the 4 pixels, ``w_1 = 1``."""
    x = image()
    method = SmoothGradCAMPlusPlus(square_model, samples=3, noise=0.0)
    activations = square_model.forward_with_layer(x, "layer")[1]
    weights = method.channel_weights(x, torch.tensor([0]), activations, None)
    torch.testing.assert_close(weights, torch.tensor([[1 / 8 + 2 / 14 + 3 / 20, 1.0]]), rtol=1e-5, atol=0)
    expected = minmax((weights[0, 0] * torch.tensor(RED) + weights[0, 1] * torch.tensor(GREEN))[None])
    torch.testing.assert_close(method(x, 0).maps, expected, rtol=0, atol=1e-6)


def test_noisy_moments_average_the_powers_of_the_gradient(square_model: ImageClassifier) -> None:
    """With noise, channel 0's gradient is the noisy red channel ``r_i = red + e_i[0]``, so ``D_p =
    mean_i r_i^p`` (not ``(mean_i r_i)^p``); channel 1's is 1 whatever the noise. The weights follow
    from Grad-CAM++'s formula on those moments and the clean activations' sums."""
    x = image()
    method = SmoothGradCAMPlusPlus(square_model, samples=5, noise=0.5, seed=3)
    noise = input_noise(x[0], 5, 0.5, method.generator()).double()
    red = torch.tensor(RED, dtype=torch.float64) + noise[:, 0]  # (5, 2, 2)
    first, second, third = method.gradient_moments(x, torch.tensor([0]))
    for order, moment in enumerate((first, second, third), start=1):
        torch.testing.assert_close(moment[0, 0].double(), (red**order).mean(dim=0), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(moment[0, 1], torch.ones(2, 2))
    assert not torch.allclose(second[0, 0].double(), red.mean(dim=0) ** 2, atol=1e-3)  # the noise matters

    d1, d2, d3 = ((red**p).mean(dim=0) for p in (1, 2, 3))
    alpha = d2 / (2 * d2 + 6.0 * d3 + 1e-6)
    expected = torch.tensor([float((alpha * d1.relu()).sum()), 1.0])
    activations = square_model.forward_with_layer(x, "layer")[1]
    weights = method.channel_weights(x, torch.tensor([0]), activations, None)
    torch.testing.assert_close(weights[0].double(), expected.double(), rtol=1e-5, atol=0)


@pytest.mark.parametrize("name, layer", [("efficientnet-lite0", None), ("resnet18", "layer3")])
def test_one_noiseless_sample_is_grad_cam_plus_plus(name: str, layer: str | None) -> None:
    torch.manual_seed(0)
    model = load_model(name) if name == "efficientnet-lite0" else load_model(name, "none")
    images = torch.rand(2, 3, 64, 64)
    targets = model(images).argmax(dim=1)
    ours = SmoothGradCAMPlusPlus(model, layer=layer, samples=1, noise=0.0)(images, targets).maps
    reference = GradCAMPlusPlus(model, layer=layer)(images, targets).maps
    assert (reference.amax(dim=(1, 2)) - reference.amin(dim=(1, 2)) > 0.5).all()
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-6)


def test_noise_changes_nothing_where_the_gradient_does_not_depend_on_the_input() -> None:
    """Lite0's head activation is followed by global average pooling and a linear classifier, so
    ``dy_c / dA = W_c / hw`` for every input: ``D_p = g^p`` and the map is Grad-CAM++'s whatever the
    noise (why the paper's "SmoothGrad" cells sit next to Grad-CAM++'s on ResNet50's ``layer4``).
    One layer earlier, where the gradient goes through a convolution and a ReLU6, it is not."""
    torch.manual_seed(0)
    model = load_model("efficientnet-lite0")
    images = torch.rand(1, 3, 96, 96)
    target = model(images).argmax(dim=1)
    for layer, same in (("_head_activation", True), ("_blocks.15", False)):
        smooth = SmoothGradCAMPlusPlus(model, layer=layer, samples=6, noise=0.15)(images, target).maps
        plain = GradCAMPlusPlus(model, layer=layer)(images, target).maps
        assert ((smooth - plain).abs().max() < 1e-5) == same, layer


def test_bad_settings_are_refused(square_model: ImageClassifier) -> None:
    with pytest.raises(SunyError, match="samples must be at least 1"):
        SmoothGradCAMPlusPlus(square_model, samples=0)
    with pytest.raises(SunyError, match="noise must be at least 0"):
        SmoothGradCAMPlusPlus(square_model, noise=-0.1)


# ----------------------------------------------------------------------------- torch-cam
class ReplayedNoise:
    """Stands for torch-cam's noise distribution: ``sample`` returns the given draws in turn."""

    def __init__(self, draws: Tensor) -> None:
        self.draws = list(draws)

    def sample(self, size: torch.Size) -> Tensor:
        return self.draws.pop(0).reshape(size)


def torch_cam_map(model: ImageClassifier, layer: str, x: Tensor, target: int, draws: Tensor) -> Tensor:
    """torch-cam's ``SmoothGradCAMpp`` map of ``x`` (1, 3, H, W) with ``draws`` as its noise, at the
    layer's resolution (normalised, as torch-cam returns it)."""
    methods = pytest.importorskip("torchcam.methods")
    with methods.SmoothGradCAMpp(model, model.layer(layer), num_samples=len(draws)) as extractor:
        extractor._distrib = ReplayedNoise(draws)
        scores = model(x)
        (cam,) = extractor(class_idx=target, scores=scores)
    return cam


def test_torch_cam_on_the_same_draws_differs_as_documented() -> None:
    """resnet18's ``layer3`` (random weights), where ``dy_c / dA`` moves with the noise. torch-cam
    averages the same powers of the gradient on the same draws (our ``D2``, ``D3``), then differs
    as documented: its alpha sums ``A D3`` over the positions, its weights take the last noisy
    pass's gradient, its map the last noisy pass's activations. Computed from our moments with
    those three differences, its map is torch-cam's; ours is not."""
    torch.manual_seed(0)
    model = load_model("resnet18", "none")
    x = torch.rand(1, 3, 64, 64)
    target = torch.tensor([int(model(x).argmax())])
    ours = SmoothGradCAMPlusPlus(model, layer="layer3", samples=3, noise=0.15, seed=7)
    draws = input_noise(x[0], 3, 0.15, ours.generator())
    theirs = torch_cam_map(model, "layer3", x, int(target), draws)

    _, second, third = ours.gradient_moments(x, target)
    clean = model.forward_with_layer(x, "layer3")[1]
    last_activations, last_gradient = activations_and_gradients(model, "layer3", x + draws[-1], target)
    alpha = second / (2 * second + (third * clean).sum(dim=(2, 3), keepdim=True) + 1e-8)
    weights = (alpha * last_gradient.relu()).sum(dim=(2, 3))
    expected = minmax((weights[:, :, None, None] * last_activations).sum(dim=1).relu())
    torch.testing.assert_close(theirs, expected, rtol=0, atol=1e-4)

    our_map = ours(x, target).maps
    their_map = minmax(upsample(theirs[:, None], (64, 64)))[:, 0]
    assert (our_map - their_map).abs().max() > 0.05


def test_torch_cam_equals_ours_where_the_definitions_coincide() -> None:
    """Without noise and at resnet18's ``layer4`` (global average pooling and a linear layer after
    it: ``D3`` is constant over the positions, so both alphas agree, and every pass is the clean
    one), torch-cam's map is ours. The classifier's weights are scaled up so that ``g^2`` dwarfs
    both denominators' constants (1e-6 here, as pytorch-grad-cam; 1e-8 in torch-cam)."""
    torch.manual_seed(0)
    model = load_model("resnet18", "none")
    with torch.no_grad():
        model.network.fc.weight.mul_(100)
    x = torch.rand(1, 3, 96, 96)
    target = int(model(x).argmax())
    ours = SmoothGradCAMPlusPlus(model, layer="layer4", samples=2, noise=0.0)(x, target).maps
    theirs = torch_cam_map(model, "layer4", x, target, torch.zeros(2, 3, 96, 96))
    assert ours.amax() - ours.amin() > 0.5
    torch.testing.assert_close(ours, minmax(upsample(theirs[:, None], (96, 96)))[:, 0], rtol=0, atol=1e-4)
