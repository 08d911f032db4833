"""Tiny hand-built classifiers whose outputs can be computed by hand, and the wrapper that makes
them :class:`~suny.models.ImageClassifier` models."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from suny.models import ImageClassifier, Preprocessing

#: Side of the images of :class:`PatchNet` and :func:`patches`, and the quadrants they use.
PATCH_SIZE = 32
TOP_LEFT = torch.zeros(PATCH_SIZE, PATCH_SIZE, dtype=torch.bool)
TOP_LEFT[: PATCH_SIZE // 2, : PATCH_SIZE // 2] = True
BOTTOM_RIGHT = torch.zeros(PATCH_SIZE, PATCH_SIZE, dtype=torch.bool)
BOTTOM_RIGHT[PATCH_SIZE // 2 :, PATCH_SIZE // 2 :] = True


def toy_classifier(
    network: nn.Module,
    size: int = 2,
    *,
    mean: float = 0.0,
    std: float = 1.0,
    classes: Sequence[str] = ("yes", "no"),
    layer: str = "layer",
    name: str = "toy",
) -> ImageClassifier:
    """Wrap ``network`` for ``size`` x ``size`` images normalised by ``(x - mean) / std`` (identity
    by default), with class names ``classes`` and default layer ``layer``."""
    preprocessing = Preprocessing(resize=size, crop=size, mean=(mean,) * 3, std=(std,) * 3)
    return ImageClassifier(network, preprocessing, list(classes), default_layer=layer, name=name)


class ChannelSumNet(nn.Module):
    """Two-class toy: ``layer`` is a 1x1 convolution with weight ``weight`` (K x 3) and ``bias``;
    logit 0 is ``sum_k coefficients[k] * sum_pixels(layer(x)[k])``, logit 1 is 0, so
    ``p_0 = sigmoid(logit 0)``."""

    def __init__(self, weight: list[list[float]], bias: list[float], coefficients: list[float]) -> None:
        super().__init__()
        self.layer = nn.Conv2d(3, len(weight), kernel_size=1)
        with torch.no_grad():
            self.layer.weight.copy_(torch.tensor(weight).view(len(weight), 3, 1, 1))
            self.layer.bias.copy_(torch.tensor(bias))
        self.register_buffer("coefficients", torch.tensor(coefficients).view(1, -1))

    def forward(self, x: Tensor) -> Tensor:
        channel_sums = self.layer(x).sum(dim=(2, 3))
        logit = (channel_sums * self.coefficients).sum(dim=1, keepdim=True)
        return torch.cat([logit, torch.zeros_like(logit)], dim=1)


class _RegionNet(nn.Module):
    """A 1x1 identity convolution ``conv`` (so that the wrapper sees a CNN) and a boolean
    ``region`` of the image."""

    def __init__(self, region: Tensor) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        self.register_buffer("region", region)

    def region_mean(self, x: Tensor) -> Tensor:
        """The mean of channel 0 of ``x`` over the region, (B,)."""
        return x[:, 0][:, self.region].mean(dim=1)


class RegionMean(_RegionNet):
    """Two classes: ``p_0(x) = mean of channel 0 of x over region`` (x in [0, 1] space), p_1 = 1 - p_0.

    Logits are ``log v`` and ``log(1 - v)``, so the softmax gives ``v`` back.
    """

    def __init__(self, region: Tensor, mean: float, std: float) -> None:
        super().__init__(region)
        self.mean, self.std = mean, std

    def forward(self, z: Tensor) -> Tensor:
        value = self.region_mean(self.conv(z) * self.std + self.mean).clamp(0.0, 1.0)
        return torch.stack([value.log(), (1 - value).log()], dim=1)


class RegionThreshold(_RegionNet):
    """Two classes: class 0 while the mean of channel 0 over ``region`` exceeds ``threshold``."""

    def __init__(self, region: Tensor, threshold: float) -> None:
        super().__init__(region)
        self.threshold = threshold

    def forward(self, x: Tensor) -> Tensor:
        value = self.region_mean(self.conv(x))
        return torch.stack([value, torch.full_like(value, self.threshold)], dim=1)


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
    :func:`patches` (red top-left quadrant, green bottom-right) ``A_c`` is class c's patch.
    ``gate`` is a :class:`Tripwire` after the layer."""

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
    x = torch.zeros(1, 3, PATCH_SIZE, PATCH_SIZE)
    x[0, 0][TOP_LEFT] = 1.0
    x[0, 1][BOTTOM_RIGHT] = 1.0
    return x


