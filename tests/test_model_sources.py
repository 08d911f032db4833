"""Models from timm, from transformers and any ``nn.Module``: exact logits, preprocessing, class
names, the default layer found automatically, every method running on them, and one clear error
for each bad input. Random weights only; a guard refuses every network connection."""

from __future__ import annotations

import json
import math
import socket
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from helpers.methods import make
from torch import Tensor, nn
from torchvision.transforms import InterpolationMode

from suny import Suny, wrap_model
from suny.cli.main import main
from suny.errors import LayerError, ModelError
from suny.models import Preprocessing, load_model
from suny.models.huggingface import KNOWN_CONFIGS, hf_preprocessing
from suny.models.outputs import LogitsOutput
from suny.registry import method_names

timm = pytest.importorskip("timm")
transformers = pytest.importorskip("transformers")
# transformers networks cannot be traced by torch.fx: SUNY-filter takes its slower exact path.
pytestmark = pytest.mark.filterwarnings("ignore::suny.interventions.filter.SlowPathWarning")

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
SMALL = Preprocessing(72, 64, *IMAGENET)  # timm models at 64 x 64
HF_SIZE = 32
HF_LABELS = {0: "ant", 1: "bee", 2: "cat"}
HF_LAYER = "model.resnet.encoder.stages.1"  # the last stage: its blocks end in a ReLU


@pytest.fixture(scope="module", autouse=True)
def no_network():
    """Any connection attempt fails the test: nothing may be downloaded."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket, "create_connection", refuse)
        yield


@pytest.fixture
def empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty Hugging Face and torch hub caches; returns the Hugging Face one."""
    import huggingface_hub

    hub = tmp_path / "hf-hub"
    hub.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch-hub"))
    return hub


def cache_repo(hub: Path, repo_id: str, files: dict[str, Path]) -> None:
    """Put ``files`` (name in the repository -> file) in the hub cache as ``hf download`` does."""
    repo = hub / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abc")
    for name, source in files.items():
        (snapshot / name).write_bytes(source.read_bytes())


