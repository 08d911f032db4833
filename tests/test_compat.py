"""SunyCAM beside pytorch-grad-cam: same call, same shape and dtype, SUNY's own maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.models import toy_classifier
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from suny import Suny, SunyCAM
from suny.errors import LayerError, SunyError, TargetError
from suny.ops import minmax

SIZE = 32
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CLASSES = [f"class {i}" for i in range(5)]


class TinyCNN(nn.Module):
    """Five classes, random (seeded) weights, a BatchNorm whose train flag the tests watch."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


@pytest.fixture
def model() -> TinyCNN:
    return TinyCNN().eval()


@pytest.fixture
def inputs() -> torch.Tensor:
    return torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


def suny_map(model: nn.Module, image: torch.Tensor, target: int, layer: str, **options) -> np.ndarray:
    """The combined map that suny.Suny gives on the model wrapped with identity normalisation."""
    classifier = toy_classifier(model, SIZE, classes=CLASSES, layer=layer)
    return Suny(classifier, layer, **options).explain(image, target).combined_map.numpy()


def hooks(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules()
    )


@pytest.mark.parametrize("cause", ["feature", "filter"])
def test_same_call_same_shape_and_dtype_as_pytorch_grad_cam(model, inputs, cause):
    targets = [ClassifierOutputTarget(1), ClassifierOutputTarget(3)]
    with SunyCAM(model=model, target_layers=[model.features[3]], cause=cause) as cam:
        maps = cam(input_tensor=inputs, targets=targets)
    reference = GradCAM(model=model, target_layers=[model.features[3]])(input_tensor=inputs, targets=targets)
    assert isinstance(maps, np.ndarray)
    assert (maps.shape, maps.dtype) == (reference.shape, reference.dtype) == ((2, SIZE, SIZE), np.float32)
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    assert maps.max() > 0.0


@pytest.mark.parametrize("cause", ["feature", "filter"])
def test_maps_are_exactly_those_of_suny(model, inputs, cause):
    cam = SunyCAM(model=model, target_layers=[model.features[3]], cause=cause)
    maps = cam(input_tensor=inputs, targets=[ClassifierOutputTarget(1), 4])
    assert cam.layer_names == ["features.3"]
    for image, target, got in zip(inputs, [1, 4], maps):
        np.testing.assert_array_equal(got, suny_map(model, image, target, "features.3", cause=cause))


def test_map_choice_and_tensors_stay_on_the_models_device(model, inputs):
    cam = SunyCAM(model=model, target_layers=[model.features[3]], cause="filter", map="necessity")
    maps = cam.tensors(inputs[:1], [2])
    assert isinstance(maps, torch.Tensor) and maps.dtype == torch.float32 and maps.device == inputs.device
    (explanation,) = cam.explanations(inputs[:1], [2])
    assert torch.equal(maps[0], explanation.necessity_map)
    assert explanation.target == 2 and explanation.target_name == "class 2"


def test_mean_and_std_map_the_input_back_to_unit_range(model, inputs):
    cam = SunyCAM(model=model, target_layers=[model.features[3]], mean=MEAN, std=STD)
    maps = cam(input_tensor=inputs[:1], targets=[1])
    classifier = toy_classifier(model, SIZE, classes=CLASSES, layer="features.3")
    classifier.mean.copy_(torch.tensor(MEAN).view(1, 3, 1, 1))
    classifier.std.copy_(torch.tensor(STD).view(1, 3, 1, 1))
    image = inputs[:1] * torch.tensor(STD).view(1, 3, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1)
    expected = Suny(classifier, "features.3").explain(image, 1).combined_map
    np.testing.assert_array_equal(maps[0], expected.numpy())


def test_an_image_classifier_is_used_as_it_is(model, inputs):
    classifier = toy_classifier(model, SIZE, classes=CLASSES, layer="features.3")
    images = inputs[:1].sigmoid()  # [0, 1], as suny's wrapper takes
    maps = SunyCAM(model=classifier, target_layers=[model.features[3]], cause="filter")(images, [0])
    expected = Suny(classifier, "features.3", cause="filter").explain(images, 0).combined_map
    np.testing.assert_array_equal(maps[0], expected.numpy())


def test_targets_none_explains_the_predicted_class(model, inputs):
    cam = SunyCAM(model=model, target_layers=[model.features[3]], cause="filter")
    explanations = cam.explanations(inputs)
    predicted = model(inputs).argmax(dim=1).tolist()
    assert [e.target for e in explanations] == predicted
    assert cam.outputs is not None and cam.outputs.argmax(dim=1).tolist() == predicted
    maps = cam(input_tensor=inputs)
    for image, target, got in zip(inputs, predicted, maps):
        np.testing.assert_array_equal(got, suny_map(model, image, target, "features.3", cause="filter"))


