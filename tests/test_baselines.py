"""The baselines against well-kept implementations, in numbers: Grad-CAM, Grad-CAM++ and Score-CAM
against pytorch-grad-cam, SmoothGrad against captum's NoiseTunnel(Saliency), on torchvision's
resnet18 and vgg16 (random weights) and EfficientNet-Lite0 (real weights), with small images.

pytorch-grad-cam is given the wrapper itself (which takes [0, 1] images and normalises inside) and
the same [0, 1] input; both maps are min-max normalised before they are compared.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from suny.baselines import ScoreCAM, SmoothGrad
from suny.models import ImageClassifier, load_model
from suny.models.hooks import captured_output
from suny.ops import minmax, upsample
from suny.registry import create_method

pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
from pytorch_grad_cam import ScoreCAM as ReferenceScoreCAM
from pytorch_grad_cam.utils.model_targets import (
    ClassifierOutputSoftmaxTarget,
    ClassifierOutputTarget,
)

#: model -> a Score-CAM layer with few channels (run on 32 x 32 images)
MODELS = {
    "resnet18": "layer1",  # 64 channels, 8x8
    "vgg16": "features.4",  # max-pool after block 1: 64 channels, 16x16
    "efficientnet-lite0": "_blocks.0",  # 16 channels, 16x16
}
#: Grad-CAM images: 64 x 64 (2 x 2 to 4 x 4 maps at the default layers); Score-CAM: 32 x 32.
SIZE = 64
SMALL = 32
TOLERANCE = 1e-4


@pytest.fixture(scope="module", params=list(MODELS))
def case(request: pytest.FixtureRequest) -> tuple[ImageClassifier, Tensor, Tensor, str]:
    """A model, two [0, 1] images, their targets (the first's top class, the second's runner-up)
    and the model's Score-CAM layer."""
    name = request.param
    torch.manual_seed(0)
    model = load_model(name) if name == "efficientnet-lite0" else load_model(name, "none")
    images = torch.rand(2, 3, SIZE, SIZE)
    with torch.no_grad():
        ranked = model(images).argsort(dim=1, descending=True)
    return model, images, torch.stack([ranked[0, 0], ranked[1, 1]]), MODELS[name]


def reference(cam_class: type, model: ImageClassifier, layer: str, images: Tensor, targets: list) -> Tensor:
    with cam_class(model=model, target_layers=[model.layer(layer)]) as cam:
        cam.batch_size = 64  # Score-CAM only
        maps = cam(images, targets=targets)
    model.zero_grad(set_to_none=True)  # pytorch-grad-cam backpropagates into the parameters
    return minmax(torch.from_numpy(maps))


def assert_same_maps(ours: Tensor, theirs: Tensor) -> None:
    assert (ours.amax(dim=(1, 2)) - ours.amin(dim=(1, 2)) > 0.5).all(), "a trivial map proves nothing"
    assert (ours - theirs).abs().max() < TOLERANCE


@pytest.mark.parametrize("name, cam_class", [("gradcam", GradCAM), ("gradcam++", GradCAMPlusPlus)])
def test_gradient_cams_match_pytorch_grad_cam(name: str, cam_class: type, case: tuple) -> None:
    model, images, targets, _ = case
    ours = create_method(name, model)(images, targets).maps
    theirs = reference(
        cam_class, model, model.default_layer, images, [ClassifierOutputTarget(int(c)) for c in targets]
    )
    assert_same_maps(ours, theirs)


