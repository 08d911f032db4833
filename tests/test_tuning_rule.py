"""The rule that picks SUNY's defaults (``benchmarks/tune_suny.py``), on hand-made rows whose
differences and standard errors are known."""

from __future__ import annotations

import math
import statistics

import pytest

IMAGES = ("a", "b", "c", "d")


def rows(name: str, kind: str, interventions: int, overall: tuple, pointing: tuple, flips=(0, 0, 1, 1)):
    """One row per image: ``overall`` and ``pointing`` per image, attack size 0.5 everywhere."""
    return [
        {
            "image_id": image,
            "candidate": name,
            "kind": kind,
            "interventions": float(interventions),
            "seconds": 1.0,
            "deletion_auc": 0.1,
            "insertion_auc": 0.1 + o,
            "overall": o,
            "pointing": p,
            "attack_flip": float(f),
            "attack_size": 0.5,
            "attack_flip_literal": float(f),
            "attack_size_literal": 1.0,
        }
        for image, o, p, f in zip(IMAGES, overall, pointing, flips)
    ]


def table() -> list[dict]:
    return [
        *rows("rise", "baseline", 0, (0.5, 0.6, 0.5, 0.6), (0.5, 0.5, 0.5, 0.5)),
        *rows("gradcam", "baseline", 0, (0.3, 0.3, 0.3, 0.3), (0.7, 0.6, 0.7, 0.6)),
        # pointing +0.2, +0.3, +0.2, +0.3 over Grad-CAM: mean 0.25, standard error 0.029
        *rows("cheap", "suny", 10, (0.4, 0.4, 0.4, 0.4), (0.9, 0.9, 0.9, 0.9)),
        *rows("costly", "suny", 20, (0.4, 0.4, 0.4, 0.4), (0.9, 0.9, 0.9, 0.9)),
        # pointing +0.2, -0.1, +0.2, -0.1: mean 0.05, standard error 0.087: no lead
        *rows("noisy", "suny", 5, (0.4, 0.4, 0.4, 0.4), (0.9, 0.5, 0.9, 0.5)),
    ]


def test_the_best_baseline_is_chosen_per_metric_and_differences_are_paired(tune):
    summary, best, _ = tune.summarise(table())
    assert best["overall"] == "rise" and best["pointing"] == "gradcam"
    cheap = next(s for s in summary if s["candidate"] == "cheap")
    differences = [0.2, 0.3, 0.2, 0.3]
    assert cheap["pointing_vs_best"] == pytest.approx(0.25)
    assert cheap["pointing_stderr"] == pytest.approx(statistics.stdev(differences) / math.sqrt(4))
    assert cheap["pointing_beats"] and not cheap["overall_beats"]  # 0.4 against RISE's 0.55
    assert cheap["overall_vs_best"] == pytest.approx(-0.15)
    noisy = next(s for s in summary if s["candidate"] == "noisy")
    assert noisy["pointing_vs_best"] == pytest.approx(0.05) and not noisy["pointing_beats"]


def test_most_wins_then_the_cheaper_candidate_wins(tune):
    assert tune.summarise(table())[2] == "cheap"  # "noisy" is cheaper but wins nothing
    without_cheap = [r for r in table() if r["candidate"] != "cheap"]
    assert tune.summarise(without_cheap)[2] == "costly"


def test_the_attack_score_is_a_ratio_over_the_set(tune):
    summary = {s["candidate"]: s for s in tune.summarise(table())[0]}
    assert summary["rise"]["attack_score"] == pytest.approx(0.5 / 0.5)  # mean flip / mean size
    assert summary["rise"]["attack_score_literal"] == pytest.approx(0.5)