def test_several_layers_are_averaged_then_rescaled(model, inputs):
    layers = [model.features[2], model.features[3]]
    maps = SunyCAM(model=model, target_layers=layers, cause="filter").tensors(inputs[:1], [1])
    first, second = (SunyCAM(model, [layer], cause="filter").tensors(inputs[:1], [1]) for layer in layers)
    torch.testing.assert_close(maps, minmax((first + second) / 2))


def test_hooks_are_removed_and_train_flags_restored(inputs):
    model = TinyCNN().train()
    model.features[1].eval()  # a mixed state must come back as it was
    flags = [m.training for m in model.modules()]
    statistics = model.features[1].running_mean.clone()
    SunyCAM(model=model, target_layers=[model.features[3]])(input_tensor=inputs, targets=None)
    assert hooks(model) == 0
    assert [m.training for m in model.modules()] == flags
    assert torch.equal(model.features[1].running_mean, statistics)
    assert all(p.grad is None for p in model.parameters())


def test_bad_input_is_a_clear_error(model, inputs):
    cam = SunyCAM(model=model, target_layers=[model.features[3]], cause="filter")
    with pytest.raises(SunyError, match="aug_smooth"):
        cam(input_tensor=inputs, targets=None, aug_smooth=True)
    with pytest.raises(SunyError, match="eigen_smooth"):
        cam(input_tensor=inputs, eigen_smooth=True)
    with pytest.raises(TargetError, match=r"class index 5 is out of range.*0\.\.4"):
        cam(input_tensor=inputs[:1], targets=[ClassifierOutputTarget(5)])
    with pytest.raises(TargetError, match="2 images but 3 targets"):
        cam(input_tensor=inputs, targets=[1, 2, 3])
    with pytest.raises(TargetError, match="ClassifierOutputTarget"):
        cam(input_tensor=inputs[:1], targets=["cat"])
    with pytest.raises(SunyError, match="shape"):
        cam(input_tensor=inputs[:, :1])
    with pytest.raises(LayerError, match="not a submodule of the model"):
        SunyCAM(model=model, target_layers=[nn.Conv2d(8, 8, 1)])
    with pytest.raises(LayerError, match="empty"):
        SunyCAM(model=model, target_layers=[])
    with pytest.raises(SunyError, match="mean and std"):
        SunyCAM(model=model, target_layers=[model.features[3]], mean=MEAN)
    with pytest.raises(SunyError, match="unknown map"):
        SunyCAM(model=model, target_layers=[model.features[3]], map="both")  # type: ignore[arg-type]


def test_one_target_serves_the_whole_batch(model, inputs):
    """As in pytorch-grad-cam: ``targets=[ClassifierOutputTarget(c)]`` explains class c in every image."""
    cam = SunyCAM(model=model, target_layers=[model.features[3]], cause="filter")
    explanations = cam.explanations(inputs, [ClassifierOutputTarget(3)])
    assert [e.target for e in explanations] == [3, 3]
    np.testing.assert_array_equal(cam(inputs, [ClassifierOutputTarget(3)]), cam(inputs, [3, 3]))


def test_targets_that_do_not_name_a_class_are_refused_not_reinterpreted(model, inputs):
    """``BinaryClassifierOutputTarget`` and ``ClassifierOutputReST`` have a ``category`` too, but it
    does not mean "explain this class of a classifier": refused by name. The softmax target names a
    class (SUNY scores its probability anyway): the same maps as the logit target's."""
    targets = pytest.importorskip("pytorch_grad_cam.utils.model_targets")
    cam = SunyCAM(model=model, target_layers=[model.features[3]], cause="filter")
    for refused in (targets.BinaryClassifierOutputTarget(1), targets.ClassifierOutputReST(1)):
        with pytest.raises(TargetError, match=type(refused).__name__):
            cam(inputs[:1], [refused])
    softmax = cam(inputs[:1], [targets.ClassifierOutputSoftmaxTarget(2)])
    np.testing.assert_array_equal(softmax, cam(inputs[:1], [ClassifierOutputTarget(2)]))


def test_a_constant_map_comes_with_a_warning(inputs):
    """A network whose output ignores the layer: no cause is necessary or sufficient, the map is
    constant, and the user is told rather than handed a blank map silently."""
    network = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(5))
    network(inputs)
    with torch.no_grad():
        network[3].weight.zero_()
        network[3].bias.copy_(torch.arange(5.0))
    cam = SunyCAM(model=network, target_layers=[network[1]], set_size=2, permutations=2)
    with pytest.warns(UserWarning, match=r"map of image 0 for class 4 is constant"):
        maps = cam(inputs[:1], [4])
    assert maps.max() == maps.min()
