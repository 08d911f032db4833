"""SUNY-filter's tail replay equals a forward pass of the really pruned model."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from suny.errors import LayerError
from suny.interventions.filter import FilterReplay
from suny.models import ImageClassifier, load_model


def pruned_forward(
    model: ImageClassifier, conv: str, keep: torch.Tensor, image: torch.Tensor
) -> torch.Tensor:
    """Logits of deep copies of ``model`` whose pruned filters have all their weights zeroed."""
    rows = []
    for row in keep:
        pruned = copy.deepcopy(model)
        with torch.no_grad():
            pruned.network.get_submodule(conv).weight[~row] = 0
            rows.append(pruned(image))
    return torch.cat(rows)


def random_keep(num_filters: int, seed: int = 0) -> torch.Tensor:
    keep = torch.rand(3, num_filters, generator=torch.Generator().manual_seed(seed)) > 0.5
    keep[0] = True  # nothing pruned
    keep[1, :] = False  # everything pruned: every channel becomes its bias
    return keep


def assert_close_relative(got: torch.Tensor, expected: torch.Tensor) -> None:
    scale = expected.abs().max().clamp_min(1.0)
    assert float((got - expected).abs().max() / scale) < 1e-5


@pytest.mark.parametrize(
    ("name", "conv"),
    [
        ("vgg16", "features.28"),
        ("resnet50", "layer4.2.conv3"),
        ("inception_v3", "Mixed_7c.branch_pool.conv"),
        ("resnet50", "layer3.5.conv2"),  # deeper tail with residual connections read from the head
    ],
)
def test_replay_equals_pruned_forward_on_torchvision(name, conv):
    torch.manual_seed(0)
    model = load_model(name, "none")
    size = model.preprocessing.crop
    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    replay = FilterReplay(model, conv, image)
    assert replay.replays_tail
    keep = random_keep(replay.num_filters)
    assert_close_relative(replay.logits(keep), pruned_forward(model, conv, keep, image))


def test_replay_equals_pruned_forward_on_lite0(lite0, cat_image):
    image = cat_image[None]
    for conv in ("_blocks.15._project_conv", "_conv_head", "_blocks.10._depthwise_conv"):
        replay = FilterReplay(lite0, conv, image)
        assert replay.replays_tail
        keep = random_keep(replay.num_filters, seed=2)
        assert_close_relative(replay.logits(keep), pruned_forward(lite0, conv, keep, image))
    # the unpruned replay reproduces the model's own prediction
    with torch.no_grad():
        assert_close_relative(replay.logits(keep[:1]), lite0(image))


def test_default_filter_layers():
    assert load_model("vgg16", "none").filter_layer() == "features.28"  # the conv before features.29
    assert load_model("resnet18", "none").filter_layer() == "layer4.1.conv2"


class DataDependentNet(nn.Module):
    """Control flow on tensor values cannot be traced: the replay falls back to full passes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x).relu()
        if y.sum() > 0:  # data-dependent branch
            y = y * 2
        return self.head(y.mean(dim=(2, 3)))


def test_untraceable_model_falls_back_to_full_forward_with_the_same_numbers():
    from suny.models import Preprocessing

    torch.manual_seed(0)
    prep = Preprocessing(8, 8, (0.5,) * 3, (0.25,) * 3)
    model = ImageClassifier(DataDependentNet(), prep, ["a", "b", "c"], "conv")
    image = torch.rand(1, 3, 8, 8)
    replay = FilterReplay(model, "conv", image)
    assert not replay.replays_tail
    keep = random_keep(4)
    assert_close_relative(replay.logits(keep), pruned_forward(model, "conv", keep, image))
    assert not model.network.conv._forward_hooks


def test_replay_does_not_corrupt_its_cache_with_in_place_tail_ops():
    # ResNet's tail adds the residual in place; replaying twice must give the same numbers.
    torch.manual_seed(0)
    model = load_model("resnet18", "none")
    image = torch.rand(1, 3, 64, 64)
    replay = FilterReplay(model, "layer4.0.conv1", image)
    keep = random_keep(replay.num_filters)
    first = replay.logits(keep)
    assert torch.equal(first, replay.logits(keep))


def test_not_a_convolution_lists_the_convolutions():
    model = load_model("resnet18", "none")
    with pytest.raises(LayerError, match=r"prunes one of: conv1, layer1\.0\.conv1"):
        FilterReplay(model, "layer4", torch.rand(1, 3, 32, 32))


class InPlaceAfterConvNet(nn.Module):
    """An in-place, non-idempotent operation right after the convolution: recording the head must
    keep the convolution's output as it was."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        y.mul_(3.0).add_(1.0)
        return self.head(y.mean(dim=(2, 3)))


def test_in_place_operations_after_the_convolution_do_not_leak_into_the_replay():
    from suny.models import Preprocessing

    torch.manual_seed(0)
    prep = Preprocessing(8, 8, (0.0,) * 3, (1.0,) * 3)
    model = ImageClassifier(InPlaceAfterConvNet(), prep, ["a", "b", "c"], "conv")
    image = torch.rand(1, 3, 8, 8)
    replay = FilterReplay(model, "conv", image)
    assert replay.replays_tail
    keep = random_keep(4)
    assert_close_relative(replay.logits(keep), pruned_forward(model, "conv", keep, image))
