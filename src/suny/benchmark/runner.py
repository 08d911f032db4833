"""The grid runner: every (image, model, method) of a dataset through the requested metrics, each
result stored as soon as it exists.

Per image (this process's shard) and model, the store is asked first which (method, metric, class)
results it already holds for this configuration; only the missing ones are computed, so a run that
was killed continues where it stopped and computes nothing twice. SUNY-feature's three maps
(``suny``, ``suny-n``, ``suny-s``) come from one explanation when their options agree.

Sharding: the process of rank r of w takes the images whose index (in dataset order) is r modulo
w; ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` come from the environment (``torchrun`` sets them),
and each process uses ``cuda:LOCAL_RANK`` when CUDA is there. Maps do not depend on the shard or
the order (every method reseeds per call), so the union of the shards equals a one-process run.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from tqdm.auto import tqdm

from suny.benchmark.store import ExplanationKey, ResultStore, Score, png_bytes
from suny.data.datasets import Sample
from suny.data.images import load_image
from suny.errors import SunyError
from suny.metrics.attack import NOISE_VARIANCE
from suny.metrics.deletion_insertion import DEFAULT_STEP
from suny.metrics.evaluation import METRICS, score_metric
from suny.metrics.sanity import cascading_randomisation, merge_groups, randomisation_groups
from suny.models.wrapper import ImageClassifier
from suny.saliency import SaliencyMethod, SaliencyResult, create_method

#: The result whose presence marks a metric as done for one class.
MARKERS = {
    "deletion": "deletion_auc",
    "insertion": "insertion_auc",
    "attack": "attack_flip",
    "pointing": "pointing",
    "sanity": "sanity_spearman",
}
#: SUNY-feature's variants share one explanation: method -> the Explanation's map.
SUNY_FEATURE_MAPS = {"suny": "combined_map", "suny-n": "necessity_map", "suny-s": "sufficiency_map"}


@dataclass(frozen=True)
class Shard:
    """This process's part of the images: those with ``index % world_size == rank``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_environment(cls) -> Shard:
        """From ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (as ``torchrun`` sets them); one shard if unset."""
        try:
            rank, world, local = (
                int(os.environ.get(k, d)) for k, d in (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", 0))
            )
        except ValueError as err:
            raise SunyError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers ({err})") from err
        if not 0 <= rank < world:
            raise SunyError(f"RANK={rank} is not in 0..WORLD_SIZE-1 (WORLD_SIZE={world})")
        return cls(rank, world, local)

    def device(self) -> torch.device:
        """``cuda:LOCAL_RANK`` when CUDA is available, else the CPU."""
        return torch.device(f"cuda:{self.local_rank}" if torch.cuda.is_available() else "cpu")

    def take(self, samples: Sequence[Sample]) -> list[tuple[int, Sample]]:
        """(dataset index, sample) of this shard's images."""
        return [(i, s) for i, s in enumerate(samples) if i % self.world_size == self.rank]


@dataclass(frozen=True)
class GridOptions:
    """What to compute and how. ``sanity_images``: only the first N images of the dataset get the
    (expensive) sanity check; ``examples``: the first N images keep their maps for the gallery;
    ``batch_size``: of the metrics' forward passes; ``method_options``: method -> options (a
    method's ``batch_size`` among them is not part of its configuration)."""

    metrics: tuple[str, ...] = ("deletion", "insertion", "attack", "pointing")
    seed: int = 0
    step: int = DEFAULT_STEP
    batch_size: int = 64
    sanity_steps: int | None = 5
    sanity_images: int | None = None
    examples: int = 4
    method_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.metrics) - set(METRICS))
        if unknown or not self.metrics:
            raise SunyError(f"unknown metrics {unknown or '(none)'}; choose from {', '.join(METRICS)}")

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
    entry: ModelEntry, method: str, options: GridOptions, derived: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """(hash, settings) of ``method`` on ``entry``: a change of anything that can change a value
    (weights, layer, method options, curve step, sanity steps) gives another configuration.
    ``derived``: settings that follow from those (:func:`model_facts`), stored but not hashed."""
    method_options = {k: v for k, v in options.method_options.get(method, {}).items() if k != "batch_size"}
    hashed = {
        "model": entry.label,
        "weights": entry.weights,
        "layer": entry.model.default_layer,
        "method": method,
        "method_options": method_options,
        "step": options.step,
        "attack_variance": NOISE_VARIANCE,
        "sanity_steps": options.sanity_steps,
    }
    digest = hashlib.sha256(json.dumps(hashed, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return digest, hashed | dict(derived)


def model_facts(model: ImageClassifier, sanity_steps: int | None) -> dict[str, Any]:
    """What the report needs to know of a model: pixels per image, the sanity cascade's steps."""
    cascade = merge_groups(randomisation_groups(model), sanity_steps)
    return {
        "pixels": model.preprocessing.crop**2,
        "sanity_layers": [group[0] if len(group) == 1 else f"{group[0]}..{group[-1]}" for group in cascade],
    }


class MapGroup:
    """Methods whose maps come from one call of ``base`` (SUNY-feature's variants; any other
    method alone)."""

    def __init__(self, names: Sequence[str], options: Mapping[str, Any], seed: int) -> None:
        self.names = tuple(names)
        self.base = self.names[0]
        self.options = {"seed": seed, **options}

    def build(self, model: ImageClassifier) -> SaliencyMethod:
        return create_method(self.base, model, **self.options)

    def maps(self, result: SaliencyResult) -> dict[str, Tensor]:
        """Method name -> its (B, H, W) maps in ``result``."""
        return {
            name: result.maps
            if name == self.base
            else torch.stack([getattr(e, SUNY_FEATURE_MAPS[name]) for e in result.extras]).float().clamp(0, 1)
            for name in self.names
        }

    def stacked_factory(
        self, names: Sequence[str]
    ) -> Callable[[ImageClassifier], Callable[[Tensor, Tensor], SaliencyResult]]:
        """A method factory for :func:`cascading_randomisation` whose maps are those of ``names``
        stacked along the batch axis (name-major), so one cascade serves every variant."""

        def build(model: ImageClassifier) -> Callable[[Tensor, Tensor], SaliencyResult]:
            method = self.build(model)

            def explain(images: Tensor, targets: Tensor) -> SaliencyResult:
                maps = self.maps(method(images, targets))
                return SaliencyResult(torch.cat([maps[name] for name in names]))

            return explain

        return build


def map_groups(methods: Sequence[str], options: GridOptions) -> list[MapGroup]:
    """One group per method, except SUNY-feature's variants with equal options: one group."""
    groups: list[MapGroup] = []
    shared: dict[str, list[str]] = {}
    for name in methods:
        method_options = dict(options.method_options.get(name, {}))
        if name in SUNY_FEATURE_MAPS:
            shared.setdefault(json.dumps(method_options, sort_keys=True, default=str), []).append(name)
        else:
            groups.append(MapGroup([name], method_options, options.seed))
    for key, names in shared.items():
        groups.insert(0, MapGroup(names, json.loads(key), options.seed))
    return groups


def resident_mib() -> float:
    """This process's resident memory in MiB (peak resident memory where /proc is missing)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (2**20 if sys.platform == "darwin" else 2**10)


class Timer:
    """Seconds since creation, the device synchronised first (CUDA work is asynchronous)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.restart()

    def restart(self) -> None:
        self._sync()
        self.start = time.perf_counter()

    def seconds(self) -> float:
        self._sync()
        return time.perf_counter() - self.start

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


@dataclass
class RunTotals:
    """What one process did: images of its shard, explanations computed, images skipped (all
    done already) or failed (unreadable), and its resident memory at the start and the end."""

    images: int = 0
    computed: int = 0
    skipped: int = 0
    failed: int = 0
    rss_start_mib: float = 0.0
    rss_end_mib: float = 0.0
    seconds: float = 0.0


class GridRunner:
    """Runs ``methods`` x ``models`` over ``samples`` (this shard's part) into ``store``."""

    def __init__(
        self,
        store: ResultStore,
        dataset: str,
        samples: Sequence[Sample],
        models: Sequence[ModelEntry],
        methods: Sequence[str],
        options: GridOptions,
        shard: Shard = Shard(),
        progress: bool | None = None,
    ) -> None:
        if "pointing" in options.metrics and not any(sample.boxes for sample in samples):
            raise SunyError(f"the pointing game needs boxes, and {dataset} has none")
        self.store, self.dataset, self.samples = store, dataset, samples
        self.models, self.options, self.shard, self.progress = models, options, shard, progress
        self.methods = list(dict.fromkeys(methods))
        self.groups = map_groups(self.methods, options)
        self.configs: dict[tuple[str, str], str] = {}
        self.built: dict[tuple[str, str], SaliencyMethod] = {}
        self.min_side = max(entry.model.preprocessing.resize for entry in models)
        for entry in models:
            facts = model_facts(entry.model, options.sanity_steps)
            for method in self.methods:
                config, settings = configuration(entry, method, options, facts)
                store.add_config(config, entry.label, method, settings)
                self.configs[entry.label, method] = config
            for group in self.groups:
                self.built[entry.label, group.base] = group.build(entry.model)

    def run(self, command: Sequence[str] = ()) -> RunTotals:
        """Every image of the shard; returns the totals (also written to the ``runs`` table)."""
        totals = RunTotals(rss_start_mib=resident_mib())
        devices = ",".join(sorted({str(entry.model.device) for entry in self.models}))
        run = self.store.start_run(
            socket.gethostname(),
            self.shard.rank,
            self.shard.world_size,
            devices,
            command,
            totals.rss_start_mib,
        )
        shard = self.shard.take(self.samples)
        label = (
            f"bench rank {self.shard.rank}/{self.shard.world_size}" if self.shard.world_size > 1 else "bench"
        )
        start = time.perf_counter()
        bar = tqdm(
            shard,
            desc=label,
            unit="image",
            position=self.shard.local_rank,
            disable=None if self.progress is None else not self.progress,
        )
        for index, sample in bar:
            try:
                computed = self._image(index, sample, run)
            except SunyError as err:  # an unreadable image: report it, keep going, retry next run
                tqdm.write(f"suny bench: {sample.image_id}: {err}", file=sys.stderr)
                totals.failed += 1
                continue
            totals.images += 1
            totals.computed += computed
            totals.skipped += computed == 0
            bar.set_postfix(new=totals.computed, skipped=totals.skipped, rss=f"{resident_mib():.0f}M")
        bar.close()
        totals.seconds = time.perf_counter() - start
        totals.rss_end_mib = resident_mib()
        self.store.finish_run(run, totals.images, totals.computed, totals.skipped, totals.rss_end_mib)
        return totals

    # -------------------------------------------------------------------------------- one image
    def _image(self, index: int, sample: Sample, run: int) -> int:
        """Compute what the store lacks for one image; returns the number of explanations run."""
        metrics = self.options.metrics_for(index)
        picture: Image.Image | None = None
        computed = 0
        for entry in self.models:
            model = entry.model
            targets = list(sample.classes)
            image: Tensor | None = None
            if not targets:  # unlabelled: the predicted class, which needs the image
                picture = load_image(sample.path, min_side=self.min_side) if picture is None else picture
                image = model.preprocess(picture).to(model.device)
                targets = [int(model.probabilities(image[None]).argmax())]
            stored = self.store.stored_metrics(self.dataset, sample.image_id, entry.label, self.options.seed)
            pending = {
                method: [
                    m
                    for m in metrics
                    if any(
                        (method, self.configs[entry.label, method], MARKERS[m], c) not in stored
                        for c in targets
                    )
                ]
                for method in self.methods
            }
            pending = {method: todo for method, todo in pending.items() if todo}
            if not pending:
                continue
            picture = load_image(sample.path, min_side=self.min_side) if picture is None else picture
            if image is None:
                image = model.preprocess(picture).to(model.device)
            if index < self.options.examples:
                rgb = (image.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
                self.store.add_image(self.dataset, sample.image_id, entry.label, png_bytes(rgb))
            for group in self.groups:
                names = [name for name in group.names if name in pending]
                if names:
                    self._group(entry, group, names, pending, index, sample, image, targets, run)
                    computed += len(names)
        return computed

    def _group(
        self,
        entry: ModelEntry,
        group: MapGroup,
        names: list[str],
        pending: dict[str, list[str]],
        index: int,
        sample: Sample,
        image: Tensor,
        targets: list[int],
        run: int,
    ) -> None:
        """Explain once for ``group``, then score and store each of its pending ``names`` (the sanity
        check explains again by itself: a name with only the sanity check pending needs no maps)."""
        model, seed = entry.model, self.options.seed
        images = image.expand(len(targets), -1, -1, -1)
        classes = torch.tensor(targets, device=model.device)
        keys = {
            name: ExplanationKey(
                self.dataset, sample.image_id, entry.label, name, seed, self.configs[entry.label, name]
            )
            for name in names
        }
        scored = [name for name in names if any(metric != "sanity" for metric in pending[name])]
        if scored:
            timer = Timer(model.device)
            maps = group.maps(self.built[entry.label, group.base](images, classes))
            seconds = timer.seconds() / len(targets)
        for name in scored:
            for i, target in enumerate(targets):
                example = png_bytes(maps[name][i].cpu().numpy()) if index < self.options.examples else None
                self.store.add_explanation(keys[name], target, seconds, example, run)
            for metric in pending[name]:
                if metric != "sanity":
                    scores = self._score(metric, model, sample, images, maps[name], classes)
                    self.store.add_scores(keys[name], scores, run)
        sanity = [name for name in names if "sanity" in pending[name]]
        if sanity:
            for name, scores in self._sanity(group, sanity, model, images, classes).items():
                self.store.add_scores(keys[name], scores, run)

    def _score(
        self,
        metric: str,
        model: ImageClassifier,
        sample: Sample,
        images: Tensor,
        maps: Tensor,
        classes: Tensor,
    ) -> list[Score]:
        """The scores of one metric for every target class of one image (NaN stored as null)."""
        timer = Timer(model.device)
        rows = score_metric(
            metric,
            model,
            sample,
            images,
            maps,
            classes,
            self.options.step,
            self.options.batch_size,
            self.options.seed,
        )
        seconds = timer.seconds() / len(classes)
        marker, curves = MARKERS[metric], rows.pop(f"{metric}_curve", None)
        scores = []
        for i, c in enumerate(classes.tolist()):
            for name, values in rows.items():
                value = float(values[i])
                scores.append(
                    Score(
                        c,
                        name,
                        None if math.isnan(value) else value,
                        seconds if name == marker else 0.0,
                        {metric: curves[i].cpu().numpy()} if curves is not None and name == marker else None,
                    )
                )
        return scores

    def _sanity(
        self, group: MapGroup, names: list[str], model: ImageClassifier, images: Tensor, classes: Tensor
    ) -> dict[str, list[Score]]:
        """The cascading randomisation of ``names`` (one cascade for the whole group)."""
        timer = Timer(model.device)
        result = cascading_randomisation(
            model,
            group.stacked_factory(names),
            images,
            classes,
            steps=self.options.sanity_steps,
            seed=self.options.seed,
        )
        targets = classes.tolist()
        seconds = timer.seconds() / len(targets)  # the shared cascade: what each variant costs alone
        scores: dict[str, list[Score]] = {}
        for v, name in enumerate(names):
            scores[name] = []
            for i, c in enumerate(targets):
                column = v * len(targets) + i
                for metric, values in (("sanity_spearman", result.spearman), ("sanity_ssim", result.ssim)):
                    steps = values[:, column].cpu().numpy()
                    last = float(steps[-1])
                    value = None if math.isnan(last) else last
                    scores[name].append(
                        Score(
                            c, metric, value, seconds if metric == "sanity_spearman" else 0.0, {metric: steps}
                        )
                    )
        return scores
