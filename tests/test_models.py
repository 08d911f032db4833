"""The model zoo and the wrapper: real weights, preprocessing, layers, classes, checkpoints."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from suny.data import sample_image
from suny.errors import LayerError, ModelError, TargetError
from suny.models import ImageClassifier, Preprocessing, imagenet_class_names, load_model


def test_lite0_predicts_the_sample_cat(lite0, cat_image):
    probabilities = lite0.probabilities(cat_image[None])[0]
    top = int(probabilities.argmax())
    assert lite0.class_name(top) in {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}
    assert 281 <= top <= 285  # the domestic cat classes of ImageNet


@pytest.mark.slow
def test_lite0_top1_on_imagenet_samples(lite0, shared_data):
    from suny.data import load_image
    from suny.models import imagenet_wnids

    folder = shared_data / "imagenet-samples"
    index = {wnid: i for i, wnid in enumerate(imagenet_wnids())}
    paths = sorted(folder.glob("*.JPEG"))
    assert len(paths) == 300
    images = torch.stack([lite0.preprocess(load_image(p, min_side=256)) for p in paths])
    predictions = lite0.probabilities(images, batch_size=32).argmax(dim=1)
    labels = torch.tensor([index[p.name.split("_")[0]] for p in paths])
    accuracy = float((predictions == labels).float().mean())
    assert accuracy >= 0.85, accuracy


def test_lite_preprocessing_matches_the_weights():
    model = load_model("efficientnet-lite0", "none")
    prep = model.preprocessing
    assert (prep.resize, prep.crop) == (256, 224)
    assert prep.mean == pytest.approx((127 / 255,) * 3) and prep.std == pytest.approx((128 / 255,) * 3)
    # [0,1] value v becomes (255 v - 127) / 128 inside the wrapper
    x = torch.full((1, 3, 1, 1), 1.0)
    assert model.normalise(x).flatten().tolist() == pytest.approx([1.0] * 3)
    assert load_model("efficientnet-lite2", "none").preprocessing.crop == 260


def test_preprocess_resizes_short_side_then_centre_crops(lite0):
    tensor = lite0.preprocess(sample_image())
    assert tensor.shape == (3, 224, 224) and float(tensor.min()) >= 0 and float(tensor.max()) <= 1


def test_default_layers():
    assert load_model("vgg16", "none").default_layer == "features.29"
    assert load_model("resnet50", "none").default_layer == "layer4"
    assert load_model("efficientnet-lite0", "none").default_layer == "_head_activation"
    assert load_model("mobilenet_v2", "none").default_layer == "features"


def test_found_default_layer_agrees_with_the_architectures(lite0):
    """The default found for any network (the last spatial post-activation layer) is the one the
    zoo names for Lite and ResNet; a preprocessing given replaces the weights'."""
    assert lite0.trace.default_layer() == "_head_activation"
    small = Preprocessing(72, 64, (0.5,) * 3, (0.5,) * 3)
    resnet = load_model("resnet18", "none", preprocessing=small)
    assert resnet.trace.default_layer() == "layer4" and resnet.preprocessing is small


def test_inception_default_layer():
    model = load_model("inception_v3", "none")
    assert model.default_layer == "Mixed_7c" and model.preprocessing.crop == 299


def test_layers_exclude_modules_that_run_more_than_once():
    model = load_model("resnet18", "none")
    names = model.layer_names()
    assert "layer4" in names and "layer1.0.conv1" in names
    assert "layer1.0.relu" not in names  # one ReLU module is called three times per block
    assert "fc" not in names  # not a 4-D feature map


def test_unknown_layer_lists_the_valid_names():
    with pytest.raises(LayerError, match=r"no explainable layer 'layer9'.*layer4"):
        load_model("resnet18", "none", layer="layer9")


def test_pretrained_torchvision_weights_missing_gives_clear_error(monkeypatch):
    import torchvision

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torchvision.models.ResNet18_Weights.IMAGENET1K_V1, "get_state_dict", offline)
    with pytest.raises(ModelError, match="--weights none"):
        load_model("resnet18")


def test_unknown_model_names_the_nearest_and_where_the_whole_list_is():
    with pytest.raises(
        ModelError,
        match=r"did you mean [^?]*efficientnet-lite0[^?]*\? 'suny layers --list-models' lists all \d+",
    ):
        load_model("efficientnet-lite9")
    with pytest.raises(ModelError, match=r"'suny layers --list-models' lists all") as error:
        load_model("zzzzzz")
    assert "did you mean" not in str(error.value) and "vgg16" not in str(error.value)


