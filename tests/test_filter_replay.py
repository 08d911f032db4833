"""SUNY-filter's interventions equal a forward pass of the really pruned model (filter and its
BatchNorm channel removed), on every path: per-channel corrections, tail replay, full forward."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from helpers.models import (
    BatchNormNet,
    ConvHeadNet,
    DataDependentNet,
    DataDependentNormNet,
    GatedNet,
    InPlaceAfterConvNet,
    toy_classifier,
)

from suny.errors import LayerError
from suny.interventions.filter import FilterReplay, SlowPathWarning
from suny.interventions.graph import trace
from suny.models import ImageClassifier, Preprocessing, load_model, wrap_model


def pruned_forward(
    model: ImageClassifier, conv: str, keep: torch.Tensor, image: torch.Tensor, norm: str | None = None
) -> torch.Tensor:
    """Logits of deep copies of ``model`` with the pruned filters removed as channel pruning does:
    the filter's weights and bias zeroed and, when the convolution feeds the BatchNorm ``norm``, that
    channel's scale and shift zeroed too (so the channel is 0 after the BatchNorm)."""
    rows = []
    for row in keep:
        pruned = copy.deepcopy(model)
        with torch.no_grad():
            for name in (conv, norm) if norm else (conv,):
                module = pruned.network.get_submodule(name)
                module.weight[~row] = 0
                if module.bias is not None:
                    module.bias[~row] = 0
            rows.append(pruned(image))
    return torch.cat(rows)


def random_keep(num_filters: int, seed: int = 0) -> torch.Tensor:
    keep = torch.rand(3, num_filters, generator=torch.Generator().manual_seed(seed)) > 0.5
    keep[0] = True  # nothing pruned
    keep[1, :] = False  # everything pruned
    return keep


def assert_close_relative(got: torch.Tensor, expected: torch.Tensor) -> None:
    scale = expected.abs().max().clamp_min(1.0)
    assert float((got - expected).abs().max() / scale) < 1e-5


@pytest.mark.parametrize(
    ("name", "conv", "norm"),
    [
        ("vgg16", "features.28", None),
        ("resnet50", "layer4.2.conv3", "layer4.2.bn3"),
        ("inception_v3", "Mixed_7c.branch_pool.conv", "Mixed_7c.branch_pool.bn"),
        ("resnet50", "layer3.5.conv2", "layer3.5.bn2"),  # a mixing 1x1 conv, then the rest per coalition
    ],
)
def test_replay_equals_pruned_forward_on_torchvision(name, conv, norm):
    torch.manual_seed(0)
    model = load_model(name, "none")
    size = model.preprocessing.crop
    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    replay = FilterReplay(model, conv, image)
    assert replay.path == "channelwise"
    keep = random_keep(replay.num_filters)
    assert_close_relative(replay.logits(keep), pruned_forward(model, conv, keep, image, norm))


def test_replay_equals_pruned_forward_on_lite0(lite0, cat_image):
    image = cat_image[None]
    for conv, norm in (
        ("_blocks.15._project_conv", "_blocks.15._bn2"),
        ("_conv_head", "_bn1"),
        ("_blocks.10._depthwise_conv", "_blocks.10._bn1"),
    ):
        replay = FilterReplay(lite0, conv, image)
        assert replay.path == "channelwise"
        keep = random_keep(replay.num_filters, seed=2)
        assert_close_relative(replay.logits(keep), pruned_forward(lite0, conv, keep, image, norm))
    # the unpruned replay reproduces the model's own prediction
    with torch.no_grad():
        assert_close_relative(replay.logits(keep[:1]), lite0(image))


def test_the_batchnorm_channel_is_zero_after_pruning_exact_values():
    """BatchNormNet: conv picks red and green, the BatchNorm (var 1, eps 0) maps them to
    ``2 (red - 0.5) + 2`` and ``green - 0.5``; logit 0 sums both over the pixels. On the 2x2 image
    (red 1 top-left, green 0.5 bottom-right) the channels sum to 6 and -1.5: pruning a filter
    removes its channel's sum; zeroing the filter's weights alone would leave 4 and -2."""
    model = toy_classifier(BatchNormNet())
    image = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.5]], [[0.0] * 2] * 2])[None]
    replay = FilterReplay(model, "layer", image)
    keep = torch.tensor([[True, True], [False, True], [True, False], [False, False]])
    expected = torch.tensor([[4.5, 0.0], [-1.5, 0.0], [6.0, 0.0], [0.0, 0.0]])
    torch.testing.assert_close(replay.logits(keep), expected)
    assert replay.path == "channelwise" and replay.inert.tolist() == [False, False]
    assert_close_relative(replay.logits(keep), pruned_forward(model, "layer", keep, image, "norm"))