def patch_classifier(network: nn.Module | None = None) -> ImageClassifier:
    """``network`` (default: a fresh :class:`PatchNet`) wrapped for :data:`PATCH_SIZE` images."""
    return toy_classifier(PatchNet() if network is None else network, PATCH_SIZE)


class SmallCNN(nn.Module):
    """A small CNN with 10 classes whose probabilities depend on the image (seeded weights)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.relu = nn.ReLU()
        self.layer = nn.Conv2d(6, 6, 3, stride=2, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 10)
        with torch.no_grad():
            self.fc.weight.mul_(20)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.relu2(self.layer(self.relu(self.conv(x))))).flatten(1))


class ConvHeadNet(nn.Module):
    """Three classes: ``conv`` (3 -> 4 channels, 3x3), then :meth:`between`, then the mean over
    pixels into a linear ``head``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)

    def between(self, y: Tensor) -> Tensor:
        return y

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.between(self.conv(x)).mean(dim=(2, 3)))


class BatchNormNet(nn.Module):
    """Two classes: ``layer`` (1x1 conv picking red and green), ``norm`` (BatchNorm, eval, var 1,
    eps 0: ``gamma (y - mu) + beta`` with gamma (2, 1), beta (2, -0.5), mu (0.5, 0)), the mean over
    the pixels, and a linear ``head``: logit 0 is 4 x the sum of both means (on 2x2 images, the sum
    of both channels over the pixels), logit 1 is 0."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Conv2d(3, 2, 1, bias=False)
        self.norm = nn.BatchNorm2d(2, eps=0.0)
        self.head = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.layer.weight.zero_()
            self.layer.weight[0, 0] = 1.0
            self.layer.weight[1, 1] = 1.0
            self.norm.weight.copy_(torch.tensor([2.0, 1.0]))
            self.norm.bias.copy_(torch.tensor([2.0, -0.5]))
            self.norm.running_mean.copy_(torch.tensor([0.5, 0.0]))
            self.norm.running_var.fill_(1.0)
            self.head.weight.copy_(torch.tensor([[4.0, 4.0], [0.0, 0.0]]))
        self.eval()

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.norm(self.layer(x)).mean(dim=(2, 3)))


class GatedNet(ConvHeadNet):
    """A squeeze-and-excitation gate after the convolution: the channels mix before ``head``."""

    def between(self, y: Tensor) -> Tensor:
        return y * torch.sigmoid(y.mean(dim=(1, 2, 3), keepdim=True))


class DataDependentNet(ConvHeadNet):
    """Control flow on tensor values cannot be traced: the replay falls back to full passes."""

    def between(self, y: Tensor) -> Tensor:
        y = y.relu()
        if y.sum() > 0:  # data-dependent branch
            y = y * 2
        return y


class DataDependentNormNet(DataDependentNet):
    """:class:`DataDependentNet` with a BatchNorm ``norm`` (eval, random statistics) after ``conv``."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(4)
        with torch.no_grad():
            self.norm.running_mean.uniform_(-0.5, 0.5)
            self.norm.running_var.uniform_(0.5, 2.0)
            self.norm.weight.uniform_(0.5, 2.0)
            self.norm.bias.uniform_(-1.0, 1.0)
        self.eval()

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.between(self.norm(self.conv(x))).mean(dim=(2, 3)))


class InPlaceAfterConvNet(ConvHeadNet):
    """An in-place, non-idempotent operation right after the convolution: recording the head must
    keep the convolution's output as it was."""

    def between(self, y: Tensor) -> Tensor:
        return y.mul_(3.0).add_(1.0)


class SquareAndSumNet(nn.Module):
    """Two classes: ``layer`` (1x1 conv picking red and green: ``A_0``, ``A_1``), logit 0 =
    ``1/2 sum_ij A_0[i, j]^2 + sum_ij A_1[i, j]``, logit 1 = 0. Its derivatives are known:
    ``dy_0 / dA_0 = A_0`` (it moves with the input) and ``dy_0 / dA_1 = 1`` (it does not)."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Conv2d(3, 2, 1, bias=False)
        with torch.no_grad():
            self.layer.weight.zero_()
            self.layer.weight[0, 0] = 1.0
            self.layer.weight[1, 1] = 1.0

    def forward(self, x: Tensor) -> Tensor:
        a = self.layer(x)
        logit = 0.5 * (a[:, 0] ** 2).sum(dim=(1, 2)) + a[:, 1].sum(dim=(1, 2))
        return torch.stack([logit, torch.zeros_like(logit)], dim=1)
