"""Every requested metric for one method over a set of images (what ``suny evaluate`` runs).

Each image is scored once per target class (its ground-truth classes, or the predicted class when
it has none) and its scores are the mean over those classes (paper A.5, :func:`mean_by_group`).
Per-class scores: ``deletion_auc``, ``insertion_auc``, ``overall``, ``attack_flip`` (1 or 0),
``attack_size``, ``pointing`` (NaN for a class without boxes) and, for the sanity check, the
Spearman and SSIM similarity after the last randomisation step. Over the set: the mean of each
(NaNs left out) and ``attack_score = mean flip / mean size``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from suny.data.datasets import Sample, class_masks
from suny.data.images import load_image, original_size
from suny.metrics.aggregate import mean_by_group
from suny.metrics.attack import attack_noise, attack_score, saliency_attack
from suny.metrics.deletion_insertion import DEFAULT_STEP, curve_fractions, deletion_curve, insertion_curve
from suny.metrics.pointing import pointing_proportion
from suny.metrics.sanity import SanityResult, cascading_randomisation
from suny.models.wrapper import ImageClassifier
from suny.saliency import create_method

METRICS = ("deletion", "insertion", "attack", "pointing", "sanity")


def score_metric(
    metric: str,
    model: ImageClassifier,
    sample: Sample,
    images: Tensor,
    maps: Tensor,
    classes: Tensor,
    step: int = DEFAULT_STEP,
    batch_size: int = 64,
    seed: int = 0,
) -> dict[str, Tensor]:
    """The per-class results of one metric other than the sanity check, for ``maps`` (B, H, W) of
    ``sample``'s preprocessed image repeated in ``images`` (B, 3, H, W), one row per class of
    ``classes`` (B,): ``{deletion,insertion}_auc`` (B,) and ``_curve`` (B, T); ``attack_flip`` (1 or
    0) and ``attack_size`` with the image's own noise draw (seeded by its id and ``seed``);
    ``pointing``, NaN for a class without boxes."""
    if metric in ("deletion", "insertion"):
        make = deletion_curve if metric == "deletion" else insertion_curve
        curve = make(model, images, maps, classes, step=step, batch_size=batch_size)
        return {f"{metric}_auc": curve.auc, f"{metric}_curve": curve.scores}
    if metric == "attack":
        noise = attack_noise([sample.image_id], tuple(images.shape[1:]), seed)
        attack = saliency_attack(model, images, maps, noise.expand_as(images), batch_size)
        return {"attack_flip": attack.flips.float(), "attack_size": attack.sizes}
    if metric == "pointing":
        masks = class_masks(sample, original_size(sample.path), model.preprocessing)
        nan = torch.tensor(math.nan, device=maps.device)
        return {
            "pointing": torch.stack(
                [
                    pointing_proportion(maps[i : i + 1], masks[c][None].to(maps.device))[0]
                    if c in masks
                    else nan
                    for i, c in enumerate(classes.tolist())
                ]
            )
        }
    raise ValueError(f"no per-image score for metric {metric!r}; choose from {', '.join(METRICS[:4])}")


class Evaluation:
    """Scores ``method`` (a registry name, built with ``seed`` and ``method_options``) on the images
    given to :meth:`add`, keeping one row per (image, target class)."""

    def __init__(
        self,
        model: ImageClassifier,
        method: str,
        metrics: Sequence[str] = METRICS[:4],
        step: int = DEFAULT_STEP,
        batch_size: int = 64,
        seed: int = 0,
        sanity_steps: int | None = None,
        method_options: Mapping[str, Any] | None = None,
    ) -> None:
        unknown = sorted(set(metrics) - set(METRICS))
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; known: {', '.join(METRICS)}")
        self.model, self.method_name, self.metrics = model, method, tuple(metrics)
        self.step, self.batch_size, self.seed, self.sanity_steps = step, batch_size, seed, sanity_steps
        self.method_options = {"seed": seed, **(method_options or {})}
        self.method = create_method(method, model, **self.method_options)
        self.samples: list[Sample] = []
        self.targets: list[list[int]] = []
        self.predicted: list[int] = []
        self.fractions: Tensor | None = None
        if {"deletion", "insertion"} & set(self.metrics):
            self.fractions = curve_fractions(model.preprocessing.crop**2, step)
        self.sanity: list[SanityResult] = []
        self._image_of_row: list[int] = []
        self._rows: dict[str, list[Tensor]] = {}

    def add(self, sample: Sample) -> None:
        """Explain ``sample`` for each of its target classes and score every requested metric."""
        model = self.model
        pil = load_image(sample.path, min_side=model.preprocessing.resize)
        image = model.preprocess(pil).to(model.device)
        predicted = int(model.probabilities(image[None]).argmax())
        targets = list(sample.classes) or [predicted]
        images = image.expand(len(targets), -1, -1, -1)
        classes = torch.tensor(targets, device=model.device)
        maps = self.method(images, classes).maps
        rows: dict[str, Tensor] = {}
        for metric in self.metrics:
            if metric != "sanity":
                rows |= score_metric(
                    metric, model, sample, images, maps, classes, self.step, self.batch_size, self.seed
                )
        if {"deletion", "insertion"} <= set(self.metrics):
            rows["overall"] = rows["insertion_auc"] - rows["deletion_auc"]
        if "sanity" in self.metrics:
            result = cascading_randomisation(
                model,
                self.method_name,
                images,
                classes,
                steps=self.sanity_steps,
                seed=self.seed,
                method_options=self.method_options,
            )
            self.sanity.append(result)
            rows["sanity_spearman_steps"], rows["sanity_ssim_steps"] = result.spearman.T, result.ssim.T
            rows["sanity_spearman"], rows["sanity_ssim"] = result.spearman[-1], result.ssim[-1]
        for key, value in rows.items():
            self._rows.setdefault(key, []).append(value.detach().cpu().float())
        self._image_of_row.extend([len(self.samples)] * len(targets))
        self.samples.append(sample)
        self.targets.append(targets)
        self.predicted.append(predicted)

    def per_image(self) -> dict[str, Tensor]:
        """Name -> (N,) score (or (N, T) curve, (N, S) sanity steps) per image, mean over its
        classes."""
        groups = torch.tensor(self._image_of_row, dtype=torch.long)
        return {
            key: mean_by_group(torch.cat(values), groups, len(self.samples))
            for key, values in self._rows.items()
        }

    def summary(self) -> dict[str, float | int]:
        """Mean of each per-image score over the images (NaNs left out), and the attack score."""
        scores = {k: v for k, v in self.per_image().items() if v.dim() == 1}
        summary: dict[str, float | int] = {
            "images": len(self.samples),
            "targets": len(self._image_of_row),
        }
        summary.update({key: float(values.nanmean()) for key, values in scores.items()})
        if "attack_flip" in scores:
            summary["attack_score"] = attack_score(scores["attack_flip"], scores["attack_size"])
        return summary