@pytest.fixture(scope="module")
def timm_model():
    torch.manual_seed(0)
    return load_model("timm:test_resnet", "none", preprocessing=SMALL)


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny transformers ResNet (random weights) saved with its image processor config."""
    torch.manual_seed(0)
    config = transformers.ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic", id2label=HF_LABELS
    )
    folder = tmp_path_factory.mktemp("tiny-resnet")
    transformers.AutoModelForImageClassification.from_config(config).save_pretrained(folder)
    processor = {
        "size": {"shortest_edge": HF_SIZE},
        "crop_pct": 0.875,
        "resample": 3,
        "image_mean": list(IMAGENET[0]),
        "image_std": list(IMAGENET[1]),
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(processor))
    return folder


@pytest.fixture(scope="module")
def hf_model(hf_folder: Path):
    return load_model(f"hf:{hf_folder}")


def images(size: int, count: int = 2) -> Tensor:
    return torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(1))


# ------------------------------------------------------------------------------------ timm
def test_timm_logits_are_the_networks_and_preprocessing_its_config(timm_model):
    reference = timm.create_model("test_resnet").eval().to(memory_format=torch.channels_last)
    reference.load_state_dict(timm_model.network.state_dict())
    x = images(64)
    with torch.no_grad():
        assert torch.equal(timm_model(x), reference(timm_model.normalise(x)))
    assert timm_model.num_classes == 1000 and timm_model.class_name(281) == "tabby"  # ImageNet's names
    prep = load_model("timm:test_resnet", "none").preprocessing
    cfg = timm.models.get_pretrained_cfg("test_resnet")  # 160 px, crop_pct 0.95, bilinear
    assert (prep.resize, prep.crop) == (math.floor(160 / cfg.crop_pct), 160) == (168, 160)
    assert prep.interpolation == InterpolationMode(cfg.interpolation)
    assert prep.mean == pytest.approx(cfg.mean) and prep.std == pytest.approx(cfg.std)


@pytest.mark.parametrize(
    ("name", "layer"), [("test_resnet", "layer4"), ("resnet18", "layer4"), ("test_efficientnet", "bn2")]
)
def test_timm_default_layer_is_the_last_spatial_post_activation(name, layer):
    model = load_model(f"timm:{name}", "none", preprocessing=SMALL)
    assert model.default_layer == layer
    shape = model.trace.first(layer).shape
    assert shape is not None and len(shape) == 4 and shape[2] == shape[3] > 1
    assert model.trace.post_activation(layer)


def test_timm_checkpoint_with_other_class_count(tmp_path):
    source = timm.create_model("test_resnet", num_classes=7)
    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": source.state_dict()}, path)
    model = load_model("timm:test_resnet", path, preprocessing=SMALL)
    assert model.num_classes == 7 and model.class_name(3) == "class 3"


def test_timm_weights_are_read_from_the_hugging_face_cache(tmp_path, empty_caches):
    torch.manual_seed(3)
    saved = timm.create_model("test_resnet")
    from safetensors.torch import save_file

    save_file(saved.state_dict(), tmp_path / "model.safetensors")
    cache_repo(
        empty_caches, "timm/test_resnet.r160_in1k", {"model.safetensors": tmp_path / "model.safetensors"}
    )
    model = load_model("timm:test_resnet", preprocessing=SMALL)
    assert all(torch.equal(v, saved.state_dict()[k]) for k, v in model.network.state_dict().items())


def test_missing_timm_weights_say_how_to_supply_them(empty_caches):
    with pytest.raises(ModelError) as error:
        load_model("timm:test_resnet")
    message = str(error.value)
    assert "pretrained weights of timm:test_resnet are not in this machine's caches" in message
    assert str(empty_caches) in message and "`hf download timm/test_resnet.r160_in1k`" in message
    assert "--weights PATH" in message and "--weights none" in message and "\n" not in message


def test_unknown_timm_name_suggests_close_ones():
    with pytest.raises(ModelError, match=r"timm has no model 'test_resnett'.*close names: test_resnet"):
        load_model("timm:test_resnett", "none")


def test_missing_library_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(ModelError, match=r"timm:resnet18 needs the timm package: pip install 'suny\[timm\]'"):
        load_model("timm:resnet18", "none")


# ------------------------------------------------------------------------------ transformers
def test_hf_logits_classes_and_preprocessing(hf_model, hf_folder):
    reference = transformers.AutoModelForImageClassification.from_pretrained(hf_folder).eval()
    x = images(HF_SIZE)
    with torch.no_grad():
        assert torch.equal(hf_model(x), reference(pixel_values=hf_model.normalise(x)).logits)
    assert isinstance(hf_model.network, LogitsOutput)  # the output object adapted to logits
    assert hf_model.class_names == ["ant", "bee", "cat"]
    prep = hf_model.preprocessing
    assert (prep.resize, prep.crop, prep.interpolation) == (36, 32, InterpolationMode.BICUBIC)
    assert hf_model.default_layer == HF_LAYER and hf_model.trace.post_activation(HF_LAYER)
    block = f"{HF_LAYER}.layers.0"  # conv layers, the shortcut added, then a ReLU
    assert hf_model.trace.post_activation(block) and not hf_model.trace.post_activation(f"{block}.layer.1")


def test_hf_preprocessing_from_processor_configs():
    square = {"size": {"height": 256, "width": 256}, "do_center_crop": True, "crop_size": {"height": 224}}
    assert (hf_preprocessing(square).resize, hf_preprocessing(square).crop) == (256, 224)
    assert (hf_preprocessing({}).resize, hf_preprocessing({}).crop) == (224, 224)
    plain = hf_preprocessing(
        {"do_normalize": False, "resample": 2, "size": {"shortest_edge": 384}, "crop_pct": 0.9}
    )
    assert (plain.resize, plain.crop, plain.mean, plain.std) == (384, 384, (0.0,) * 3, (1.0,) * 3)


def test_hf_checkpoint_and_random_weights(hf_folder, tmp_path):
    network = transformers.AutoModelForImageClassification.from_pretrained(hf_folder)
    network.classifier[1] = nn.Linear(16, 5)
    path = tmp_path / "five.pt"
    torch.save(network.state_dict(), path)
    model = load_model(f"hf:{hf_folder}", path)
    assert model.num_classes == 5 and model.class_name(4) == "class 4"
    assert load_model(f"hf:{hf_folder}", "none").default_layer == HF_LAYER


def test_hf_model_from_the_cache_and_its_missing_weights(hf_folder, empty_caches):
    repo = "acme/tiny-resnet"
    cache_repo(empty_caches, repo, {"config.json": hf_folder / "config.json"})
    assert load_model(f"hf:{repo}", "none").class_names == ["ant", "bee", "cat"]  # config from the cache
    with pytest.raises(ModelError, match=r"weights of hf:acme/tiny-resnet are not .*`hf download acme/tiny"):
        load_model(f"hf:{repo}")
    cache_repo(empty_caches, "acme/full", {f.name: f for f in hf_folder.iterdir()})
    assert torch.equal(load_model("hf:acme/full")(images(32)), load_model(f"hf:{hf_folder}")(images(32)))


def test_hf_model_not_cached_or_folder_missing(tmp_path, empty_caches, hf_folder):
    with pytest.raises(
        ModelError, match=r"hf:microsoft/resnet-50 is not in .*`hf download microsoft/resnet-50`"
    ):
        load_model("hf:microsoft/resnet-50")
    with pytest.raises(ModelError, match="no such folder"):
        load_model(f"hf:{tmp_path / 'absent'}")
    with pytest.raises(ModelError, match=r"the folder has no config\.json"):
        load_model(f"hf:{tmp_path}")
    bare = tmp_path / "config-only"
    bare.mkdir()
    (bare / "config.json").write_bytes((hf_folder / "config.json").read_bytes())
    with pytest.raises(ModelError, match=r"holds no weights .*--weights none"):
        load_model(f"hf:{bare}")


def test_a_known_hf_repository_builds_from_its_config_class_without_a_file(empty_caches, tmp_path):
    """``hf:microsoft/resnet-50 --weights none`` with an empty cache: transformers' ResNetConfig()
    defaults, which its docstring names as that repository's architecture (ResNet-50's 25,557,032
    parameters), for ImageNet's classes; a checkpoint sets the number of classes."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    for repo, (kind, _) in KNOWN_CONFIGS.items():
        assert f"[{repo}](https://huggingface.co/{repo})" in (CONFIG_MAPPING[kind].__doc__ or "")
    model = load_model("hf:microsoft/resnet-50", "none")
    assert sum(p.numel() for p in model.parameters()) == 25_557_032
    assert model.num_classes == 1000 and model.class_name(281) == "tabby"
    assert model.default_layer == "model.resnet.encoder.stages.3"
    assert (model.preprocessing.resize, model.preprocessing.crop) == (256, 224)
    network = model.network.model
    network.classifier[1] = nn.Linear(2048, 4)
    torch.save(network.state_dict(), tmp_path / "four.pt")
    assert load_model("hf:microsoft/resnet-50", tmp_path / "four.pt").num_classes == 4
    with pytest.raises(ModelError, match=r"hf:acme/unknown is not in .*--weights none .*microsoft/resnet-50"):
        load_model("hf:acme/unknown", "none")


