"""What every registered explanation method guarantees, for each name of
:func:`suny.registry.method_names` (read when the tests are collected, so a method registered later
is covered without being listed here): hooks removed and train/eval flags restored after a call and
after an error in the middle of one, no ``.grad`` left on parameters, the same maps under
``no_grad`` and with frozen parameters, batching that does not change the maps, same seed same
maps, float32 maps in [0, 1] of shape (B, H, W) on the model's device for every declared map name,
clear errors for bad input, and the common options.

The checks run on :class:`~helpers.models.PatchNet`, whose :class:`~helpers.models.Tripwire`
counts the forward passes and raises on a chosen one. Methods run with the small settings of
:data:`helpers.methods.FAST` (their defaults for a name not listed there).
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import torch
from helpers.methods import FAST, make
from helpers.models import PATCH_SIZE, PatchNet, patch_classifier, patches
from torch import Tensor, nn

from suny.baselines import Baseline
from suny.errors import LayerError, SunyError, TargetError
from suny.method.suny import COMBINATIONS, Suny
from suny.models.hooks import captured_output
from suny.models.wrapper import ImageClassifier
from suny.ops import minmax, upsample
from suny.registry import method_class, method_names, register_method, unregister_method
from suny.saliency import SaliencyResult

SIZE = PATCH_SIZE
NAMES = method_names()
each_method = pytest.mark.parametrize("name", NAMES)


def module_flags(model: nn.Module) -> dict[str, bool]:
    return {name: module.training for name, module in model.named_modules()}


def assert_no_hooks(model: nn.Module) -> None:
    for name, module in model.named_modules():
        for hooks in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            assert not getattr(module, hooks), f"{name} keeps {hooks}"


def assert_no_grads(model: nn.Module) -> None:
    assert all(p.grad is None for p in model.parameters())


def tripwire_calls(name: str) -> int:
    """How many forward passes the tripwire sees in one clean call of ``name`` (one image,
    ``batch_size=1``)."""
    model = patch_classifier()
    method = make(name, model, batch_size=1)
    model.network.gate.calls = 0  # building the method may run the model (to list its layers)
    method(patches(), 0)
    return model.network.gate.calls


def random_patch_model() -> ImageClassifier:
    """PatchNet with a seeded random ``layer``: both classes depend on every pixel."""
    torch.manual_seed(0)
    network = PatchNet()
    with torch.no_grad():
        network.layer.weight.copy_(torch.randn(2, 3, 1, 1))
    return patch_classifier(network)


# ------------------------------------------------------------------------------ the contract
@each_method
def test_maps_are_the_declared_float32_maps_in_the_unit_range(name: str) -> None:
    """Every declared map is float32, finite, in [0, 1], (B, H, W) and on the model's device, for
    a picture, a constant (black) image and both in one call; ``maps`` is the map ``name``."""
    model = patch_classifier()
    method = make(name, model)
    assert name in method.map_names
    black = torch.zeros(1, 3, SIZE, SIZE)
    for images, targets in ((patches(), 0), (black, 0), (torch.cat([patches(), black]), [1, 0])):
        result = method(images, targets)
        assert list(result.outputs) == list(method_class(name).map_names)
        assert torch.equal(result.maps, result.outputs[name])
        for output, maps in result.outputs.items():
            assert maps.shape == (len(images), SIZE, SIZE), output
            assert maps.dtype == torch.float32, output
            assert maps.device == model.device, output
            assert torch.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1, output


@each_method
def test_mode_restored_and_no_hooks_or_grads_after_a_call(name: str) -> None:
    model = patch_classifier()
    model.train()
    flags = module_flags(model)
    make(name, model)(patches(), 1)
    assert module_flags(model) == flags
    assert_no_hooks(model)
    assert_no_grads(model)


@each_method
def test_hooks_removed_and_mode_restored_after_an_error(name: str) -> None:
    """The tripwire raises on about half of the forward passes of a clean call (at least the
    first): mid-call for every method."""
    calls = tripwire_calls(name)
    assert calls >= 1, f"{name} never ran the model"
    model = patch_classifier()
    method = make(name, model, batch_size=1)
    model.train()
    model.network.layer.eval()
    flags = module_flags(model)
    gate = model.network.gate
    gate.calls, gate.fail_at = 0, max(1, (calls + 1) // 2)
    with pytest.raises(RuntimeError, match="tripwire"):
        method(patches(), 0)
    assert gate.calls == gate.fail_at
    assert_no_hooks(model)
    assert module_flags(model) == flags
    assert_no_grads(model)


@each_method
def test_frozen_parameters_and_no_grad_give_the_same_maps(name: str) -> None:
    """The same map whether the parameters require gradients or not, and inside ``no_grad``."""
    model = patch_classifier()
    expected = make(name, model)(patches(), 0).maps
    model.requires_grad_(False)
    with torch.no_grad():
        frozen = make(name, model)(patches(), 0).maps
    assert torch.is_grad_enabled()
    torch.testing.assert_close(frozen, expected, rtol=0, atol=0)
    assert_no_grads(model)


@each_method
def test_batching_does_not_change_the_maps(name: str) -> None:
    """Two images with different targets in one call, one forward per input (``batch_size=1``),
    equal the images explained one at a time with the default batches."""
    model = random_patch_model()
    images = torch.rand(2, 3, SIZE, SIZE)
    targets = torch.tensor([0, 1])
    together = make(name, model, batch_size=1)(images, targets)
    alone = [make(name, model)(images[i : i + 1], targets[i]) for i in range(2)]
    assert together.maps.shape == (2, SIZE, SIZE)
    for output, maps in together.outputs.items():
        expected = torch.cat([result.outputs[output] for result in alone])
        torch.testing.assert_close(maps, expected, rtol=0, atol=1e-5, msg=output)


@each_method
def test_same_seed_same_maps(name: str) -> None:
    model = patch_classifier()
    x = patches() * 0.5 + 0.25
    first = make(name, model, seed=7)(x, 0).outputs
    again = make(name, model, seed=7)(x, 0).outputs
    assert first.keys() == again.keys()
    for output in first:
        assert torch.equal(first[output], again[output]), output


@each_method
def test_bad_input_is_a_clear_error(name: str) -> None:
    model = patch_classifier()
    method = make(name, model)
    for images in (torch.rand(1, 1, SIZE, SIZE), torch.rand(SIZE, SIZE), torch.rand(1, 1, 3, SIZE, SIZE)):
        with pytest.raises(SunyError, match=r"shape \(B, 3, H, W\)"):
            method(images, 0)
    for target in (model.num_classes, -1):
        with pytest.raises(TargetError, match="out of range"):
            method(patches(), target)
    with pytest.raises(TargetError, match="out of range"):
        method(torch.cat([patches(), patches()]), [0, 2])
    with pytest.raises(SunyError, match="2 images but 3 targets"):
        method(torch.cat([patches(), patches()]), [0, 1, 0])
    assert_no_hooks(model)


@each_method
def test_an_unknown_layer_is_an_error_listing_the_valid_layers(name: str) -> None:
    """For a method that explains through a layer; the others ignore ``layer``."""
    model = patch_classifier()
    if method_class(name).uses_layer:
        with pytest.raises(LayerError) as error:
            make(name, model, layer="nope")
        assert "'nope'" in str(error.value)
        for layer in model.layer_names():
            assert layer in str(error.value)
    else:
        method = make(name, model, layer="nope")
        assert method.layer is None
        assert method(patches(), 0).maps.shape == (1, SIZE, SIZE)


@each_method
def test_the_common_options_are_accepted(name: str) -> None:
    model = patch_classifier()
    method = make(name, model, layer="layer", seed=3, batch_size=2, precision="float32")
    assert method.seed == 3
    assert method(patches(), 1).maps.shape == (1, SIZE, SIZE)


def own_options(name: str) -> set[str]:
    """The constructor keywords of ``name`` beyond the common ones (SUNY's are :class:`Suny`'s,
    which its methods' ``**options`` reach)."""
    parameters = dict(inspect.signature(method_class(name).__init__).parameters)
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        parameters = {k: v for k, v in parameters.items() if v.kind is not v.VAR_KEYWORD}
        parameters |= inspect.signature(Suny.__init__).parameters
    shown = {"progress", "on_progress"}  # how a run is shown, not what it computes
    return set(parameters) - {"self", "model", "layer", "seed", "batch_size", "precision", *shown}


@each_method
def test_settings_are_every_own_option_as_used(name: str) -> None:
    """What a results store hashes: a default that changes is a changed configuration. SUNY's
    ``search`` and the screen's setting are the options left out at the default search (the
    exhaustive one, which every row stored before the option existed used and which the screen's
    setting does not touch; a screened configuration names both, ``test_screening``)."""
    method = make(name, patch_classifier())
    assert set(method.settings) == own_options(name) - {"search", "screen_setting"}
    assert method.settings | FAST.get(name, {}) == method.settings  # the values given are the values used


@each_method
def test_each_map_has_the_settings_that_decide_it(name: str) -> None:
    """What a store hashes per map: the method's settings but those the map declares it ignores."""
    method = make(name, patch_classifier())
    for map_name in method.map_names:
        ignored = method.ignored_settings.get(map_name, ())
        assert set(ignored) <= set(method.settings)
        assert method.settings_of(map_name) == {k: v for k, v in method.settings.items() if k not in ignored}
    with pytest.raises(SunyError, match=f"returns {method.map_names[0]}.*not 'nothing'"):
        method.settings_of("nothing")


def test_suny_feature_n_and_s_ignore_the_combination_and_nothing_else() -> None:
    """The declaration is true: every combination rule gives the same N and S maps (and not one
    combined map)."""
    model = random_patch_model()

    def maps(**options: Any) -> dict[str, Tensor]:
        outputs = make("suny", model, **options)(patches(), 0).outputs
        assert outputs is not None
        return outputs

    by_rule = {rule: maps(combination=rule) for rule in COMBINATIONS}
    first = by_rule["sum"]
    for outputs in by_rule.values():
        torch.testing.assert_close(outputs["suny-n"], first["suny-n"], rtol=0, atol=0)
        torch.testing.assert_close(outputs["suny-s"], first["suny-s"], rtol=0, atol=0)
    assert len({tuple(outputs["suny"].flatten().tolist()) for outputs in by_rule.values()}) > 1
    assert make("suny", model).ignored_settings == {"suny-n": ("combination",), "suny-s": ("combination",)}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@each_method
def test_cuda_maps_match_cpu(name: str) -> None:
    """On the GPU the maps stay there, and equal the CPU maps unless the method draws random
    numbers (another seed changes its CPU maps): those draws differ between devices."""
    cpu_model = patch_classifier()
    x = patches() * 0.5 + 0.25
    expected = make(name, cpu_model)(x, 0).maps
    random = not torch.equal(expected, make(name, cpu_model, seed=1)(x, 0).maps)
    gpu = make(name, cpu_model.to("cuda"))(x, 0).maps
    assert gpu.device.type == "cuda"
    if not random:
        torch.testing.assert_close(gpu.cpu(), expected, rtol=0, atol=1e-4)


#: Every check above that runs without a GPU, for a method given by name.
CONTRACT = (
    test_maps_are_the_declared_float32_maps_in_the_unit_range,
    test_mode_restored_and_no_hooks_or_grads_after_a_call,
    test_hooks_removed_and_mode_restored_after_an_error,
    test_frozen_parameters_and_no_grad_give_the_same_maps,
    test_batching_does_not_change_the_maps,
    test_same_seed_same_maps,
    test_bad_input_is_a_clear_error,
    test_an_unknown_layer_is_an_error_listing_the_valid_layers,
    test_the_common_options_are_accepted,
)


# -------------------------------------------------------------------- methods registered later
class LayerSum(Baseline):
    """A tiny deterministic method: the min-max normalised, upsampled ReLU of the sum of the
    layer's activations, ``batch_size`` images per forward pass."""

    map_names = ("test-layer-sum",)
    uses_layer = True

    def compute(self, images: Tensor, targets: Tensor) -> SaliencyResult:
        maps = []
        for chunk in images.split(self.batch_size):
            with captured_output(self.model.layer(self.layer)) as outputs, torch.no_grad():
                self.model(chunk)
            total = outputs[0].sum(dim=1, keepdim=True).relu()
            maps.append(minmax(upsample(total, tuple(images.shape[-2:]))).squeeze(1))
        return SaliencyResult(torch.cat(maps))


class Impostor(LayerSum):
    """Another class under :class:`LayerSum`'s name."""


def test_a_registered_method_is_listed_and_meets_the_contract() -> None:
    name = LayerSum.map_names[0]
    assert name not in method_names()
    register_method(LayerSum)
    try:
        assert name in method_names()
        assert method_class(name) is LayerSum
        register_method(LayerSum)  # the same class again: nothing changes
        with pytest.raises(SunyError, match="taken by LayerSum"):
            register_method(Impostor)
        for check in CONTRACT:
            check(name)
    finally:
        unregister_method(LayerSum)
    assert name not in method_names()
    with pytest.raises(SunyError, match="unknown method"):
        method_class(name)
