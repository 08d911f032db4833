"""One method over a set of images (what ``suny evaluate`` runs): every image through
:func:`~suny.evaluation.scoring.score_image`, then the mean over each image's classes (paper A.5,
:func:`~suny.metrics.aggregate.mean_by_group`) and over the images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from suny.data.sample import Sample
from suny.errors import SunyError
from suny.evaluation.scoring import ImageScores, ScoringSettings, map_metric_names, metric_names, score_image
from suny.metrics.aggregate import mean_by_group
from suny.metrics.attack import attack_score
from suny.metrics.deletion_insertion import curve_fractions
from suny.metrics.sanity import SanityResult
from suny.models.wrapper import ImageClassifier
from suny.registry import create_method


class Evaluation:
    """Scores the method registered as ``method`` (built with the settings' seed and
    ``method_options``) on the images given to :meth:`add`, one row per (image, target class).

    Args:
        model: the classifier to explain.
        method: a registry name.
        metrics: from :func:`~suny.evaluation.scoring.metric_names`.
        settings: how the metrics run.
        method_options: the method's own options.
    """

    def __init__(
        self,
        model: ImageClassifier,
        method: str,
        metrics: Sequence[str] | None = None,
        settings: ScoringSettings | None = None,
        method_options: Mapping[str, Any] | None = None,
    ) -> None:
        metrics = map_metric_names() if metrics is None else metrics
        unknown = sorted(set(metrics) - set(metric_names()))
        if unknown:
            raise SunyError(f"unknown metrics {unknown}; known: {', '.join(metric_names())}")
        settings = settings or ScoringSettings()
        self.model, self.method_name, self.metrics, self.settings = model, method, tuple(metrics), settings
        self.method = create_method(method, model, **{"seed": settings.seed, **(method_options or {})})
        self.images: list[ImageScores] = []
        self.fractions: Tensor | None = None
        if {"deletion", "insertion"} & set(self.metrics):
            self.fractions = curve_fractions(model.preprocessing.crop**2, settings.step)

    @property
    def samples(self) -> list[Sample]:
        return [scores.sample for scores in self.images]

    @property
    def sanity(self) -> list[SanityResult]:
        """The sanity check's cascade of each image (when asked for)."""
        return (
            [
                result
                for scores in self.images
                if (result := scores.maps[self.method_name].metrics["sanity"].sanity) is not None
            ]
            if "sanity" in self.metrics
            else []
        )

    def add(self, sample: Sample) -> ImageScores:
        """Explain ``sample`` for each of its target classes and score every metric."""
        scores = score_image(self.method, sample, {self.method_name: self.metrics}, self.settings)
        self.images.append(scores)
        return scores

    def per_image(self) -> dict[str, Tensor]:
        """Score name -> (N,) per image, and ``{curve name}_curve`` -> (N, T) per image: each the mean
        over the image's classes (a NaN class makes its image NaN)."""
        rows: dict[str, list[Tensor]] = {}
        for scores in self.images:
            entry = scores.maps[self.method_name]
            curves = {f"{name}_curve": curve for name, curve in entry.curves().items()}
            for key, value in (entry.values() | curves).items():
                rows.setdefault(key, []).append(value.detach().cpu().float())
        groups = torch.tensor([i for i, s in enumerate(self.images) for _ in s.targets], dtype=torch.long)
        return {
            key: mean_by_group(torch.cat(values), groups, len(self.images)) for key, values in rows.items()
        }

    def summary(self) -> dict[str, float | int]:
        """Mean of each per-image score over the images (NaNs left out), and the attack score."""
        scores = {k: v for k, v in self.per_image().items() if v.dim() == 1}
        summary: dict[str, float | int] = {
            "images": len(self.images),
            "targets": sum(len(s.targets) for s in self.images),
        }
        summary.update({key: float(values.nanmean()) for key, values in scores.items()})
        if "attack_flip" in scores:
            summary["attack_score"] = attack_score(scores["attack_flip"], scores["attack_size"])
        return summary