@pytest.fixture
def official_score_cam(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytorch-grad-cam's Score-CAM with our two deliberate differences switched off: bilinear
    upsampling with ``align_corners=False`` (it uses ``UpsamplingBilinear2d``, i.e. True) and no
    softmax across the channels' scores. The third, scoring the logit, is switched off with
    ``ClassifierOutputSoftmaxTarget``."""
    monkeypatch.setattr(
        nn,
        "UpsamplingBilinear2d",
        lambda size: nn.Upsample(size=size, mode="bilinear", align_corners=False),
    )
    monkeypatch.setattr(nn, "Softmax", lambda dim: nn.Identity())


def test_scorecam_matches_pytorch_grad_cam_and_the_official_weighting(
    case: tuple, official_score_cam: None
) -> None:
    """Against pytorch-grad-cam (patched as above), and against the official weighting computed
    here in one batch: ``w_k = p_c(x * norm(up(A_k)))``, constant channels skipped (w_k = 0),
    ``map = minmax(up(relu(sum_k w_k A_k)))``. The official code relus after upsampling; that
    differs only where the sum changes sign (Lite0's linear block outputs), so the reference
    follows pytorch-grad-cam's order (relu, then upsample), which every suny CAM uses."""
    model, images, targets, layer = case
    x, c = images[:1, :, :SMALL, :SMALL], int(targets[0])
    ours = ScoreCAM(model, layer=layer, batch_size=24)(x, c).maps
    theirs = reference(ReferenceScoreCAM, model, layer, x, [ClassifierOutputSoftmaxTarget(c)])
    assert_same_maps(ours, theirs)

    with torch.no_grad(), captured_output(model.layer(layer)) as outputs:
        model(x)
        activations = outputs[0].clone()[0]  # (K, h, w)
        up = upsample(activations[None], (SMALL, SMALL))[0]
        low, high = up.amin(dim=(1, 2)), up.amax(dim=(1, 2))
        varying = high > low
        norm = (up - low[:, None, None]) / (high - low).clamp_min(1e-30)[:, None, None]
        weights = model(x * norm[varying, None]).softmax(dim=1)[:, c]
    cam = (weights[:, None, None] * activations[varying]).sum(dim=0).relu()
    expected = minmax(upsample(cam[None, None], (SMALL, SMALL)))[0]
    assert varying.sum() > 1
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-5)


def test_scorecam_differs_from_pytorch_grad_cam_by_a_softmax_over_channels(case: tuple) -> None:
    """Unpatched, pytorch-grad-cam's channel weights are softmax_k of ours. The activations are
    given at the input's resolution, where both upsamplings are the identity."""
    model, images, targets, layer = case
    activations = torch.rand(1, 5, SMALL, SMALL)
    x, c = images[:1, :, :SMALL, :SMALL], targets[:1]
    ours = ScoreCAM(model, layer=layer).channel_weights(x, c, activations, None)
    with ReferenceScoreCAM(model=model, target_layers=[model.layer(layer)]) as cam:
        theirs = cam.get_cam_weights(
            x, None, [ClassifierOutputSoftmaxTarget(int(c))], activations.numpy(), None
        )
    torch.testing.assert_close(torch.from_numpy(theirs), ours.softmax(dim=1), rtol=1e-5, atol=1e-6)


def test_smoothgrad_matches_captum_noise_tunnel(case: tuple) -> None:
    """captum draws ``torch.normal(0, sigma)`` of shape (n, 3, H, W) from the global generator; after
    ``torch.manual_seed(seed)`` these are our draws for the same image and seed. The two images
    have different ranges, hence different sigmas."""
    captum = pytest.importorskip("captum.attr")
    model, images, targets, _ = case
    images = images[:, :, :SMALL, :SMALL] * torch.tensor([1.0, 0.5]).view(2, 1, 1, 1)
    ours = SmoothGrad(model, seed=11, samples=3, batch_size=2)(images, targets).maps
    tunnel = captum.NoiseTunnel(captum.Saliency(model))
    for image, target, our_map in zip(images, targets, ours):
        torch.manual_seed(11)
        sigma = float(0.15 * (image.max() - image.min()))
        attribution = tunnel.attribute(
            image[None], nt_type="smoothgrad", nt_samples=3, stdevs=sigma, target=int(target)
        )
        theirs = minmax(attribution.amax(dim=1))[0]
        assert our_map.max() - our_map.min() > 0.5
        assert (our_map - theirs).abs().max() < TOLERANCE
    assert all(p.grad is None for p in model.parameters())
