"""One image through the paper's evaluations (SPEC section 4): the per-image step that ``suny
evaluate``, ``suny bench`` and the tuning benchmark all run.

:func:`score_image` explains an image once for each of its target classes (its ground-truth classes,
or the predicted class when it has none) and scores every map the method returns that the caller
asks for; :func:`score_maps` scores maps made elsewhere. Per class and map:

- ``deletion``: ``deletion_auc`` and the ``deletion`` curve; ``insertion`` likewise (the curves of
  all maps of the image run in shared batches);
- ``attack``: ``attack_flip`` (1 or 0) and ``attack_size`` through the true map at the settings'
  threshold, and ``attack_flip_literal``/``attack_size_literal`` through the whole map (tau = 0),
  with the image's own noise draw (seeded by its id and the seed, the same for every method);
- ``pointing``: the energy inside the class's boxes (NaN for a class without boxes);
- ``sanity``: ``sanity_spearman`` and ``sanity_ssim`` after the last randomisation step, and their
  curves over the steps (the method explains again after each step: one cascade for all its maps).

``overall`` (:func:`~suny.metrics.deletion_insertion.overall_auc`) is derived where both AUCs are
there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from suny.data.boxes import class_masks
from suny.data.images import load_image, original_size
from suny.data.sample import Sample
from suny.engine import Precision
from suny.errors import SunyError
from suny.metrics.attack import THRESHOLD, attack_noise, saliency_attack
from suny.metrics.deletion_insertion import DEFAULT_STEP, deletion_curve, insertion_curve, overall_auc
from suny.metrics.pointing import pointing_proportion
from suny.metrics.sanity import SanityResult, cascading_randomisation
from suny.models.wrapper import ImageClassifier
from suny.saliency import SaliencyMethod, SaliencyResult


@dataclass(frozen=True)
class ScoringSettings:
    """How the metrics run: ``step`` pixels per point of the deletion/insertion curves,
    ``batch_size`` inputs per forward pass, ``seed`` of the attack noise and of the sanity check's
    re-initialisation, ``sanity_steps`` (the cascade merged into that many steps; None: one per
    layer group), ``attack_threshold`` (tau of the true map), ``precision`` of the metrics'
    forward passes."""

    step: int = DEFAULT_STEP
    batch_size: int = 64
    seed: int = 0
    sanity_steps: int | None = 5
    attack_threshold: float = THRESHOLD
    precision: Precision = "float32"


@dataclass
class MetricScores:
    """One metric of one map: per-class ``values`` (score name -> (C,)), per-class ``curves``
    (curve name -> (C, T)), the ``seconds`` it took per class, and the sanity check's full result."""

    values: dict[str, Tensor]
    curves: dict[str, Tensor] = field(default_factory=dict)
    seconds: float = 0.0
    sanity: SanityResult | None = None


@dataclass
class MapScores:
    """The scores of one map (``maps``: (C, H, W), one per target class) by metric."""

    maps: Tensor
    metrics: dict[str, MetricScores] = field(default_factory=dict)

    def values(self) -> dict[str, Tensor]:
        """Every per-class score (name -> (C,)), with ``overall`` when both AUCs are there."""
        values = {name: v for scores in self.metrics.values() for name, v in scores.values.items()}
        if "deletion_auc" in values and "insertion_auc" in values:
            values["overall"] = overall_auc(values["insertion_auc"], values["deletion_auc"])
        return values

    def curves(self) -> dict[str, Tensor]:
        """Every per-class curve (name -> (C, T))."""
        return {name: c for scores in self.metrics.values() for name, c in scores.curves.items()}


@dataclass
class ImageScores:
    """One image: the preprocessed ``image``, its target classes (one row of every score each), the
    predicted class, the seconds of the explanation per class, the scores of each map by name and
    the method's extras (one per class)."""

    sample: Sample
    image: Tensor
    targets: list[int]
    predicted: int
    explain_seconds: float = 0.0
    maps: dict[str, MapScores] = field(default_factory=dict)
    extras: list[Any] = field(default_factory=list)


def preprocessed_image(model: ImageClassifier, sample: Sample, picture: Image.Image | None = None) -> Tensor:
    """``sample``'s image as the model sees it, (3, H, W) in [0, 1] on its device (``picture``: the
    file already read)."""
    if picture is None:
        picture = load_image(sample.path, min_side=model.preprocessing.resize)
    return model.preprocess(picture).to(model.device)


def predicted_class(model: ImageClassifier, image: Tensor) -> int:
    """The model's class for one image (3, H, W)."""
    return int(model.probabilities(image[None]).argmax())