# ---------------------------------------------------------------------------- every method
@pytest.fixture(params=["timm", "hf"])
def source_model(request):
    return request.getfixturevalue(f"{request.param}_model")


@pytest.mark.parametrize("name", method_names())
def test_every_method_explains_timm_and_hf_models(source_model, name):
    size = source_model.preprocessing.crop
    options = {"samples": 4} if name == "smoothgrad" else {}
    maps = make(name, source_model, **options)(images(size), [0, 1]).maps
    assert maps.shape == (2, size, size) and bool(torch.isfinite(maps).all())
    assert float(maps.min()) >= 0 and float(maps.max()) <= 1


@pytest.mark.parametrize("cause", ["feature", "filter"])
def test_suny_explains_timm_and_hf_models(source_model, cause):
    size = source_model.preprocessing.crop
    explanation = Suny(source_model, cause=cause, set_size=2, permutations=2).explain(images(size, 1)[0], 0)
    for result in (explanation.necessity_map, explanation.sufficiency_map, explanation.combined_map):
        assert result.shape == (size, size) and float(result.min()) >= 0 and float(result.max()) <= 1


# ----------------------------------------------------------------------------- any nn.Module
class TinyCNN(nn.Module):
    """conv -> ReLU -> pool -> linear; ``wrap`` packs the logits as some libraries do."""

    def __init__(self, wrap=lambda logits: logits) -> None:
        super().__init__()
        self.conv, self.act = nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(4, 3)
        self.wrap = wrap

    def forward(self, x: Tensor) -> object:
        return self.wrap(self.fc(self.pool(self.act(self.conv(x))).flatten(1)))


