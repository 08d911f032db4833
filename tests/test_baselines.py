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
from suny.ops import minmax, upsample
from suny.saliency import create_method

pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus  # noqa: E402
from pytorch_grad_cam import ScoreCAM as ReferenceScoreCAM  # noqa: E402
from pytorch_grad_cam.utils.model_targets import (  # noqa: E402
    ClassifierOutputSoftmaxTarget,
    ClassifierOutputTarget,
)

#: model -> (image size, a Score-CAM layer with few channels)
MODELS = {
    "resnet18": (64, "layer1"),  # 64 channels, 16x16
    "vgg16": (64, "features.4"),  # max-pool after block 1: 64 channels, 32x32
    "efficientnet-lite0": (64, "_blocks.0"),  # 16 channels, 32x32
}
TOLERANCE = 1e-4


@pytest.fixture(scope="module", params=list(MODELS))
def case(request: pytest.FixtureRequest) -> tuple[ImageClassifier, Tensor, Tensor, str]:
    """A model, two [0, 1] images, their targets (the predicted class and class 7) and the model's
    Score-CAM layer."""
    name = request.param
    torch.manual_seed(0)
    model = load_model(name) if name == "efficientnet-lite0" else load_model(name, "none")
    size, layer = MODELS[name]
    images = torch.rand(2, 3, size, size)
    with torch.no_grad():
        predicted = model(images[:1]).argmax(dim=1)
    return model, images, torch.cat([predicted, torch.tensor([7])]), layer


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


def test_scorecam_matches_pytorch_grad_cam_with_the_official_weighting(
    case: tuple, official_score_cam: None
) -> None:
    model, images, targets, layer = case
    ours = ScoreCAM(model, layer=layer, batch_size=24)(images, targets).maps
    theirs = reference(
        ReferenceScoreCAM, model, layer, images, [ClassifierOutputSoftmaxTarget(int(c)) for c in targets]
    )
    assert_same_maps(ours, theirs)


def test_scorecam_differs_from_pytorch_grad_cam_by_a_softmax_over_channels(case: tuple) -> None:
    """Unpatched, pytorch-grad-cam's channel weights are softmax_k of ours. The activations are
    given at the input's resolution, where both upsamplings are the identity."""
    model, images, targets, layer = case
    activations = torch.rand(1, 5, *images.shape[-2:])
    x, c = images[:1], targets[:1]
    ours = ScoreCAM(model, layer=layer).channel_weights(x, c, activations, None)
    with ReferenceScoreCAM(model=model, target_layers=[model.layer(layer)]) as cam:
        theirs = cam.get_cam_weights(
            x, None, [ClassifierOutputSoftmaxTarget(int(c))], activations.numpy(), None
        )
    torch.testing.assert_close(torch.from_numpy(theirs), ours.softmax(dim=1), rtol=1e-5, atol=1e-6)


def test_scorecam_is_the_official_loop() -> None:
    """The official code, one channel at a time: ``map += p_c(x * norm(up(A_k))) * up(A_k)``,
    constant channels skipped, then relu and min-max (there the image is the normalised one; here
    the [0, 1] one)."""
    torch.manual_seed(1)
    model = load_model("resnet18", "none")
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        target = int(model(x).argmax())
    ours = ScoreCAM(model, layer="layer1", batch_size=16)(x, target).maps[0]
    from suny.models.wrapper import captured_output

    with torch.no_grad(), captured_output(model.layer("layer1")) as outputs:
        model(x)
        activations = outputs[0].clone()
        total = torch.zeros(1, 1, 32, 32)
        for k in range(activations.shape[1]):
            up = upsample(activations[:, k : k + 1], (32, 32))
            if up.max() == up.min():
                continue
            norm = (up - up.min()) / (up.max() - up.min())
            total += model(x * norm).softmax(dim=1)[0, target] * up
    expected = total.relu()[0, 0]
    expected = (expected - expected.min()) / (expected.max() - expected.min())
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["resnet18", "efficientnet-lite0"])
def test_smoothgrad_matches_captum_noise_tunnel(name: str) -> None:
    """captum draws ``torch.normal(0, sigma)`` of shape (n, 3, H, W) from the global generator; after
    ``torch.manual_seed(seed)`` these are our draws for the same image and seed."""
    from captum.attr import NoiseTunnel, Saliency

    torch.manual_seed(0)
    model = load_model(name) if name == "efficientnet-lite0" else load_model(name, "none")
    images = torch.rand(2, 3, 48, 48) * torch.tensor([1.0, 0.5]).view(2, 1, 1, 1)
    targets = torch.tensor([3, 500])
    ours = SmoothGrad(model, seed=11, samples=6, batch_size=4)(images, targets).maps
    tunnel = NoiseTunnel(Saliency(model))
    for image, target, our_map in zip(images, targets, ours):
        torch.manual_seed(11)
        sigma = float(0.15 * (image.max() - image.min()))
        attribution = tunnel.attribute(
            image[None], nt_type="smoothgrad", nt_samples=6, stdevs=sigma, target=int(target)
        )
        theirs = minmax(attribution.amax(dim=1))[0]
        assert our_map.max() - our_map.min() > 0.5
        assert (our_map - theirs).abs().max() < TOLERANCE
    assert all(p.grad is None for p in model.parameters())