def score_maps(
    model: ImageClassifier,
    sample: Sample,
    image: Tensor,
    targets: Sequence[int],
    maps: Mapping[str, Tensor],
    metrics: Mapping[str, Sequence[str]],
    settings: ScoringSettings | None = None,
    predicted: int | None = None,
) -> dict[str, MapScores]:
    """Score ``maps`` (name -> (C, H, W), one per class of ``targets``) of one image.

    Args:
        model: the classifier the maps explain.
        sample: the image's sample (its id seeds the attack noise; its boxes serve the pointing game).
        image: the preprocessed image (3, H, W) in [0, 1].
        targets: the C classes, one per row of every map.
        maps: the maps by name.
        metrics: the metrics to compute per map name (those of :func:`map_metric_names`).
        settings: how the metrics run.
        predicted: the model's class for ``image``, when known (the attack's reference).

    Returns:
        The scores of each map named in ``metrics``.
    """
    settings = settings or ScoringSettings()
    scored = map_metric_names()
    unknown = {m for todo in metrics.values() for m in todo} - set(scored)
    if unknown:
        raise SunyError(
            f"no per-image score for {', '.join(sorted(unknown))}; choose from {', '.join(scored)}"
        )
    classes = torch.as_tensor(list(targets), device=model.device)
    predicted = predicted_class(model, image) if predicted is None else predicted
    context = MapContext(model, sample, image, settings, predicted)
    results = {name: MapScores(maps[name]) for name in metrics}
    for metric in scored:
        names = [name for name, todo in metrics.items() if metric in todo]
        scorer = METRIC_REGISTRY[metric].scorer
        if not names or scorer is None:
            continue
        clock = time.perf_counter()
        stacked = torch.cat([maps[name] for name in names]).to(model.device)
        per_map = scorer(context, stacked, classes.repeat(len(names)))
        seconds = _elapsed(clock, model) / (len(names) * len(classes))
        for index, name in enumerate(names):
            rows = slice(index * len(classes), (index + 1) * len(classes))
            results[name].metrics[metric] = MetricScores(
                {k: v[rows] for k, v in per_map.values.items()},
                {k: v[rows] for k, v in per_map.curves.items()},
                seconds,
            )
    return results


def score_image(
    method: SaliencyMethod,
    sample: Sample,
    metrics: Mapping[str, Sequence[str]],
    settings: ScoringSettings | None = None,
    image: Tensor | None = None,
    targets: Sequence[int] | None = None,
) -> ImageScores:
    """Explain one image with ``method`` for each target class and score its maps.

    Args:
        method: the explanation method; its maps are scored under their names
            (:attr:`~suny.saliency.SaliencyMethod.map_names`).
        sample: the image.
        metrics: the metrics to compute per map name (names the method returns).
        settings: how the metrics run.
        image: the preprocessed image, when already loaded (else read from ``sample.path``).
        targets: the classes to explain (default: the sample's classes, else the prediction).

    Returns:
        The scores; the method runs only when some metric other than ``sanity`` is asked for (the
        sanity check explains by itself).
    """
    model, settings = method.model, settings or ScoringSettings()
    missing = set(metrics) - set(method.map_names)
    if missing:
        raise SunyError(f"{type(method).__name__} returns no map {', '.join(sorted(missing))}")
    image = preprocessed_image(model, sample) if image is None else image
    predicted = predicted_class(model, image)
    targets = list(targets or sample.classes or [predicted])
    images = image.expand(len(targets), -1, -1, -1)
    scores = ImageScores(sample, image, targets, predicted)
    scored = {name: [m for m in todo if m != "sanity"] for name, todo in metrics.items()}
    scored = {name: todo for name, todo in scored.items() if todo}
    if scored:
        clock = time.perf_counter()
        result = method(images, targets)
        scores.explain_seconds = _elapsed(clock, model) / len(targets)
        scores.extras = result.extras
        scores.maps = score_maps(model, sample, image, targets, result.outputs, scored, settings, predicted)
    sanity = [name for name, todo in metrics.items() if "sanity" in todo]
    if sanity:
        for name, (original, metric_scores) in _sanity(method, sanity, images, targets, settings).items():
            scores.maps.setdefault(name, MapScores(original)).metrics["sanity"] = metric_scores
    return scores


# ------------------------------------------------------------------------------------------ parts
@dataclass(frozen=True)
class MapContext:
    """What a metric needs of the image whose maps it scores."""

    model: ImageClassifier
    sample: Sample
    image: Tensor
    settings: ScoringSettings
    predicted: int


#: A metric's scorer: (context, maps (B, H, W) of the image, the class each row explains (B,)) ->
#: per-class values and curves.
MapScorer = Callable[[MapContext, Tensor, Tensor], "MetricScores"]


@dataclass(frozen=True)
class ImageMetric:
    """A metric of the evaluation, by name: its per-class ``scores`` (the first marks the metric as
    done in a results store), whether it ``needs_boxes``, and its ``scorer`` of a map (None for a
    metric that explains by itself, as the sanity check's cascade does)."""

    name: str
    scores: tuple[str, ...]
    scorer: MapScorer | None = None
    needs_boxes: bool = False


def _curve_metric(metric: str) -> MapScorer:
    """Deletion or insertion: the AUC and the curve of each map."""
    make = deletion_curve if metric == "deletion" else insertion_curve

    def score(context: MapContext, maps: Tensor, classes: Tensor) -> MetricScores:
        settings = context.settings
        images = context.image.expand(len(maps), -1, -1, -1)
        curve = make(
            context.model,
            images,
            maps,
            classes,
            settings.step,
            batch_size=settings.batch_size,
            precision=settings.precision,
        )
        return MetricScores({f"{metric}_auc": curve.auc}, {metric: curve.scores})

    return score


