"""Vision transformers: pytorch-grad-cam's ``reshape_transform`` for every method that explains a
layer (timm's ViT, DeiT and Swin with random weights), beside pytorch-grad-cam; the views' inverse;
timm's transformers through ``load_model`` and the command line."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from suny import Suny, SunyCAM
from suny.cli.main import main
from suny.errors import LayerError
from suny.interventions import filter as filter_module
from suny.interventions.filter import ChannelReplay
from suny.models import ImageClassifier, Preprocessing, load_model, wrap_model
from suny.models.hooks import captured_output, forward_hooks
from suny.models.views import LayerView, token_maps
from suny.ops import minmax, upsample
from suny.registry import create_method

timm = pytest.importorskip("timm")
pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

SIZE = 64  # a 4 x 4 grid of 16-pixel patches
CLASSES = 5
IDENTITY = Preprocessing(SIZE, SIZE, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


def vit_grid(x: Tensor) -> Tensor:
    """pytorch-grad-cam's ViT reshape: the class token dropped, 4 x 4 tokens as maps."""
    return x[:, 1:].reshape(x.size(0), 4, 4, x.size(2)).permute(0, 3, 1, 2)


def deit_grid(x: Tensor) -> Tensor:
    """A distilled DeiT's: the class and distillation tokens dropped."""
    return x[:, 2:].reshape(x.size(0), 4, 4, x.size(2)).permute(0, 3, 1, 2)


def swin_grid(x: Tensor) -> Tensor:
    """A Swin's channels-last maps (B, H, W, C) as (B, C, H, W)."""
    return x.permute(0, 3, 1, 2)


def network(name: str) -> nn.Module:
    torch.manual_seed(0)
    if name == "swin":
        kwargs = {"img_size": 128, "window_size": 4, "depths": (1, 1, 1, 1), "embed_dim": 32}
        return timm.create_model("swin_tiny_patch4_window7_224", num_classes=CLASSES, **kwargs).eval()
    model = "vit_small_patch16_224" if name == "vit" else "deit_tiny_distilled_patch16_224"
    return timm.create_model(model, img_size=SIZE, depth=2, num_classes=CLASSES).eval()


#: name -> (the layer pytorch-grad-cam's docs recommend, its reshape_transform)
CASES = {
    "vit": ("blocks.1.norm1", vit_grid),
    "deit": ("blocks.1.norm1", deit_grid),
    "swin": ("layers.3.blocks.0.norm1", swin_grid),
}


@pytest.fixture(scope="module")
def vit() -> nn.Module:
    return network("vit")


@pytest.fixture(scope="module")
def vit_model(vit: nn.Module) -> ImageClassifier:
    return wrap_model(vit, IDENTITY, layer="blocks.1.norm1", reshape_transform=vit_grid)


def inputs(count: int = 2, size: int = SIZE) -> Tensor:
    return torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(1))


# ------------------------------------------------------------------------- the view and its inverse
def test_a_view_writes_its_maps_back_where_the_reshape_took_them():
    tokens = torch.randn(2, 17, 6)
    view = LayerView("layer", vit_grid)
    maps = view.maps(tokens)
    assert maps.shape == (2, 6, 4, 4) and torch.equal(maps[1, 5, 2, 3], tokens[1, 1 + 2 * 4 + 3, 5])
    assert torch.equal(view.write(tokens, maps), tokens)
    pruned = maps.clone()
    pruned[:, 2] = 0  # filter 2: embedding dimension 2 over the grid
    expected = tokens.clone()
    expected[:, 1:, 2] = 0  # the class token keeps it
    assert torch.equal(view.write(tokens, pruned), expected)
    assert LayerView("conv").write(maps, pruned) is pruned  # no transform: the maps are the output


def test_a_reshape_that_computes_cannot_be_written_back():
    def pooled(x: Tensor) -> Tensor:
        return F.avg_pool2d(vit_grid(x), 2)

    with pytest.raises(LayerError, match=r"computes new values rather than selecting.*SUNY-feature or a CAM"):
        LayerView("blocks.1.norm1", pooled).places(torch.randn(1, 17, 6))


def test_token_maps_reads_the_grid_from_the_shape():
    tokens = torch.randn(2, 18, 3)  # 2 prefix tokens, 4 x 4
    assert torch.equal(token_maps(tokens), deit_grid(tokens))
    assert torch.equal(token_maps(tokens[:, 1:]), vit_grid(tokens[:, 1:]))
    channels_last = torch.randn(2, 4, 4, 7)
    assert torch.equal(token_maps(channels_last), swin_grid(channels_last))
    maps = torch.randn(2, 7, 4, 4)
    assert token_maps(maps) is maps