def test_a_tail_that_mixes_channels_before_a_linear_layer_is_replayed_whole():
    """An operation across channels (a squeeze-and-excitation gate) before the first mixing layer:
    the per-channel corrections do not apply, the tail is re-run, and the numbers still match."""
    torch.manual_seed(0)
    model = toy_classifier(GatedNet(), 8, classes=("a", "b", "c"), layer="conv")
    image = torch.rand(1, 3, 8, 8)
    with pytest.warns(SlowPathWarning, match="re-runs the network after the pruned channels"):
        replay = FilterReplay(model, "conv", image)
    assert replay.path == "tail"
    keep = random_keep(4)
    assert_close_relative(replay.logits(keep), pruned_forward(model, "conv", keep, image))


def test_default_filter_layers():
    assert load_model("vgg16", "none").filter_layer() == "features.28"  # the conv before features.29
    assert load_model("resnet18", "none").filter_layer() == "layer4.1.conv2"


def test_untraceable_model_falls_back_to_full_forward_with_the_same_numbers():
    torch.manual_seed(0)
    model = toy_classifier(DataDependentNet(), 8, mean=0.5, std=0.25, classes=("a", "b", "c"), layer="conv")
    image = torch.rand(1, 3, 8, 8)
    with pytest.warns(SlowPathWarning, match="cannot be traced"):
        replay = FilterReplay(model, "conv", image)
    assert not replay.replays_tail and replay.path == "full"
    keep = random_keep(4)
    assert_close_relative(replay.logits(keep), pruned_forward(model, "conv", keep, image))
    assert not model.network.conv._forward_hooks


def test_untraceable_model_with_a_batchnorm_prunes_its_channel():
    torch.manual_seed(0)
    model = toy_classifier(DataDependentNormNet(), 8, classes=("a", "b", "c"), layer="conv")
    image = torch.rand(1, 3, 8, 8)
    with pytest.warns(SlowPathWarning):
        replay = FilterReplay(model, "conv", image)
    assert replay.path == "full"
    keep = random_keep(4)
    assert_close_relative(replay.logits(keep), pruned_forward(model, "conv", keep, image, "norm"))
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_only_tracing_errors_fall_back():
    """An error that is not a tracing error is a bug and propagates."""

    class Broken(ConvHeadNet):
        def between(self, y: torch.Tensor) -> torch.Tensor:
            raise ZeroDivisionError("a bug")

    model = toy_classifier(ConvHeadNet(), 8, classes=("a", "b", "c"), layer="conv")
    model.network = Broken()
    with pytest.raises(ZeroDivisionError):
        FilterReplay(model, "conv", torch.rand(1, 3, 8, 8))


def test_replay_does_not_corrupt_its_cache_with_in_place_tail_ops():
    # ResNet's tail adds the residual in place; replaying twice must give the same numbers.
    torch.manual_seed(0)
    model = load_model("resnet18", "none")
    image = torch.rand(1, 3, 64, 64)
    replay = FilterReplay(model, "layer4.0.conv1", image)
    keep = random_keep(replay.num_filters)
    first = replay.logits(keep)
    assert torch.equal(first, replay.logits(keep))


class SizeReadingNet(torch.nn.Module):
    """Each stage asks its input's size (as a transformer's blocks do); the last one reads the size
    of the image."""

    def __init__(self) -> None:
        super().__init__()
        self.first, self.second = torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Conv2d(4, 4, 3, padding=1)
        self.head = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        y = self.first(x).reshape(b, 4, h * w).reshape(b, 4, h, w)
        z = self.second(y.relu())
        return self.head(z.reshape(b, 4, -1).mean(dim=2) * z.shape[1])


def test_the_tail_computes_the_sizes_it_reads_and_leaves_the_head_in_the_head():
    """The tail after ``second`` reads the image's batch size ``b``: it asks the (expanded) image
    again, so the replay's batch is right, and ``first`` and its reshapes stay in the head."""
    torch.manual_seed(0)
    model = toy_classifier(SizeReadingNet(), 8, classes=("a", "b", "c"), layer="second")
    image = torch.rand(1, 3, 8, 8)
    with pytest.warns(SlowPathWarning, match="not a per-channel operation"):  # the product by a size
        replay = FilterReplay(model, "second", image)
    assert replay.path == "tail"
    keep = random_keep(4)
    assert_close_relative(replay.logits(keep), pruned_forward(model, "second", keep, image))
    tail = list(replay._tail.graph.nodes)
    assert [n.target for n in tail if n.op == "call_module"] == ["head"]
    assert sum(n.target == "reshape" for n in tail) == 1  # the head's two reshapes are not re-run


