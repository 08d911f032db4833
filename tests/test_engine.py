"""The forward engine: precision resolution (auto, emulated bfloat16 falling back once), batching,
the classes it returns, and a small version of the bfloat16 agreement check on real crops."""

from __future__ import annotations

import warnings

import pytest
import torch
from helpers.models import BatchNormNet, ChannelSumNet, toy_classifier
from torch import nn

from suny.data import ilsvrc_kaggle
from suny.engine import ForwardEngine, autocast, hardware, precision, resolve_precision
from suny.engine.forward import FrozenForward
from suny.evaluation import ScoringSettings, score_image
from suny.registry import create_method

CPU = torch.device("cpu")


def test_auto_takes_bfloat16_only_where_it_is_native(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_native_bfloat16", lambda: True)
    assert resolve_precision("auto", CPU) == "bfloat16"
    monkeypatch.setattr(precision, "cpu_has_native_bfloat16", lambda: False)
    assert resolve_precision("auto", CPU) == "float32"
    assert resolve_precision("auto", torch.device("cuda")) == "bfloat16"
    assert resolve_precision("float32", CPU) == "float32"
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("int8", CPU)


def test_emulated_bfloat16_falls_back_to_float32_with_one_warning(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_native_bfloat16", lambda: False)
    precision._warn_emulated.cache_clear()
    with pytest.warns(RuntimeWarning, match="not native on this CPU"):
        assert resolve_precision("bfloat16", CPU) == "float32"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_precision("bfloat16", CPU) == "float32"  # said once only
    assert isinstance(autocast(CPU, "bfloat16"), type(autocast(CPU, "float32")))


def test_engine_batches_and_returns_the_classes_asked_for():
    """Seven inputs in batches of three: three passes, the same numbers as one big batch, per-input
    targets, a set of classes, or every class."""
    model = toy_classifier(ChannelSumNet([[1, 0, 0], [0, 1, 0]], [0, 0], [1, 1]), size=4)
    inputs = torch.rand(7, 3, 4, 4)
    engine = ForwardEngine.for_model(model, batch_size=3)
    everything = engine.probabilities(7, inputs.__getitem__)
    assert engine.passes == 7 and everything.shape == (7, 2)
    torch.testing.assert_close(everything, model(inputs).softmax(dim=1))
    targets = torch.tensor([0, 1, 0, 1, 0, 1, 1])
    torch.testing.assert_close(
        engine.probabilities(7, inputs.__getitem__, targets=targets),
        everything.gather(1, targets[:, None])[:, 0],
    )
    torch.testing.assert_close(
        engine.probabilities(7, inputs.__getitem__, classes=torch.tensor([1])), everything[:, 1:]
    )
    assert engine.predictions(7, inputs.__getitem__).tolist() == everything.argmax(dim=1).tolist()
    with pytest.raises(ValueError, match="targets or classes"):
        engine.probabilities(7, inputs.__getitem__, targets=targets, classes=targets)


def test_compiled_passes_freeze_the_weights_and_never_use_stale_ones():
    """A compiled engine gives the model's numbers (its last batch padded to the compiled shape) from
    a graph with the weights frozen in: after an in-place change the graph itself still computes
    with the old weights, and the engine runs the model instead; the same once a weight is replaced
    by another tensor. Every engine of the model shares the one compiled forward."""
    model = toy_classifier(BatchNormNet())
    inputs = torch.rand(5, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    engine = ForwardEngine.for_model(model, batch_size=4, compile=True)
    forward = engine.forward
    assert isinstance(forward, FrozenForward)
    assert ForwardEngine.for_model(model, batch_size=4, compile=True).forward is forward
    with torch.no_grad():
        before = model(inputs).softmax(dim=1)
    torch.testing.assert_close(engine.probabilities(5, inputs.__getitem__), before)

    with torch.no_grad():
        model.network.norm.bias.add_(1.0)
        after = model(inputs).softmax(dim=1)
    assert not torch.allclose(after, before, atol=1e-3)
    assert not forward.current
    from torch._inductor import config as inductor

    with torch.no_grad(), inductor.patch(freezing=True):
        stale = forward.compiled(inputs[:4]).softmax(dim=1)
    torch.testing.assert_close(stale, before[:4])
    torch.testing.assert_close(engine.probabilities(5, inputs.__getitem__), after)

    replaced = toy_classifier(BatchNormNet())
    engine = ForwardEngine.for_model(replaced, batch_size=4, compile=True)
    assert engine.forward.current  # type: ignore[attr-defined]
    replaced.network.norm.weight = nn.Parameter(torch.tensor([1.0, 1.0]))
    with torch.no_grad():
        expected = replaced(inputs).softmax(dim=1)
    torch.testing.assert_close(engine.probabilities(5, inputs.__getitem__), expected)


def test_frozen_weights_refuse_passes_with_gradients():
    """A frozen graph has no weights to differentiate: a pass with gradients is an error, not a
    silent gradient of the input alone."""
    forward = FrozenForward(toy_classifier(BatchNormNet()))
    with pytest.raises(RuntimeError, match="without gradients"):
        forward(torch.rand(1, 3, 2, 2))


@pytest.mark.skipif(not precision.cpu_has_native_bfloat16(), reason="this CPU has no native bfloat16")
def test_bfloat16_moves_the_evaluation_little_on_real_crops(lite0, shared_data):
    """The small version of ``benchmarks/bf16_agreement.py``: on two crops, Grad-CAM's and
    SUNY-filter's deletion and insertion AUCs move by less than 0.02 and SUNY-filter's hypothesised
    sets stay the same (measured on 10 crops: they did on every one)."""
    samples = ilsvrc_kaggle(shared_data / "ilsvrc-val-crops")[:2]
    for name in ("gradcam", "suny-filter"):
        scores = {}
        for chosen in ("float32", "bfloat16"):
            method = (
                create_method(name, lite0, precision=chosen, set_size=4)
                if name.startswith("suny")
                else (create_method(name, lite0, precision=chosen))
            )
            settings = ScoringSettings(step=224 * 56, precision=chosen)
            scores[chosen] = [
                score_image(method, s, {name: ("deletion", "insertion")}, settings) for s in samples
            ]
        for exact, reduced in zip(scores["float32"], scores["bfloat16"]):
            for score in ("deletion_auc", "insertion_auc"):
                difference = exact.maps[name].values()[score] - reduced.maps[name].values()[score]
                assert float(difference.abs().max()) < 0.02, (name, score)
            if name == "suny-filter":
                assert exact.extras[0].necessary_set == reduced.extras[0].necessary_set
                assert exact.extras[0].sufficient_set == reduced.extras[0].sufficient_set


def test_the_device_description_says_what_the_cpu_offers(monkeypatch):
    cpuinfo = {"model name": "Test CPU", "flags": "fpu avx2 avx512_bf16"}
    monkeypatch.setattr(hardware, "_cpuinfo_field", cpuinfo.get)
    monkeypatch.setattr(hardware, "cpu_has_native_bfloat16", lambda: True)
    capability = torch.backends.cpu.get_cpu_capability()
    assert hardware.cpu_capability() == f"{capability}, avx512_bf16, native bf16"
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert hardware.describe_device(torch.device("cpu")) == (
            f"CPU Test CPU [{capability}, avx512_bf16, native bf16], 1 thread (torch {torch.__version__})"
        )
    finally:
        torch.set_num_threads(threads)
    monkeypatch.setattr(hardware, "_cpuinfo_field", lambda name: None)  # no /proc/cpuinfo
    monkeypatch.setattr(hardware, "cpu_has_native_bfloat16", lambda: False)
    assert hardware.cpu_capability() == f"{capability}, no AMX/AVX512-BF16, no native bf16"
    assert hardware.cpu_model()  # the platform's processor or machine name