# ---------------------------------------------------------------------------------- SunyCAM
@pytest.mark.parametrize("cause", ["feature", "filter"])
def test_suny_cam_explains_a_vit_layer_through_the_reshape(vit: nn.Module, cause: str):
    cam = SunyCAM(vit, [vit.blocks[-1].norm1], vit_grid, cause=cause, set_size=2, permutations=2)
    maps = cam(input_tensor=inputs(), targets=[ClassifierOutputTarget(1)])
    assert maps.shape == (2, SIZE, SIZE) and maps.dtype == "float32"
    assert (maps.max(axis=(1, 2)) == 1).all() and (maps.min(axis=(1, 2)) == 0).all()
    explanation = cam.explanations(inputs(1), [1])[0]
    assert explanation.layer == "blocks.1.norm1" and len(explanation.necessity) == 384


def test_without_the_reshape_a_token_layer_is_refused_by_name(vit: nn.Module):
    cam = SunyCAM(vit, [vit.blocks[-1].norm1])
    said = r"'blocks.1.norm1' .* 3-D tensor \(1, 17, 384\).*reshape_transform="
    with pytest.raises(LayerError, match=said):
        cam(inputs(1))


def test_suny_cam_gives_an_image_classifier_the_reshape(vit_model: ImageClassifier):
    plain = wrap_model(vit_model.network, IDENTITY)
    cam = SunyCAM(plain, [plain.network.blocks[-1].norm1], vit_grid, cause="filter", set_size=2)
    assert cam(inputs(1), [0]).shape == (1, SIZE, SIZE)
    assert plain.reshape_transform is None  # the caller's classifier is not changed


# ----------------------------------------------------------------------- SUNY's interventions
def test_suny_feature_masks_the_input_with_the_upsampled_grid_channels(vit_model: ImageClassifier):
    """Removing cause k multiplies the image by ``1 - minmax(upsample(relu(R(O))_k))``, exact."""
    image = inputs(1)
    causes = Suny(vit_model, cause="feature").prepare(image)
    with torch.no_grad(), captured_output(vit_model.network.blocks[1].norm1) as outputs:
        vit_model(image)
    grid = vit_grid(outputs[0]).relu()
    assert torch.equal(causes.activations, grid)
    removed = causes.singletons("remove")
    for k in (0, 7, 383):
        mask = minmax(upsample(grid[:, k : k + 1], (SIZE, SIZE)))
        expected = vit_model.probabilities(image * (1 - mask))[0]
        torch.testing.assert_close(removed[k], expected, rtol=0, atol=1e-6)


def pruned_tokens(model: ImageClassifier, image: Tensor, keep: Tensor, prefix: int = 1) -> Tensor:
    """Logits with embedding dimension k of every grid token of the last norm1 zeroed where
    ``keep[b, k]`` is False (the class token untouched), by a hook: one pass per row."""
    rows = []
    for row in keep:

        def zero(_module: nn.Module, _inputs: object, output: Tensor, row: Tensor = row) -> Tensor:
            output = output.clone()
            output[:, prefix:, ~row] = 0
            return output

        with torch.no_grad(), forward_hooks([(model.network.blocks[1].norm1, zero)]):
            rows.append(model(image))
    return torch.cat(rows)