def test_checkpoint_with_other_class_count_loads_with_weights_only(tmp_path):
    torch.manual_seed(0)
    source = load_model("resnet18", "none").network
    source.fc = nn.Linear(512, 7)
    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": source.state_dict()}, path)
    model = load_model("resnet18", path, class_names=[f"bird {i}" for i in range(7)])
    assert model.num_classes == 7 and model.class_name(3) == "bird 3"
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), source.eval()(model.normalise(x)), atol=1e-5)


def test_lite_checkpoint_with_other_class_count(tmp_path):
    source = load_model("efficientnet-lite0", "none").network
    source._fc = nn.Linear(1280, 5)
    path = tmp_path / "lite.pt"
    torch.save(source.state_dict(), path)
    assert load_model("efficientnet-lite0", path).class_names[4] == "class 4"


def test_pickled_model_object_is_refused(tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(nn.Sequential(nn.Conv2d(3, 2, 1)), path)
    with pytest.raises(ModelError, match="weights_only=True"):
        load_model("resnet18", path)


def test_checkpoint_of_another_architecture(tmp_path):
    path = tmp_path / "vgg.pt"
    torch.save(load_model("resnet18", "none").network.state_dict(), path)
    with pytest.raises(ModelError, match="does not fit vgg11"):
        load_model("vgg11", path)


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(ModelError, match="no such checkpoint"):
        load_model("resnet18", tmp_path / "absent.pt")


def test_model_without_convolutions_is_refused():
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    with pytest.raises(ModelError, match="no Conv2d layer"):
        ImageClassifier(mlp, Preprocessing(2, 2, (0,) * 3, (1,) * 3), ["a", "b"], "0")


def test_class_lookup(lite0):
    assert lite0.class_index("tabby") == 281
    assert lite0.class_index("281") == 281
    assert lite0.class_index("Tiger Cat") == 282
    with pytest.raises(TargetError, match="out of range"):
        lite0.class_index(1000)
    with pytest.raises(TargetError, match="matches"):
        lite0.class_index("cat")
    with pytest.raises(TargetError, match="no class"):
        lite0.class_index("unicorn")


def test_imagenet_names():
    names = imagenet_class_names()
    assert len(names) == 1000 and names[0] == "tench" and names[281] == "tabby"


def test_lite_activations_are_explainable_and_numbers_unchanged(lite0, cat_image):
    """Every call of the original's shared ReLU6 has a module of its own: the stem's, the head's and
    each block's after its expansion and its depthwise convolution."""
    from efficientnet_lite_pytorch import EfficientNet

    original = EfficientNet.from_name("efficientnet-lite0").eval()
    original.load_state_dict(lite0.network.state_dict())
    x = lite0.normalise(cat_image[None])
    with torch.no_grad():
        assert torch.allclose(original(x), lite0.network(x), atol=1e-5)
    assert "_head_activation" in lite0.layer_names() and "_swish" not in lite0.layer_names()
    assert lite0.filter_layer("_head_activation") == "_conv_head"
    assert "_blocks.0._expand_activation" not in lite0.layer_names()  # block 0 does not expand
    assert "_blocks.0._depthwise_activation" in lite0.layer_names()
    # the last 14 x 14 post-activation maps: block 11 expands, then its depthwise convolution strides
    with torch.no_grad():
        _, maps = lite0.forward_with_layer(cat_image[None], "_blocks.11._expand_activation")
        _, after = lite0.forward_with_layer(cat_image[None], "_blocks.11._depthwise_activation")
    assert maps.shape[1:] == (672, 14, 14) and after.shape[1:] == (672, 7, 7)
    assert maps.min() >= 0 and maps.max() <= 6
    assert lite0.filter_layer("_blocks.11._expand_activation") == "_blocks.11._expand_conv"


def test_a_loaded_lite_model_pickles_whole(lite0, tmp_path):
    """``torch.save(model)`` of the wrapper or the network (after use: layers listed, an
    explanation run) and ``torch.load`` give the same model (its classes are module-level)."""
    from suny import Suny

    Suny(lite0, cause="filter", set_size=2, permutations=2).explain(torch.rand(3, 64, 64), 1)
    for whole in (lite0, lite0.network):
        torch.save(whole, tmp_path / "whole.pt")
        loaded = torch.load(tmp_path / "whole.pt", weights_only=False)
        x = torch.rand(1, 3, 64, 64)
        with torch.no_grad():
            assert torch.equal(loaded(x), whole(x))
    assert loaded.__class__.__module__ == "suny.models.lite"