def tiny_transformers_resnet() -> ImageClassifier:
    """transformers' ResNet (random weights), two stages of one basic layer each; the second's has a
    projection shortcut, which runs after the layer's own convolutions."""
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic", num_labels=3
    )
    network = transformers.ResNetForImageClassification(config)
    return wrap_model(network, Preprocessing(32, 32, (0.5,) * 3, (0.25,) * 3))


def test_transformers_resnet_traces_and_prunes_its_last_main_convolution():
    """Its embeddings check the input's channels with an ``if`` on a shape, which ``torch.fx`` cannot
    trace: they become one opaque node and the rest is traced, so SUNY-filter takes the per-channel
    path (a full forward pass per coalition before, about 100x slower). The default filters are
    the last convolution of the last stage's own path, not the shortcut that runs after it."""
    model = tiny_transformers_resnet()
    stage = "model.resnet.encoder.stages.1.layers.0"
    assert model.default_layer == "model.resnet.encoder.stages.1"
    assert model.filter_layer() == f"{stage}.layer.1.convolution"
    assert model.trace.branches(model.trace.convolutions()) == [f"{stage}.shortcut.convolution"]
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", SlowPathWarning)
        replay = FilterReplay(model, f"{stage}.layer.1.convolution", image)
    assert replay.path == "channelwise"
    keep = random_keep(replay.num_filters)
    expected = pruned_forward(
        model, f"{stage}.layer.1.convolution", keep, image, f"{stage}.layer.1.normalization"
    )
    assert_close_relative(replay.logits(keep), expected)
    graph = trace(model.network).graph
    assert "model.resnet.embedder" in {n.target for n in graph.nodes if n.op == "call_module"}


def test_a_network_whose_own_forward_branches_on_a_shape_stays_untraceable():
    class Checked(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.shape[1] != 3:
                raise ValueError("three channels")
            return self.conv(x).mean(dim=(2, 3))

    with pytest.raises(torch.fx.proxy.TraceError):
        trace(Checked())


def test_not_a_convolution_lists_the_convolutions():
    model = load_model("resnet18", "none")
    with pytest.raises(LayerError, match=r"prunes one of: conv1, layer1\.0\.conv1"):
        FilterReplay(model, "layer4", torch.rand(1, 3, 32, 32))


def test_in_place_operations_after_the_convolution_do_not_leak_into_the_replay():
    torch.manual_seed(0)
    model = toy_classifier(InPlaceAfterConvNet(), 8, classes=("a", "b", "c"), layer="conv")
    image = torch.rand(1, 3, 8, 8)
    replay = FilterReplay(model, "conv", image)
    assert replay.replays_tail
    keep = random_keep(4)
    assert_close_relative(replay.logits(keep), pruned_forward(model, "conv", keep, image))
    assert replay.logits(keep).tolist() == replay.logits(keep).tolist()


@pytest.mark.parametrize(
    ("network_class", "layer"),
    [(ConvHeadNet, "conv"), (GatedNet, "conv"), (BatchNormNet, "layer"), (DataDependentNet, "conv")],
)
def test_a_dropped_network_is_freed_with_its_traced_graph(network_class, layer):
    """The replay's caches (the traced graph, its splits and heads; a tracing error) live as long as
    the network, not for ever: after SUNY-filter explains with a network and the network is dropped,
    nothing keeps it (a server, notebook or sweep that loads many models kept every one before)."""
    import gc
    import weakref

    from suny import Suny
    from suny.interventions import filter as filter_module

    def explain_once() -> list[weakref.ref]:
        classes = ("a", "b", "c")[: 2 if network_class is BatchNormNet else 3]
        model = toy_classifier(network_class(), 8, mean=0.5, std=0.25, classes=classes, layer=layer)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SlowPathWarning)
            for target in (0, 1):
                Suny(model, layer, cause="filter", set_size=2, permutations=2).explain(
                    torch.rand(3, 8, 8), target
                )
        traced = filter_module._TRACES.get(model.network)
        return [weakref.ref(model.network), *([] if isinstance(traced, Exception) else [weakref.ref(traced)])]

    kept = explain_once()
    gc.collect()
    gc.collect()  # the first collection drops the weakly keyed entries, the second what they held
    assert [reference() for reference in kept] == [None] * len(kept)