@pytest.mark.parametrize("traced", [True, False])
def test_suny_filter_prunes_embedding_dimensions_of_the_token_grid(
    vit_model: ImageClassifier, traced: bool, monkeypatch: pytest.MonkeyPatch
):
    if not traced:

        def untraceable(network: nn.Module) -> None:
            raise torch.fx.proxy.TraceError("no graph")

        monkeypatch.setattr(filter_module, "_traced", untraceable)
    image = inputs(1)
    replay = ChannelReplay(vit_model, "blocks.1.norm1", image)
    assert replay.path == ("tail" if traced else "full") and replay.num_filters == 384
    keep = torch.rand(3, 384, generator=torch.Generator().manual_seed(2)) > 0.5
    keep[0] = True
    expected = pruned_tokens(vit_model, image, keep)
    torch.testing.assert_close(replay.logits(keep), expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(replay.logits(keep[:1]), vit_model(image), rtol=0, atol=1e-5)


def test_the_tail_after_the_last_norm1_is_the_last_block_only(vit_model: ImageClassifier):
    """Every block reads its input's shape; the tail computes those sizes again instead of re-running
    the blocks before the layer."""
    replay = ChannelReplay(vit_model, "blocks.1.norm1", inputs(1))
    assert replay._tail is not None
    modules = {str(n.target) for n in replay._tail.graph.nodes if n.op == "call_module"}
    assert modules and all(m.startswith(("blocks.1.", "norm", "fc_norm", "head")) for m in modules)


# ------------------------------------------------------------------ the CAMs and pytorch-grad-cam
@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize(("method", "reference"), [("gradcam", GradCAM), ("gradcam++", GradCAMPlusPlus)])
def test_gradient_cams_equal_pytorch_grad_cam_with_the_same_reshape(name, method, reference):
    """pytorch-grad-cam: ``scale(relu(sum_k w_k R(O)_k))`` with ``R`` applied to the output and its
    gradient, resized by cv2 (bilinear, half-pixel centres) and min-max scaled twice (with a 1e-7 in
    the denominators): our ``minmax(upsample(relu(...)))`` to 1e-5."""
    net = network(name)
    layer, reshape = CASES[name]
    size = 128 if name == "swin" else SIZE
    model = wrap_model(net, Preprocessing(size, size, (0.0,) * 3, (1.0,) * 3), reshape_transform=reshape)
    images = inputs(2, size)
    targets = torch.tensor([1, 3])
    ours = create_method(method, model, layer=layer)(images, targets).maps
    with reference(model=model, target_layers=[net.get_submodule(layer)], reshape_transform=reshape) as cam:
        theirs = torch.from_numpy(cam(images, [ClassifierOutputTarget(int(c)) for c in targets]))
    net.zero_grad(set_to_none=True)
    assert (ours.amax(dim=(1, 2)) - ours.amin(dim=(1, 2)) == 1).all(), "a trivial map proves nothing"
    assert float((ours - theirs).abs().max()) < 1e-5


LAYER_METHODS = ["suny", "suny-filter", "scorecam", "smoothgradcam++", "groupcam", "cexcnn"]


@pytest.mark.parametrize("method", LAYER_METHODS)
def test_every_layer_method_explains_the_token_grid(vit_model: ImageClassifier, method: str):
    options = {"set_size": 2, "permutations": 2} if method.startswith("suny") else {}
    explainer = create_method(method, vit_model, batch_size=64, **options)
    maps = explainer(inputs(1), torch.tensor([2])).maps
    assert maps.shape == (1, SIZE, SIZE) and bool(maps.isfinite().all()) and float(maps.max()) == 1


# ------------------------------------------------------------------------- timm models by name
@pytest.mark.parametrize(
    ("name", "layer", "seen"),
    [
        ("timm:vit_small_patch16_224", "blocks.11.norm1", (1, 384, 14, 14)),
        ("timm:deit_tiny_distilled_patch16_224", "blocks.11.norm1", (1, 192, 14, 14)),
        ("timm:swin_tiny_patch4_window7_224", "layers.3.blocks.1.norm1", (1, 768, 7, 7)),
    ],
)
def test_timm_transformers_default_to_the_last_blocks_norm1_seen_as_maps(name, layer, seen):
    model = load_model(name, "none")
    assert model.default_layer == layer and model.reshape_transform is token_maps
    logits, maps = model.forward_with_layer(inputs(1, 224))
    assert tuple(maps.shape) == seen and logits.shape == (1, 1000)
    gradcam = create_method("gradcam", model)(inputs(1, 224), logits.argmax(dim=1)).maps
    assert float(gradcam.max()) == 1


def test_a_cnn_from_timm_keeps_its_layers():
    model = load_model("timm:test_resnet", "none")
    assert model.default_layer == "layer4" and model.reshape_transform is None


def test_suny_explain_a_timm_vit_with_random_weights(tmp_path, capsys):
    """``suny explain --model timm:... --weights none``: the default layer, SUNY-feature and
    SUNY-filter, and every layer-based baseline beside them (a tiny ViT that timm cannot trace:
    SUNY-filter's full forward passes)."""
    out = tmp_path / "out"
    methods = "gradcam,gradcam++,smoothgradcam++,scorecam,groupcam,cexcnn"
    args = ["explain", "--model", "timm:test_vit", "--weights", "none", "--methods", methods]
    with pytest.warns(filter_module.SlowPathWarning, match="cannot be traced"):
        assert main([*args, "--top-k", "2", "--samples", "2", "--out", str(out)]) == 0
    summary = json.loads((out / "chelsea" / "summary.json").read_text())
    assert {e["summary"]["layer"] for e in summary["explanations"]} == {"blocks.5.norm1"}
    assert sorted(summary["methods"]) == sorted(methods.split(","))
    assert (out / "chelsea" / "comparison.png").is_file()
    assert main(["layers", "timm:test_vit", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert listed["default"] == "blocks.5.norm1" and "blocks.0.norm1" in listed["layers"]
