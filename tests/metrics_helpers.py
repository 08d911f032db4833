"""Toy models with hand-known outputs, and a minimal Grad-CAM, for the metrics tests."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from suny.models.hooks import captured_output
from suny.models.wrapper import ImageClassifier, Preprocessing
from suny.ops import minmax, upsample
from suny.saliency import SaliencyResult


class RegionMean(nn.Module):
    """Two classes: ``p_0(x) = mean of channel 0 of x over region`` (x in [0, 1] space), p_1 = 1 - p_0.

    Logits are ``log v`` and ``log(1 - v)``, so the softmax gives ``v`` back. A 1x1 identity
    convolution makes it a CNN for the wrapper.
    """

    def __init__(self, region: Tensor, mean: float, std: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        self.register_buffer("region", region)
        self.mean, self.std = mean, std

    def forward(self, z: Tensor) -> Tensor:
        x = self.conv(z) * self.std + self.mean
        value = x[:, 0][:, self.region].mean(dim=1).clamp(0.0, 1.0)
        return torch.stack([value.log(), (1 - value).log()], dim=1)


class RegionThreshold(nn.Module):
    """Two classes: class 0 while the mean of channel 0 over ``region`` exceeds ``threshold``."""

    def __init__(self, region: Tensor, threshold: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        self.register_buffer("region", region)
        self.threshold = threshold

    def forward(self, x: Tensor) -> Tensor:
        value = self.conv(x)[:, 0][:, self.region].mean(dim=1)
        return torch.stack([value, torch.full_like(value, self.threshold)], dim=1)


def toy_classifier(network: nn.Module, size: int, mean: float = 0.0, std: float = 1.0) -> ImageClassifier:
    """Wrap ``network`` for ``size`` x ``size`` images normalised by ``(x - mean) / std``."""
    preprocessing = Preprocessing(size, size, (mean,) * 3, (std,) * 3)
    return ImageClassifier(network, preprocessing, ["zero", "one"], default_layer="conv", name="toy")


def gradcam(model: ImageClassifier):
    """A minimal Grad-CAM at the model's default layer (a method factory for the sanity check)."""

    def explain(images: Tensor, targets: Tensor) -> SaliencyResult:
        targets = torch.as_tensor(targets).view(-1, 1)
        with captured_output(model.layer(), copy=False) as outputs, torch.enable_grad():
            score = model(images).gather(1, targets).sum()
            activations = outputs[0]
            (gradients,) = torch.autograd.grad(score, activations)
        weights = gradients.mean(dim=(2, 3), keepdim=True)
        cam = (weights * activations).sum(dim=1, keepdim=True).relu()
        return SaliencyResult(minmax(upsample(cam, tuple(images.shape[-2:]))).squeeze(1).detach())

    return explain
