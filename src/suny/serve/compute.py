"""What a job computes: SUNY (feature or filter causes) or a baseline, on one image for one class,
kept in the store as a result.

A result is keyed as ``suny bench`` keys its rows (:meth:`JobRequest.configuration`): the image's
content hash, the model and its weights (a checkpoint by the hash of its content, not its path:
:meth:`~suny.serve.settings.ServeSettings.weights_key`), the layer (none for a method without one),
the method's settings with their defaults resolved, target, seed, precision and the protocol
version, so that a release that changes what a setting computes never serves an older answer under
it.

SUNY reports its progress at every forward pass (:class:`~suny.method.Suny`'s ``on_progress``),
and a cancelled job stops there. The explainer's models also ask :meth:`Progress.check` after each
of their layers while a job runs (:func:`stop_points`), so that a cancel waits for one layer rather
than one batch of interventions (seconds on a busy CPU), and a baseline, which reports no progress,
stops at its next layer too. SUNY's result keeps the feature maps of its top causes only (the
thumbnails of the page), not the whole layer's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from PIL import Image
from torch import Tensor

from suny.benchmark.configuration import PROTOCOL
from suny.errors import OptionError, TargetError
from suny.method.explanation import CauseType, Explanation, json_safe
from suny.method.registered import SunyFeatureMethod, SunyFilterMethod
from suny.models import ImageClassifier
from suny.models.hooks import forward_hooks
from suny.registry import create_method, method_names
from suny.saliency import SaliencyMethod
from suny.serve.cache import ServeStore, StoredResult, npz_bytes, result_key
from suny.serve.models import ModelPool
from suny.serve.settings import ServeSettings
from suny.visualisation import to_rgb_array

#: The page's SUNY methods, by the cause type they explain with.
SUNY_METHODS: dict[str, CauseType] = {"suny-feature": "feature", "suny-filter": "filter"}
#: The registry's name of each of them (whose map is the combined one).
REGISTRY_NAMES = {"suny-feature": "suny", "suny-filter": "suny-filter"}
#: Causes a result lists (and keeps the maps of) per game.
TOP_CAUSES = 5


class Progress(Protocol):
    """What a running job is told, and how it is stopped."""

    def report(self, done: int, total: int | None) -> None:
        """Interventions done of ``total`` planned (None: unknown); raises once the job is cancelled."""

    def check(self) -> None:
        """Raise :class:`~suny.errors.Cancelled` once the job is cancelled."""


@contextmanager
def stop_points(model: ImageClassifier, check: Callable[[], None]) -> Iterator[None]:
    """``check()`` after every layer (module without children) of ``model`` while the block runs."""
    leaves = [module for module in model.modules() if next(module.children(), None) is None]
    with forward_hooks((module, lambda _module, _inputs, _output: check()) for module in leaves):
        yield


def baseline_names() -> list[str]:
    """The registry's baselines (every method that is not SUNY)."""
    return [name for name in method_names() if not name.startswith("suny")]


def method_choices() -> list[str]:
    """Every method a job may name."""
    return [*SUNY_METHODS, *baseline_names()]


def build_method(
    name: str, model: ImageClassifier, layer: str | None, settings: ServeSettings
) -> SaliencyMethod:
    """The method ``name`` (:func:`method_choices`) on ``model`` with the server's settings."""
    options: dict[str, Any] = {"seed": settings.seed, "precision": settings.precision}
    if settings.batch_size is not None:
        options["batch_size"] = settings.batch_size
    if name == "suny-feature":
        options["search"] = settings.search
    if name not in method_choices():
        raise OptionError(f"unknown method {name!r}; choose from {', '.join(method_choices())}")
    return create_method(REGISTRY_NAMES.get(name, name), model, layer=layer, **options)


@dataclass(frozen=True)
class JobRequest:
    """One question, whose answer is one result."""

    image_id: str
    model: str
    weights: str
    #: The layer explained (None for a method without one).
    layer: str | None
    method: str
    target: int
    seed: int
    precision: str
    settings: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def plan(
        cls,
        image_id: str,
        model_name: str,
        method: SaliencyMethod,
        name: str,
        target: int,
        settings: ServeSettings,
    ) -> JobRequest:
        """The request to run ``method`` (built by :func:`build_method` as ``name``) for ``target``."""
        model = method.model
        if not 0 <= target < model.num_classes:
            raise TargetError(
                f"class {target} is out of range: {model_name} has classes 0..{model.num_classes - 1}"
            )
        return cls(
            image_id,
            model_name,
            settings.weights_key(model_name),
            method.layer,
            name,
            target,
            settings.seed,
            method.precision,
            dict(method.settings),
        )

    def configuration(self) -> dict[str, Any]:
        """Everything that decides the result (its key)."""
        return {
            "image": self.image_id,
            "model": self.model,
            "weights": self.weights,
            "layer": self.layer,
            "method": self.method,
            "target": self.target,
            "seed": self.seed,
            "precision": self.precision,
            "settings": json_safe(dict(self.settings)),
            "protocol": PROTOCOL,
        }

    @property
    def result_id(self) -> str:
        return result_key(self.configuration())


