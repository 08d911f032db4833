"""What a long process (a server, a notebook, a sweep) keeps: nothing of a model it has dropped, after
explaining with every kind of method through every path, compiled passes included. The counts here
are small; ``benchmarks/long_process.py`` measures resident memory over 500 explanations and 20
loads."""

from __future__ import annotations

import gc
import io
import weakref

import pytest
import torch
from helpers.models import SmallCNN, toy_classifier

from suny import SunyCAM, create_method, load_model
from suny.engine.forward import FrozenForward, compiled

METHODS = ("suny-filter", "suny", "gradcam", "scorecam", "rise")
QUICK = {"suny-filter": {"set_size": 2, "permutations": 2}, "suny": {"set_size": 2, "permutations": 2}}


def collected(references: list[weakref.ref]) -> list[object]:
    """What is still alive of ``references`` after the collector ran (twice: weakly keyed entries
    first, what they held next)."""
    gc.collect()
    gc.collect()
    return [reference() for reference in references if reference() is not None]


def toy() -> object:
    return toy_classifier(SmallCNN(), 32, mean=0.5, std=0.25, classes=[f"c{i}" for i in range(10)])


def test_a_model_with_compiled_passes_is_freed_when_dropped():
    """Its FrozenForward (which refers to it) lived in a global table before, so it never died."""
    model = toy()
    frozen = compiled(model.network)
    assert compiled(model.network) is frozen  # once per model
    references = [weakref.ref(model.network), weakref.ref(frozen)]
    del model, frozen
    assert collected(references) == []


def test_a_model_with_compiled_passes_still_saves_and_its_copy_compiles_its_own():
    model = toy()
    frozen = compiled(model.network)
    buffer = io.BytesIO()
    torch.save(model.network, buffer)
    buffer.seek(0)
    copy = torch.load(buffer, weights_only=False)
    assert isinstance(compiled(copy), FrozenForward) and compiled(copy) is not frozen
    assert compiled(copy).model is copy


@pytest.mark.parametrize("method", METHODS)
def test_every_method_leaves_nothing_of_a_dropped_model(method):
    def explain_once() -> list[weakref.ref]:
        model = toy()
        built = create_method(method, model, **QUICK.get(method, {}), batch_size=8)
        images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        built.explain(images, torch.tensor([1, 2]))
        return [weakref.ref(model), weakref.ref(model.network), weakref.ref(built)]

    for _ in range(3):
        kept = explain_once()
        assert collected(kept) == []


@pytest.mark.filterwarnings("ignore:SunyCAM.*constant")  # random input, untrained layer: may be constant
def test_sunycam_leaves_nothing_of_a_dropped_model_and_no_hook():
    def explain_once() -> list[weakref.ref]:
        network = SmallCNN()
        with SunyCAM(model=network, target_layers=[network.relu2], permutations=2) as cam:
            cam(input_tensor=torch.rand(1, 3, 32, 32), targets=[3])
        hooks = [m._forward_hooks or m._forward_pre_hooks or m._backward_hooks for m in network.modules()]
        assert not any(hooks)
        return [weakref.ref(network), weakref.ref(cam)]

    assert collected(explain_once()) == []


@pytest.mark.slow
def test_repeated_loads_of_the_real_model_are_freed():
    """Three loads of EfficientNet-Lite0, a SUNY-filter map each: no load outlives its use."""
    image = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))

    def load_and_explain() -> list[weakref.ref]:
        model = load_model("efficientnet-lite0")
        create_method("suny-filter", model).explain(image, torch.tensor([281]))
        return [weakref.ref(model), weakref.ref(model.network)]

    kept = [reference for _ in range(3) for reference in load_and_explain()]
    assert collected(kept) == []
