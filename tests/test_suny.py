"""SUNY on hand-built models whose every intervention can be computed by hand, and on real models."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from helpers.models import BatchNormNet, ChannelSumNet, toy_classifier

from suny.errors import LayerError, SunyError
from suny.method import Suny
from suny.method.suny import combine
from suny.ops import weighted_map


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def shapley_two(v: dict[tuple[int, ...], float]) -> tuple[float, float]:
    """Shapley values of a two-player game given as {(): .., (0,): .., (1,): .., (0, 1): ..}."""
    phi0 = 0.5 * ((v[(0,)] - v[()]) + (v[(0, 1)] - v[(1,)]))
    phi1 = 0.5 * ((v[(1,)] - v[()]) + (v[(0, 1)] - v[(0,)]))
    return phi0, phi1


# The toy image: red 1 at the top-left pixel, green 0.5 at the bottom-right, blue 0.
IMAGE = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.5]], [[0.0, 0.0], [0.0, 0.0]]])


def check_against_hand(explanation, logit_remove, logit_keep, activations):
    """Compare every number of ``explanation`` with the games built from logits by hand."""
    p = sigmoid(logit_remove[()])
    e_n = {s: (p - sigmoid(z)) / p for s, z in logit_remove.items()}
    e_s = {s: sigmoid(z) / p for s, z in logit_keep.items()}
    assert explanation.probability == pytest.approx(p, rel=1e-6)
    assert explanation.necessity_effects.tolist() == pytest.approx([e_n[(0,)], e_n[(1,)]], rel=1e-5)
    assert explanation.sufficiency_effects.tolist() == pytest.approx([e_s[(0,)], e_s[(1,)]], rel=1e-5)
    r_n, r_s = shapley_two(e_n), shapley_two(e_s)
    assert explanation.necessity.tolist() == pytest.approx(list(r_n), rel=1e-5)
    assert explanation.sufficiency.tolist() == pytest.approx(list(r_s), rel=1e-5)
    assert explanation.necessity_stderr.tolist() == [0.0, 0.0]  # two causes: solved exactly
    for responsibilities, got in ((r_n, explanation.necessity_map), (r_s, explanation.sufficiency_map)):
        weighted = np.maximum(responsibilities[0] * activations[0] + responsibilities[1] * activations[1], 0)
        expected = (weighted - weighted.min()) / (weighted.max() - weighted.min())
        assert got.numpy() == pytest.approx(expected, abs=1e-6)


def test_feature_causes_match_hand_computation():
    # layer(x) = (red, green); logit 0 = sum of both channels. Masks: m_0 = top-left, m_1 = bottom-right.
    model = toy_classifier(ChannelSumNet([[1, 0, 0], [0, 1, 0]], [0, 0], [1, 1]))
    explanation = Suny(model, "layer", cause="feature", set_size=2).explain(IMAGE, target=0)
    # remove S zeroes the pixels of S's masks; keep S zeroes every other pixel.
    logit_remove = {(): 1.5, (0,): 0.5, (1,): 1.0, (0, 1): 0.0}
    logit_keep = {(): 0.0, (0,): 1.0, (1,): 0.5, (0, 1): 1.5}
    activations = [IMAGE[0].numpy(), IMAGE[1].numpy()]
    check_against_hand(explanation, logit_remove, logit_keep, activations)
    # Removing red loses 1 of the 1.5 logit, removing green 0.5: red is the more necessary and the
    # more sufficient cause, so it ranks first in both hypothesised sets.
    assert explanation.necessary_set == [0, 1]
    assert explanation.sufficient_set == [0, 1]
    # clean pass, 2K singletons, remove(F), keep(nothing) and keep(F)
    assert explanation.forward_passes == 1 + 4 + 1 + 2


def test_filter_causes_match_hand_computation():
    # Pruning filter k removes its channel (no BatchNorm: weights and bias zeroed): channel 0
    # (red + bias 0.25) sums to 2 over the pixels, channel 1 (green) to 0.5.
    model = toy_classifier(ChannelSumNet([[1, 0, 0], [0, 1, 0]], [0.25, 0.0], [1, 1]))
    explanation = Suny(model, "layer", cause="filter", set_size=2).explain(IMAGE, target=0)
    logit_remove = {(): 2.5, (0,): 0.5, (1,): 2.0, (0, 1): 0.0}
    logit_keep = {(): 0.0, (0,): 2.0, (1,): 0.5, (0, 1): 2.5}
    activations = [IMAGE[0].numpy() + 0.25, IMAGE[1].numpy()]  # the convolution's own outputs
    check_against_hand(explanation, logit_remove, logit_keep, activations)
    assert explanation.layer == "layer" and explanation.cause == "filter"


def test_keeping_a_filter_whose_channel_is_zero_alone_prunes_every_other_filter():
    """BatchNormNet on an image whose green is 0.5 everywhere: channel 1 (``green - 0.5`` after the
    BatchNorm) is zero, so pruning filter 1 changes nothing, while keeping it alone prunes filter 0:
    logit 0 falls from 6 (channel 0 sums to 6) to 0. Channel 0 alone is the whole image."""
    model = toy_classifier(BatchNormNet())
    image = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[0.5, 0.5], [0.5, 0.5]], [[0.0] * 2] * 2])
    explanation = Suny(model, "layer", cause="filter", set_size=2).explain(image, target=0)
    p = sigmoid(6.0)
    assert explanation.probability == pytest.approx(p, rel=1e-6)
    assert explanation.necessity_effects.tolist() == pytest.approx([(p - 0.5) / p, 0.0], rel=1e-6)
    assert explanation.sufficiency_effects.tolist() == pytest.approx([1.0, 0.5 / p], rel=1e-6)


def test_target_class_one_uses_its_own_probability():
    model = toy_classifier(ChannelSumNet([[1, 0, 0], [0, 1, 0]], [0, 0], [1, 1]))
    explanation = Suny(model, "layer", set_size=2).explain(IMAGE, target=1)
    assert explanation.probability == pytest.approx(1 - sigmoid(1.5), rel=1e-6)
    # Removing red raises p_1: a negative necessity effect.
    assert explanation.necessity_effects[0] < 0
    assert explanation.target_name == "no"


def three_cause_model() -> torch.nn.Module:
    return toy_classifier(
        ChannelSumNet([[1, 0, 0], [0, 1, 0], [0, 0, 1]], [0, 0, 0], [2.0, -1.0, 0.5]), size=4
    )


@pytest.mark.parametrize("cause", ["feature", "filter"])
def test_sampled_responsibilities_sum_to_the_game_difference(cause):
    image = torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(0))
    suny = Suny(three_cause_model(), "layer", cause=cause, set_size=3, permutations=5, exact=False)
    explanation = suny.explain(image, target=0)
    games = explanation.game_values
    assert float(explanation.necessity.sum()) == pytest.approx(
        games["necessity_full"] - games["necessity_empty"], abs=1e-9
    )
    assert float(explanation.sufficiency.sum()) == pytest.approx(
        games["sufficiency_full"] - games["sufficiency_empty"], abs=1e-9
    )
    assert games["necessity_empty"] == 0.0
    assert (explanation.necessity_stderr >= 0).all()


@pytest.mark.parametrize("cause", ["feature", "filter"])
def test_sampling_converges_to_exact_enumeration_on_a_real_game(cause):
    image = torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(1))
    model = three_cause_model()
    exact = Suny(model, "layer", cause=cause, set_size=3, exact=True).explain(image, 0)
    sampled = Suny(model, "layer", cause=cause, set_size=3, permutations=600, exact=False).explain(image, 0)
    for field in ("necessity", "sufficiency"):
        difference = (getattr(sampled, field) - getattr(exact, field)).abs()
        stderr = getattr(sampled, f"{field}_stderr")
        assert bool((difference <= 4 * stderr + 1e-12).all()), field


def test_causes_outside_the_sets_get_zero():
    image = torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(2))
    explanation = Suny(three_cause_model(), "layer", set_size=1).explain(image, 0)
    outside_n = [k for k in range(3) if k not in explanation.necessary_set]
    outside_s = [k for k in range(3) if k not in explanation.sufficient_set]
    assert explanation.necessity[outside_n].abs().sum() == 0
    assert explanation.sufficiency[outside_s].abs().sum() == 0
    # A one-cause game gives that cause all of E(F) - E(empty).
    k = explanation.necessary_set[0]
    assert float(explanation.necessity[k]) == pytest.approx(float(explanation.necessity_effects[k]))


def test_constant_feature_map_gives_no_nan():
    # Channel 1 is constant (zero weights, bias 0.3): its mask is all zero and nothing is NaN.
    model = toy_classifier(ChannelSumNet([[1, 0, 0], [0, 0, 0]], [0.0, 0.3], [1, 1]), size=4)
    image = torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(0))
    for cause in ("feature", "filter"):
        explanation = Suny(model, "layer", cause=cause, set_size=2).explain(image, 0)
        for value in vars(explanation).values():
            if isinstance(value, torch.Tensor):
                assert torch.isfinite(value).all(), cause
    feature = Suny(model, "layer", cause="feature", set_size=2).explain(image, 0)
    assert float(feature.necessity_effects[1]) == 0.0  # removing an all-zero mask changes nothing


def test_all_zero_activations_give_zero_maps_not_nan():
    model = toy_classifier(ChannelSumNet([[0, 0, 0], [0, 0, 0]], [0.0, 0.0], [1, 1]))
    explanation = Suny(model, "layer", set_size=2).explain(IMAGE, 0)
    assert explanation.combined_map.abs().sum() == 0
    assert torch.isfinite(explanation.necessity_map).all()


def test_combinations():
    n = torch.tensor([[0.0, 1.0], [0.5, 0.0]])
    s = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    assert combine(n, s, "sum").tolist() == [[0.5, 1.0], [0.25, 0.0]]
    assert combine(n, s, "product").tolist() == [[0.0, 1.0], [0.0, 0.0]]
    assert torch.equal(combine(n, s, "necessity"), n)
    assert torch.equal(combine(n, s, "sufficiency"), s)
    with pytest.raises(SunyError, match="unknown combination"):
        combine(n, s, "mean")


def test_responsibility_map_is_relu_of_the_weighted_sum_then_minmax():
    activations = torch.tensor([[[[1.0, -1.0], [0.0, 2.0]], [[0.0, 1.0], [1.0, 0.0]]]])
    got = weighted_map(torch.tensor([[1.0, 0.5]]), activations, (2, 2))[0]
    # weighted = [[1, -0.5], [0.5, 2]] -> relu -> [[1, 0], [0.5, 2]] -> minmax
    assert got.flatten().tolist() == pytest.approx([0.5, 0.0, 0.25, 1.0])


def test_unknown_layer_lists_the_valid_ones():
    model = three_cause_model()
    with pytest.raises(LayerError, match=r"no explainable layer 'nope'; valid names: .*layer"):
        Suny(model, "nope")


def test_an_unknown_layer_of_a_deep_model_names_the_nearest(lite0):
    """Lite0 has over a hundred layers: the nearest names and where the whole list is, not all."""
    with pytest.raises(LayerError, match=r"did you mean _head_activation.*lists all \d+") as error:
        Suny(lite0, "_head_activaton")
    assert "_blocks.0._bn1" not in str(error.value)


def test_out_of_range_target_is_a_clear_error():
    with pytest.raises(SunyError, match="out of range"):
        Suny(three_cause_model(), "layer").explain(torch.rand(3, 4, 4), target=2)


def test_bad_options_are_clear_errors():
    model = three_cause_model()
    with pytest.raises(SunyError, match="cause type"):
        Suny(model, cause="pixel")
    with pytest.raises(SunyError, match="at least 1"):
        Suny(model, set_size=0)


def test_mode_is_restored_and_no_hooks_are_left():
    model = three_cause_model()
    model.train()
    Suny(model, "layer", set_size=2).explain(torch.rand(3, 4, 4), 0)
    assert model.training and model.network.layer.training
    assert not model.network.layer._forward_hooks


# ----------------------------------------------------------------------------- real model
def test_same_seed_same_result_on_lite0(lite0, cat_image):
    a = Suny(lite0, cause="filter", seed=3).explain(cat_image)
    b = Suny(lite0, cause="filter", seed=3).explain(cat_image)
    c = Suny(lite0, cause="filter", seed=4).explain(cat_image)
    assert torch.equal(a.combined_map, b.combined_map)
    assert torch.equal(a.necessity, b.necessity) and torch.equal(a.sufficiency_stderr, b.sufficiency_stderr)
    assert not torch.equal(a.necessity, c.necessity)


def test_lite0_explanation_carries_every_field(lite0, cat_image, tmp_path):
    explanation = Suny(lite0, "_blocks.15", cause="filter", set_size=6, permutations=8).explain(cat_image)
    assert "cat" in explanation.target_name
    assert explanation.layer == "_blocks.15._project_conv"
    assert explanation.num_causes == 320
    assert len(explanation.necessary_set) == len(explanation.sufficient_set) == 6
    assert explanation.combined_map.shape == (224, 224)
    assert float(explanation.combined_map.min()) >= 0 and float(explanation.combined_map.max()) == 1
    # 2K singletons + at most P * (n - 1) + 1 coalitions per game + the clean passes
    assert 640 < explanation.forward_passes <= 3 + 640 + 2 * (8 * 5 + 1)
    # the last block ends in a linear bottleneck: its positive part keeps the maps informative
    assert float((explanation.combined_map > 0).float().mean()) > 0.05
    explanation.save_json(tmp_path / "e.json")
    summary = json.loads((tmp_path / "e.json").read_text())
    assert summary["target"] == explanation.target and len(summary["necessity"]) == 320
    explanation.save_npz(tmp_path / "e.npz")
    with np.load(tmp_path / "e.npz") as arrays:
        assert arrays["combined_map"].shape == (224, 224)
        assert arrays["necessary_set"].tolist() == explanation.necessary_set


def test_lite0_feature_causes_on_an_early_layer(lite0, cat_image):
    explanation = Suny(lite0, "_blocks.0", cause="feature", set_size=3).explain(cat_image)
    assert explanation.num_causes == 16
    assert torch.isfinite(explanation.combined_map).all()
    assert explanation.forward_passes == 1 + 32 + (2**3 - 3 - 1) + (2**3 - 3)


def test_single_permutation_has_undefined_stderr_written_as_null(tmp_path):
    image = torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(3))
    explanation = Suny(three_cause_model(), "layer", set_size=3, permutations=1, exact=False).explain(
        image, 0
    )
    assert torch.isnan(explanation.necessity_stderr[explanation.necessary_set]).all()
    explanation.save_json(tmp_path / "e.json")
    summary = json.loads((tmp_path / "e.json").read_text())
    assert summary["necessity_stderr"][explanation.necessary_set[0]] is None
