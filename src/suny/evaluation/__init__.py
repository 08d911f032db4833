"""Scoring explanations: one image through the paper's metrics (:mod:`.scoring`, shared by ``suny
evaluate``, ``suny bench`` and the tuning benchmark) and one method over a set of images
(:mod:`.evaluation`)."""

from suny.evaluation.evaluation import Evaluation
from suny.evaluation.scoring import (
    METRIC_REGISTRY,
    ImageMetric,
    ImageScores,
    MapScores,
    MetricScores,
    ScoringSettings,
    map_metric_names,
    metric_names,
    metric_scores,
    predicted_class,
    preprocessed_image,
    register_metric,
    score_image,
    score_maps,
)

__all__ = [
    "METRIC_REGISTRY",
    "Evaluation",
    "ImageMetric",
    "ImageScores",
    "MapScores",
    "MetricScores",
    "ScoringSettings",
    "map_metric_names",
    "metric_names",
    "metric_scores",
    "predicted_class",
    "preprocessed_image",
    "register_metric",
    "score_image",
    "score_maps",
]
