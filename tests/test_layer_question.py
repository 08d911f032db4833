"""The layer question's rule (``benchmarks/layer_question.py``) on hand-made rows whose verdicts are
known: a method's better layer, the tie-breaks, and SUNY's standing against the best baseline."""

from __future__ import annotations

import numpy as np

IMAGES = [f"i{n}" for n in range(20)]


def row(module, method: str, layer: str | None, overall: float, pointing: float, flip: float, seconds=1.0):
    """A row with the same scores on every image but a small spread (+-0.01) on overall and pointing."""
    spread = np.tile([0.01, -0.01], len(IMAGES) // 2)
    scores = {
        "overall": dict(zip(IMAGES, overall + spread)),
        "pointing": dict(zip(IMAGES, pointing + spread)),
        "attack_flip": dict(zip(IMAGES, np.tile([flip, 0.0], len(IMAGES) // 2) * 2)),
        "attack_size": dict.fromkeys(IMAGES, 0.2),
        "explain_seconds": dict.fromkeys(IMAGES, seconds),
    }
    return module.Row(
        method, layer, {name: {i: float(v) for i, v in values.items()} for name, values in scores.items()}
    )


def test_a_method_s_better_layer_wins_more_metrics_and_ties_go_to_the_cheaper(layer_question):
    head, deep = layer_question.LAYERS["head 7x7"], layer_question.LAYERS["14x14"]
    rows = [
        # gradcam: 14x14 better on overall and pointing (0.05 with a spread of 0.01), equal attack
        row(layer_question, "gradcam", head, 0.30, 0.70, 0.5),
        row(layer_question, "gradcam", deep, 0.35, 0.75, 0.5),
        # scorecam: equal everywhere, the head is cheaper: a tie, to the head
        row(layer_question, "scorecam", head, 0.30, 0.70, 0.5, seconds=1.0),
        row(layer_question, "scorecam", deep, 0.30, 0.70, 0.5, seconds=2.0),
        # groupcam: 14x14 wins pointing, the head wins overall: one each, 14x14 cheaper
        row(layer_question, "groupcam", head, 0.35, 0.70, 0.5, seconds=2.0),
        row(layer_question, "groupcam", deep, 0.30, 0.75, 0.5, seconds=1.0),
    ]
    verdicts = {v.method: v for v in layer_question.layer_verdicts(rows)}
    assert verdicts["gradcam"].better == "gradcam @ 14x14" and verdicts["gradcam"].outright
    assert abs(verdicts["gradcam"].differences["overall"].value - 0.05) < 1e-12
    assert abs(verdicts["gradcam"].differences["pointing"].value - 0.05) < 1e-12
    assert verdicts["gradcam"].differences["attack_score"].interval == (0.0, 0.0)
    assert verdicts["scorecam"].better == "scorecam @ head 7x7" and not verdicts["scorecam"].outright
    assert verdicts["groupcam"].better == "groupcam @ 14x14" and not verdicts["groupcam"].outright


def test_suny_s_standing_is_against_the_best_baseline_at_its_layer_and_the_references(layer_question):
    head, deep = layer_question.LAYERS["head 7x7"], layer_question.LAYERS["14x14"]
    rows = [
        row(layer_question, "suny", head, 0.30, 0.80, 0.5),
        row(layer_question, "suny", deep, 0.30, 0.70, 0.5),
        row(layer_question, "gradcam", head, 0.30, 0.75, 0.5),
        row(layer_question, "gradcam", deep, 0.30, 0.90, 0.5),  # the best pointing, but at 14x14 only
        row(layer_question, "rise", None, 0.40, 0.60, 0.5),  # the best overall at both layers
    ]
    suny, best = layer_question.standing(rows, head)
    assert suny.name == "suny @ head 7x7"
    assert best["overall"][0].name == "rise" and layer_question.decided(best["overall"][1]) == -1
    assert (
        best["pointing"][0].name == "gradcam @ head 7x7" and layer_question.decided(best["pointing"][1]) == 1
    )
    _, best = layer_question.standing(rows, deep)
    assert best["pointing"][0].name == "gradcam @ 14x14" and layer_question.decided(best["pointing"][1]) == -1
