"""What a stored result's configuration is: the grid's options, the models under their labels, the
hash of everything that can change a value, and which stored configurations hold the same results.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suny.benchmark.store import ResultStore
from suny.engine import Precision
from suny.errors import SunyError
from suny.evaluation.scoring import metric_names
from suny.metrics.attack import NOISE_VARIANCE, THRESHOLD
from suny.metrics.deletion_insertion import DEFAULT_STEP
from suny.metrics.sanity import merge_groups, randomisation_groups
from suny.models.wrapper import ImageClassifier
from suny.saliency import SaliencyMethod

logger = logging.getLogger(__name__)

#: The version of what the code computes for given settings: bumped when a change of the code
#: changes stored values (2: pruning removes the BatchNorm channel, the attack's true map, the
#: forward engine), so that results of different versions never mix under one configuration.
PROTOCOL = 2


@dataclass(frozen=True)
class GridOptions:
    """What to compute and how. ``sanity_images``: only the first N images of the dataset get the
    (expensive) sanity check; ``examples``: the first N images keep their maps for the gallery;
    ``batch_size``: of the metrics' forward passes; ``precision``: of every batched pass;
    ``attack_threshold``: tau of the attack's true map; ``compile``: compile the model's passes
    (:func:`~suny.engine.compiled_passes`; like the batch size, not part of a configuration);
    ``method_options``: method -> options (a method's ``batch_size`` among them is not part of its
    configuration); ``layer``: the layer of every method that explains through one (None: each
    model's default layer; methods without a layer, such as RISE, keep their configuration, so one
    row of theirs serves the runs at every layer)."""

    metrics: tuple[str, ...] = ("deletion", "insertion", "attack", "pointing")
    seed: int = 0
    step: int = DEFAULT_STEP
    batch_size: int = 64
    precision: Precision = "float32"
    attack_threshold: float = THRESHOLD
    compile: bool = False
    sanity_steps: int | None = 5
    sanity_images: int | None = None
    examples: int = 4
    method_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    layer: str | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.metrics) - set(metric_names()))
        if unknown or not self.metrics:
            raise SunyError(f"unknown metrics {unknown or '(none)'}; choose from {', '.join(metric_names())}")

    def metrics_for(self, index: int) -> tuple[str, ...]:
        """The metrics of the image at dataset position ``index``."""
        if self.sanity_images is None or index < self.sanity_images:
            return self.metrics
        return tuple(m for m in self.metrics if m != "sanity")


@dataclass
class ModelEntry:
    """A loaded model under its label (the name, with ``@weights`` when not the default weights)."""

    label: str
    model: ImageClassifier
    weights: str = "default"


def model_label(name: str, weights: str) -> str:
    return name if weights == "default" else f"{name}@{Path(weights).stem}"


def configuration(
    entry: ModelEntry,
    method: str,
    options: GridOptions,
    derived: Mapping[str, Any],
    method_settings: Mapping[str, Any],
    layer: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """(hash, settings) of ``method`` on ``entry``: a change of anything that can change a value
    (weights, layer, method options, curve step, sanity steps) gives another configuration.
    ``layer``: the one the method explains through (None, and for a method without one: the model's
    default layer, which every configuration recorded before layers could be chosen holds).
    ``method_settings``: the built method's settings that decide this map
    (:meth:`~suny.saliency.SaliencyMethod.settings_of`), its options with the defaults resolved, so
    a release that changes a default does not reuse the rows of the old one; ``method_options``,
    what the caller set, names the row in the report.
    ``derived``: settings that follow from those (:func:`model_facts`), stored but not hashed."""
    method_options = {k: v for k, v in options.method_options.get(method, {}).items() if k != "batch_size"}
    hashed = {
        "model": entry.label,
        "weights": entry.weights,
        "layer": layer or entry.model.default_layer,
        "method": method,
        "method_options": method_options,
        "method_settings": dict(method_settings),
        "step": options.step,
        "attack_variance": NOISE_VARIANCE,
        "attack_threshold": options.attack_threshold,
        "precision": options.precision,
        "sanity_steps": options.sanity_steps,
        "protocol": PROTOCOL,
    }
    digest = hashlib.sha256(json.dumps(hashed, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return digest, hashed | dict(derived)


def same_results(
    stored: Mapping[str, Mapping[str, Any]], config: str, settings: Mapping[str, Any]
) -> list[str]:
    """The stored configurations whose results are ``config``'s: the same settings, but for method
    settings that ``config`` lacks (those that do not decide its map,
    :meth:`~suny.saliency.SaliencyMethod.settings_of`, as SUNY's combination for ``suny-n``), with
    the rest of the method settings equal. A setting dropped for any other reason is a change of the
    code and comes with a new :data:`PROTOCOL`, which no older configuration shares."""
    own = json.loads(json.dumps(settings, sort_keys=True))  # as the store keeps them
    own_method = own.pop("method_settings")
    same = []
    for other, other_settings in stored.items():
        theirs = dict(other_settings)
        their_method = theirs.pop("method_settings", None)
        if (
            other != config
            and their_method is not None
            and theirs == own
            and len(their_method) > len(own_method)
            and all(
                name in their_method and their_method[name] == value for name, value in own_method.items()
            )
        ):
            same.append(other)
    return sorted(same)


def model_facts(model: ImageClassifier, sanity_steps: int | None) -> dict[str, Any]:
    """What the report needs to know of a model: pixels per image, its default layer (rows at
    another layer are labelled with theirs), the sanity cascade's steps."""
    cascade = merge_groups(randomisation_groups(model), sanity_steps)
    return {
        "pixels": model.preprocessing.crop**2,
        "default_layer": model.default_layer,
        "sanity_layers": [group[0] if len(group) == 1 else f"{group[0]}..{group[-1]}" for group in cascade],
    }


@dataclass(frozen=True)
class Registration:
    """A configuration of the grid, and the stored ones whose rows are its results."""

    config: str
    model: str
    method: str
    same: tuple[str, ...] = ()


def register(
    store: ResultStore,
    entry: ModelEntry,
    method: str,
    options: GridOptions,
    facts: Mapping[str, Any],
    built: SaliencyMethod,
) -> Registration:
    """Record the configuration of the map ``method`` of ``built`` on ``entry`` (``facts``:
    :func:`model_facts`); returns its hash and the stored configurations with :func:`same_results`
    (their rows are moved under it only by :func:`file_same_results`, an explicit step)."""
    config, settings = configuration(entry, method, options, facts, built.settings_of(method), built.layer)
    store.add_config(config, entry.label, method, settings)
    return Registration(config, entry.label, method, tuple(same_results(store.settings(), config, settings)))


def file_same_results(store: ResultStore, registrations: Iterable[Registration]) -> int:
    """Move the rows of each registration's :func:`same_results` configurations under its own hash
    (:meth:`~suny.benchmark.store.ResultStore.move_rows`: a row it has already is dropped from the
    old one), logging each move; returns the number of results moved."""
    total = 0
    for registration in registrations:
        for old in registration.same:
            moved, dropped = store.move_rows(old, registration.config)
            total += moved
            logger.info(
                "%d stored results of %s on %s (configuration %s) moved to %s, %d already there dropped: "
                "they differ only in settings that do not decide this map",
                moved,
                registration.method,
                registration.model,
                old,
                registration.config,
                dropped,
            )
    return total