TINY = Preprocessing(8, 8, (0.5,) * 3, (0.5,) * 3)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda z: (z, z.sum()),
        lambda z: [z],
        lambda z: {"logits": z, "aux": None},
        lambda z: SimpleNamespace(logits=z),
        None,
    ],
    ids=["tuple", "list", "dict", "attribute", "tensor"],
)
def test_wrap_model_adapts_known_outputs(wrap):
    torch.manual_seed(0)
    network = TinyCNN(wrap) if wrap else TinyCNN()
    model = wrap_model(network, TINY, ["a", "b", "c"], name="tiny")
    x = images(8)
    with torch.no_grad():
        plain = network.fc(network.pool(network.act(network.conv(model.normalise(x)))).flatten(1))
        assert torch.equal(model(x), plain)
    assert isinstance(model.network, LogitsOutput) == (wrap is not None)  # a tensor is used as it is
    assert model.default_layer == ("model.act" if wrap else "act") and model.class_name(2) == "c"


def test_wrap_model_output_callable_and_defaults():
    model = wrap_model(TinyCNN(lambda z: z[:, :, None, None]), TINY, output=lambda out: out.flatten(1))
    assert model(images(8)).shape == (2, 3) and model.class_names == ["class 0", "class 1", "class 2"]
    assert wrap_model(TinyCNN(), TINY, layer="conv").default_layer == "conv"
    with pytest.raises(LayerError, match="no explainable layer 'nope'"):
        wrap_model(TinyCNN(), TINY, layer="nope")


@pytest.mark.parametrize(
    ("wrap", "said"),
    [(lambda z: z[:, :, None, None], r"a 4-D float32 tensor \(1, 3, 1, 1\)"), (lambda z: "text", "a str")],
)
def test_output_that_is_not_logits(wrap, said):
    with pytest.raises(
        ModelError, match=rf"tiny returned {said}, not logits \(a 2-D float tensor B x classes\).*output="
    ):
        wrap_model(TinyCNN(wrap), TINY, name="tiny")


def test_post_activation_means_the_block_returns_an_activations_output():
    """A block ending in an activation (then an identity) is post-activation; one that computes
    after its activation is not, even when that result reuses the activation's freed memory."""
    network = nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout()),
        nn.Sequential(nn.Conv2d(4, 4, 1), nn.ReLU(), nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )
    model = wrap_model(network, TINY)
    assert model.trace.post_activation("0") and not model.trace.post_activation("1")
    assert model.default_layer == "1.1"  # the last spatial post-activation layer, not the last layer


# ------------------------------------------------------------------------------ layer errors
def test_token_layer_says_feature_maps_are_needed_and_how_to_reshape():
    """Wrapped without a reshape_transform, a ViT's token layer is refused with the way to give one;
    loaded by name, timm's transformers see their tokens as maps (tests/test_vit.py)."""
    network = load_model("timm:test_vit", "none", preprocessing=SMALL).network
    vit = wrap_model(network, SMALL, layer="patch_embed.proj")
    with pytest.raises(
        LayerError, match=r"'blocks.0' .* 3-D tensor \(1, \d+, \d+\).*\(B, C, H, W\).*reshape_transform="
    ):
        vit.layer("blocks.0")


def test_pooled_reused_and_channels_last_layers(hf_model):
    with pytest.raises(
        LayerError, match=r"model.classifier.1' .* 2-D tensor \(1, 3\).*before the global pooling"
    ):
        hf_model.layer("model.classifier.1")

    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.relu, self.last = nn.Conv2d(3, 5, 1), nn.ReLU(), nn.Identity()

        def forward(self, x: Tensor) -> Tensor:
            x = self.relu(self.relu(self.conv(x)))
            return self.last(x.permute(0, 2, 3, 1)).mean(dim=(1, 2))

    model = wrap_model(Odd(), TINY, layer="conv")
    with pytest.raises(LayerError, match="runs 2 times per forward pass"):
        model.layer("relu")
    with pytest.raises(LayerError, match=r"channels-last maps \(B, H, W, C\) \(1, 8, 8, 5\).*permute"):
        model.layer("last")


# ----------------------------------------------------------------------------- names and CLI
def test_unknown_source_lists_the_known_ones():
    with pytest.raises(
        ModelError, match=r"unknown model source 'foo' in 'foo:bar'; known sources: timm:NAME.*hf:REPO"
    ):
        load_model("foo:bar")


def test_layers_command_for_timm_and_hf(hf_folder, capsys):
    assert main(["layers", "timm:test_resnet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "* layer4" in lines and "  layer4.0.conv2 conv" in lines
    assert main(["layers", f"hf:{hf_folder}", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["default"] == HF_LAYER