def _attack(context: MapContext, maps: Tensor, classes: Tensor) -> MetricScores:
    """The saliency attack through the true map (tau of the settings) and the whole map (tau = 0)."""
    model, settings, image = context.model, context.settings, context.image
    images = image.expand(len(maps), -1, -1, -1)
    noise = attack_noise([context.sample.image_id], tuple(image.shape), settings.seed).expand_as(images)
    original = torch.full((len(maps),), context.predicted, device=model.device)
    values: dict[str, Tensor] = {}
    for suffix, threshold in (("", settings.attack_threshold), ("_literal", 0.0)):
        attack = saliency_attack(
            model, images, maps, noise, settings.batch_size, threshold, settings.precision, original
        )
        values |= {f"attack_flip{suffix}": attack.flips.float(), f"attack_size{suffix}": attack.sizes}
    return MetricScores(values)


def _pointing(context: MapContext, maps: Tensor, classes: Tensor) -> MetricScores:
    """The energy inside each class's boxes (NaN for a class without boxes)."""
    sample, model = context.sample, context.model
    masks = class_masks(sample, original_size(sample.path), model.preprocessing)
    proportions = [
        pointing_proportion(maps[i : i + 1], masks[c][None].to(maps.device))[0]
        if c in masks
        else torch.tensor(math.nan, device=maps.device)
        for i, c in enumerate(classes.tolist())
    ]
    return MetricScores({"pointing": torch.stack(proportions)})


#: Every metric by name, in the order they run (:func:`register_metric` adds one).
METRIC_REGISTRY: dict[str, ImageMetric] = {
    metric.name: metric
    for metric in (
        ImageMetric("deletion", ("deletion_auc",), _curve_metric("deletion")),
        ImageMetric("insertion", ("insertion_auc",), _curve_metric("insertion")),
        ImageMetric(
            "attack", ("attack_flip", "attack_size", "attack_flip_literal", "attack_size_literal"), _attack
        ),
        ImageMetric("pointing", ("pointing",), _pointing, needs_boxes=True),
        ImageMetric("sanity", ("sanity_spearman", "sanity_ssim")),
    )
}


def register_metric(metric: ImageMetric) -> ImageMetric:
    """Make ``metric`` known to :func:`score_maps`, ``suny evaluate``, ``suny bench`` and the
    report (which picks its scores up from the store).

    Args:
        metric: the metric; its name must be new.

    Returns:
        The same metric.
    """
    if metric.name in METRIC_REGISTRY:
        raise SunyError(f"the metric name {metric.name!r} is taken")
    METRIC_REGISTRY[metric.name] = metric
    return metric


def metric_names() -> tuple[str, ...]:
    """Every registered metric's name."""
    return tuple(METRIC_REGISTRY)


def map_metric_names() -> tuple[str, ...]:
    """The metrics that score a map (every one but those that explain by themselves)."""
    return tuple(name for name, metric in METRIC_REGISTRY.items() if metric.scorer is not None)


def metric_scores(metric: str) -> tuple[str, ...]:
    """The per-class scores of ``metric`` (the first marks it as done in a results store)."""
    return METRIC_REGISTRY[metric].scores


def _sanity(
    method: SaliencyMethod,
    names: Sequence[str],
    images: Tensor,
    targets: Sequence[int],
    settings: ScoringSettings,
) -> dict[str, tuple[Tensor, MetricScores]]:
    """The cascading randomisation of the maps ``names`` of ``method``: one cascade, in which the
    maps of all names are compared side by side (stacked along the batch axis, name-major).
    Returns each name's original maps and scores."""

    def stacked(_model: ImageClassifier) -> Callable[[Tensor, Tensor], SaliencyResult]:
        def explain(x: Tensor, classes: Tensor) -> SaliencyResult:
            outputs = method(x, classes).outputs
            return SaliencyResult(torch.cat([outputs[name] for name in names]))

        return explain

    model = method.model
    classes = torch.as_tensor(list(targets), device=model.device)
    clock = time.perf_counter()
    result = cascading_randomisation(
        model, stacked, images, classes, steps=settings.sanity_steps, seed=settings.seed
    )
    seconds = _elapsed(clock, model) / len(targets)  # the shared cascade: what each map costs alone
    scores = {}
    for index, name in enumerate(names):
        part = result.select(slice(index * len(targets), (index + 1) * len(targets)))
        scores[name] = (
            part.original,
            MetricScores(
                {"sanity_spearman": part.spearman[-1], "sanity_ssim": part.ssim[-1]},
                {"sanity_spearman": part.spearman.T, "sanity_ssim": part.ssim.T},
                seconds,
                part,
            ),
        )
    return scores


def _elapsed(start: float, model: ImageClassifier) -> float:
    """Seconds since ``start``, the model's device synchronised first (CUDA work is asynchronous)."""
    if model.device.type == "cuda":
        torch.cuda.synchronize(model.device)
    return time.perf_counter() - start
