"""No forward pass whose answer is known, and the classes of one image from one set of passes: SUNY's
singletons, Score-CAM's and RISE's masked inputs, CexCNN's deletions are shared, with the same
numbers as explaining each class alone."""

from __future__ import annotations

import pytest
import torch
from helpers.models import ChannelSumNet, SmallCNN, toy_classifier
from torch import Tensor, nn

from suny.errors import TargetError
from suny.method import Suny
from suny.models import ImageClassifier
from suny.registry import create_method

SIZE = 16


class Counter:
    """Counts the inputs that reach the classifier ``fc`` (every forward pass and every replay of
    the network's tail ends there)."""

    def __init__(self, model: ImageClassifier) -> None:
        self.inputs = 0
        model.network.fc.register_forward_hook(self)

    def __call__(self, _module: nn.Module, inputs: tuple[Tensor, ...], _output: Tensor) -> None:
        self.inputs += len(inputs[0])


def small_model() -> tuple[ImageClassifier, Counter]:
    model = toy_classifier(SmallCNN(), SIZE, classes=[f"c{i}" for i in range(10)], layer="layer")
    return model, Counter(model)


def test_constant_and_duplicate_masks_cost_no_pass():
    """Channel 1 is constant (mask 0) and channel 2 duplicates channel 0: of the 2K = 6 singleton
    interventions, removing channel 1 is the image itself (known), keeping it is the substrate (one
    pass), and channel 2's interventions are channel 0's: 3 passes, not 6."""
    model = toy_classifier(
        ChannelSumNet([[1, 0, 0], [0, 0, 0], [2, 0, 0]], [0.0, 0.3, 0.1], [1, 1, 1]), size=4
    )
    image = torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(0))
    suny = Suny(model, "layer", cause="feature", set_size=3)
    singletons = suny.singletons(suny.prepare(image))
    assert singletons.interventions == 6 and singletons.forward_passes == 1 + 3
    torch.testing.assert_close(singletons.removed[1], singletons.clean)
    torch.testing.assert_close(singletons.removed[2], singletons.removed[0])
    torch.testing.assert_close(singletons.kept[2], singletons.kept[0])


@pytest.mark.parametrize("cause", ["feature", "filter"])
def test_several_classes_share_the_singletons_and_equal_each_class_alone(cause):
    model, counted = small_model()
    image = torch.rand(3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    suny = Suny(model, cause=cause, set_size=3, permutations=4)
    counted.inputs = 0
    together = suny.explain(image, [2, 5, 7])
    shared = counted.inputs
    alone = []
    counted.inputs = 0
    for target in (2, 5, 7):
        alone.append(suny.explain(image, target))
    assert [e.target for e in together] == [2, 5, 7]
    for a, b in zip(together, alone):
        for field in ("necessity", "sufficiency", "combined_map", "necessity_effects"):
            torch.testing.assert_close(getattr(a, field), getattr(b, field), rtol=0, atol=0)
    assert shared < counted.inputs  # the singletons ran once, not three times
    with pytest.raises(TargetError, match="empty"):
        suny.explain(image, [])


@pytest.mark.parametrize("name", ["scorecam", "rise", "cexcnn", "suny"])
def test_baselines_share_the_masked_passes_of_one_image(name):
    """One image for three classes: the same maps as three calls, with at most a third of their
    passes through the model."""
    model, counted = small_model()
    options = {"rise": {"masks": 32, "grid_size": 4}, "suny": {"set_size": 2, "permutations": 2}}.get(
        name, {}
    )
    method = create_method(name, model, **options)
    image = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    targets = torch.tensor([1, 4, 9])
    counted.inputs = 0
    together = method(image.expand(3, -1, -1, -1), targets).maps
    shared = counted.inputs
    counted.inputs = 0
    alone = torch.cat([method(image, int(t)).maps for t in targets])
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-6)
    # the class-free passes once instead of three times (each call's clean pass aside)
    assert (shared - 3) * 3 <= counted.inputs
