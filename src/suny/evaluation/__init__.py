"""Scoring explanations: one image through the paper's metrics (:mod:`.scoring`, shared by ``suny
evaluate``, ``suny bench`` and the tuning benchmark) and one method over a set of images
(:mod:`.evaluation`)."""

from suny.evaluation.evaluation import Evaluation
from suny.evaluation.scoring import (
    METRICS,
    SCORES,
    ImageScores,
    MapScores,
    MetricScores,
    ScoringSettings,
    predicted_class,
    preprocessed_image,
    score_image,
    score_maps,
)

__all__ = [
    "METRICS",
    "SCORES",
    "Evaluation",
    "ImageScores",
    "MapScores",
    "MetricScores",
    "ScoringSettings",
    "predicted_class",
    "preprocessed_image",
    "score_image",
    "score_maps",
]