class Explainer:
    """Runs job requests with models of its own and keeps their results in ``store``."""

    def __init__(self, settings: ServeSettings, store: ServeStore, concepts: Mapping[int, str]) -> None:
        self.settings = settings
        self.store = store
        self.concepts = concepts
        self.models = ModelPool(settings)

    def run(self, request: JobRequest, picture: Image.Image, progress: Progress) -> str:
        """Compute ``request`` on ``picture``, keep the result and return its id (at once where
        the store has it: a job asked for twice before its first run ended)."""
        if self.store.has_result(request.result_id):
            return request.result_id
        with self.models.using(request.model) as model, stop_points(model, progress.check):
            image = model.preprocess(picture).to(model.device)
            method = build_method(request.method, model, request.layer, self.settings)
            if isinstance(method, SunyFeatureMethod | SunyFilterMethod):
                result = self._suny(request, method, image, progress)
            else:
                result = self._baseline(request, method, image, progress)
        self.store.add_result(result, request.configuration())
        return result.result_id

    def _suny(
        self,
        request: JobRequest,
        method: SunyFeatureMethod | SunyFilterMethod,
        image: Tensor,
        progress: Progress,
    ) -> StoredResult:
        suny = method.explainer
        planned: int | None = None
        suny.on_progress = lambda done: progress.report(done, planned)
        start = time.perf_counter()
        causes = suny.prepare(image)
        planned = suny.planned_interventions(causes.num_causes)
        progress.report(0, planned)
        explanation = suny.explain_class(causes, suny.set_search(causes, start), request.target)
        necessary, sufficient = (
            explanation.top_causes(kind, TOP_CAUSES) for kind in ("necessity", "sufficiency")
        )
        shown = sorted({*necessary, *sufficient})
        arrays = explanation.arrays() | {
            "image": to_rgb_array(image),
            "cause_ids": np.asarray(shown, dtype=np.int64),
            "cause_maps": causes.activations[0, shown].float().cpu().numpy(),
        }
        record = self._record(
            request, explanation.target_name, explanation.probability, explanation.seconds, image
        )
        record |= {
            "kind": "suny",
            "forward_passes": explanation.forward_passes,
            "cause": explanation.cause,
            "necessary": [self._cause_row(explanation, k, "necessity") for k in necessary],
            "sufficient": [self._cause_row(explanation, k, "sufficiency") for k in sufficient],
        }
        return StoredResult(
            request.result_id, request.image_id, record, explanation.summary(), npz_bytes(arrays)
        )

    def _baseline(
        self, request: JobRequest, method: SaliencyMethod, image: Tensor, progress: Progress
    ) -> StoredResult:
        progress.report(0, None)
        start = time.perf_counter()
        heatmap = method(image[None], [request.target]).maps[0].float().cpu().numpy()
        seconds = time.perf_counter() - start
        model = method.model
        probability = float(model.probabilities(image[None])[0, request.target])
        record = self._record(request, model.class_name(request.target), probability, seconds, image)
        record |= {"kind": "heatmap", "forward_passes": None}
        summary = {name: record[name] for name in ("method", "model", "layer", "target", "target_name")}
        summary |= {"probability": probability, "seconds": seconds, "settings": request.configuration()}
        arrays = {"map": heatmap, "image": to_rgb_array(image)}
        return StoredResult(request.result_id, request.image_id, record, summary, npz_bytes(arrays))

    @staticmethod
    def _record(
        request: JobRequest, target_name: str, probability: float, seconds: float, image: Tensor
    ) -> dict[str, Any]:
        """What every result's JSON says."""
        return {
            "result_id": request.result_id,
            "method": request.method,
            "model": request.model,
            "layer": request.layer,
            "target": request.target,
            "target_name": target_name,
            "probability": probability,
            "seconds": seconds,
            "height": int(image.shape[-2]),
            "width": int(image.shape[-1]),
        }

    def _cause_row(self, explanation: Explanation, cause: int, kind: str) -> dict[str, Any]:
        """One cause of a result's top list (``kind``: necessity or sufficiency)."""
        necessity = kind == "necessity"
        values = explanation.necessity if necessity else explanation.sufficiency
        errors = explanation.necessity_stderr if necessity else explanation.sufficiency_stderr
        row: dict[str, Any] = json_safe(
            {
                "cause": cause,
                "responsibility": float(values[cause]),
                "stderr": float(errors[cause]),
                "effect_necessity": float(explanation.necessity_effects[cause]),
                "effect_sufficiency": float(explanation.sufficiency_effects[cause]),
                "concept": self.concepts.get(cause),
            }
        )
        return row
