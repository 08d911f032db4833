"""The grid runner: every (image, model, method) of a dataset through the requested metrics, each
result stored as soon as it exists.

Per image (this process's shard) and model, the store is asked first which (method, metric, class)
results it already holds for this configuration; only the missing ones are computed, so a run that
was killed continues where it stopped and computes nothing twice. Each image is scored by
:func:`~suny.evaluation.scoring.score_image`; methods whose maps come from one call of one
implementation (SUNY-feature's ``suny``, ``suny-n``, ``suny-s``) share that call when their options
agree.

Sharding: the process of rank r of w takes the images whose index (in dataset order) is r modulo
w; ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` come from the environment (``torchrun`` sets them),
and each process uses ``cuda:LOCAL_RANK`` when CUDA is there. Maps do not depend on the shard or
the order (every method reseeds per call), so the union of the shards equals a one-process run.
"""

from __future__ import annotations

import math
import os
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from tqdm.auto import tqdm

from suny.benchmark.configuration import (
    GridOptions,
    ModelEntry,
    Registration,
    file_same_results,
    model_facts,
    register,
)
from suny.benchmark.records import ExplanationKey, Score, png_bytes
from suny.benchmark.store import ResultStore
from suny.data.images import load_image
from suny.data.sample import Sample
from suny.engine import compiled_passes
from suny.engine.hardware import describe_device
from suny.errors import SunyError
from suny.evaluation.scoring import (
    METRIC_REGISTRY,
    ImageScores,
    MetricScores,
    ScoringSettings,
    metric_scores,
    predicted_class,
    preprocessed_image,
    score_image,
)
from suny.registry import create_method, method_class, shares_explanation
from suny.saliency import SaliencyMethod


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


def method_groups(methods: Sequence[str], options: GridOptions) -> list[list[str]]:
    """The methods in groups whose maps come from one call: the same implementation
    (:func:`~suny.registry.shares_explanation`) with the same options."""
    groups: list[list[str]] = []
    for name in methods:
        mine = options.method_options.get(name, {})
        group = next(
            (
                g
                for g in groups
                if shares_explanation(g[0], name) and options.method_options.get(g[0], {}) == mine
            ),
            None,
        )
        if group is None:
            groups.append([name])
        else:
            group.append(name)
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
        boxed = [m for m in options.metrics if METRIC_REGISTRY[m].needs_boxes]
        if boxed and not any(sample.boxes for sample in samples):
            raise SunyError(f"the {', '.join(boxed)} metric needs boxes, and {dataset} has none")
        self.store, self.dataset, self.samples = store, dataset, samples
        self.models, self.options, self.shard, self.progress = models, options, shard, progress
        self.methods = list(dict.fromkeys(methods))
        self.groups = method_groups(self.methods, options)
        self.configs: dict[tuple[str, str], str] = {}
        self.registrations: list[Registration] = []
        self.built: dict[tuple[str, str], SaliencyMethod] = {}
        self.settings = ScoringSettings(
            options.step,
            options.batch_size,
            options.seed,
            options.sanity_steps,
            options.attack_threshold,
            options.precision,
        )
        self.min_side = max(entry.model.preprocessing.resize for entry in models)
        for entry in models:
            facts = model_facts(entry.model, options.sanity_steps)
            for group in self.groups:
                defaults: dict[str, Any] = {"seed": options.seed, "precision": options.precision}
                if options.layer is not None and method_class(group[0]).uses_layer:
                    defaults["layer"] = options.layer
                method_options = defaults | dict(options.method_options.get(group[0], {}))
                built = create_method(group[0], entry.model, **method_options)
                self.built[entry.label, group[0]] = built
                for method in group:
                    registration = register(store, entry, method, options, facts, built)
                    self.registrations.append(registration)
                    self.configs[entry.label, method] = registration.config

    def file_same_results(self) -> int:
        """The explicit step that files under this grid's configurations the stored rows of
        configurations that give the same results (:func:`~suny.benchmark.configuration.same_results`:
        an older release recorded a setting that does not decide the map), so that :meth:`run` skips
        them; logged. Returns the number of results moved."""
        return file_same_results(self.store, self.registrations)

    def run(self, command: Sequence[str] = ()) -> RunTotals:
        """Every image of the shard; returns the totals (also written to the ``runs`` table, even when
        the run is interrupted)."""
        totals = RunTotals(rss_start_mib=resident_mib())
        devices = "; ".join(sorted({describe_device(entry.model.device) for entry in self.models}))
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
        completed = False
        try:
            for index, sample in bar:
                try:
                    with compiled_passes(self.options.compile):
                        computed = self._image(index, sample, run)
                except SunyError as err:  # an unreadable image: report it, keep going, retry next run
                    tqdm.write(f"suny bench: {sample.image_id}: {err}", file=sys.stderr)
                    totals.failed += 1
                    continue
                totals.images += 1
                totals.computed += computed
                totals.skipped += computed == 0
                bar.set_postfix(new=totals.computed, skipped=totals.skipped, rss=f"{resident_mib():.0f}M")
            completed = True
        finally:  # an interrupted run (Ctrl-C, SIGTERM) still records what it did
            bar.close()
            totals.seconds = time.perf_counter() - start
            totals.rss_end_mib = resident_mib()
            self.store.finish_run(
                run, totals.images, totals.computed, totals.skipped, totals.rss_end_mib, completed
            )
        return totals

    # -------------------------------------------------------------------------------- one image
    def _image(self, index: int, sample: Sample, run: int) -> int:
        """Compute what the store lacks for one image; returns the number of maps computed."""
        metrics = self.options.metrics_for(index)
        picture: Image.Image | None = None
        computed = 0
        for entry in self.models:
            model = entry.model
            targets = list(sample.classes)
            image: Tensor | None = None
            if not targets:  # unlabelled: the predicted class, which needs the image
                picture = picture or load_image(sample.path, min_side=self.min_side)
                image = preprocessed_image(model, sample, picture)
                targets = [predicted_class(model, image)]
            stored = self.store.stored_metrics(self.dataset, sample.image_id, entry.label, self.options.seed)
            pending = {
                method: todo
                for method in self.methods
                if (
                    todo := self._pending(stored, method, self.configs[entry.label, method], metrics, targets)
                )
            }
            if not pending:
                continue
            picture = picture or load_image(sample.path, min_side=self.min_side)
            image = preprocessed_image(model, sample, picture) if image is None else image
            if index < self.options.examples:
                rgb = (image.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
                self.store.add_image(self.dataset, sample.image_id, entry.label, png_bytes(rgb))
            for group in self.groups:
                asked = {name: pending[name] for name in group if name in pending}
                if asked:
                    method = self.built[entry.label, group[0]]
                    scores = score_image(method, sample, asked, self.settings, image, targets)
                    self._store(entry, scores, asked, index < self.options.examples, run)
                    computed += len(asked)
        return computed

    @staticmethod
    def _pending(
        stored: set[tuple[str, str, str, int]],
        method: str,
        config: str,
        metrics: Sequence[str],
        targets: Sequence[int],
    ) -> list[str]:
        """The metrics of ``method`` whose marker score is missing for some class."""
        return [
            m for m in metrics if any((method, config, metric_scores(m)[0], c) not in stored for c in targets)
        ]

    def _store(
        self, entry: ModelEntry, scores: ImageScores, todo: dict[str, list[str]], example: bool, run: int
    ) -> None:
        """Write the scores of ``todo`` (and, for a map scored on anything but the sanity check, the
        explanation's seconds and, for the first images, the map itself)."""
        seed = self.options.seed
        for name, metrics in todo.items():
            key = ExplanationKey(
                self.dataset, scores.sample.image_id, entry.label, name, seed, self.configs[entry.label, name]
            )
            entry_scores = scores.maps[name]
            if any(metric != "sanity" for metric in metrics):
                for i, target in enumerate(scores.targets):
                    picture = png_bytes(entry_scores.maps[i].cpu().numpy()) if example else None
                    self.store.add_explanation(key, target, scores.explain_seconds, picture, run)
            for metric in metrics:
                self.store.add_scores(
                    key, metric_rows(metric, entry_scores.metrics[metric], scores.targets), run
                )


def metric_rows(metric: str, scores: MetricScores, targets: Sequence[int]) -> list[Score]:
    """The store's rows of one metric: one per class and score (NaN stored as null); the marker
    score (:func:`~suny.evaluation.scoring.metric_scores`) carries the seconds and the curves."""
    marker = metric_scores(metric)[0]
    rows = []
    for i, target in enumerate(targets):
        for name, values in scores.values.items():
            value = float(values[i])
            is_marker = name == marker
            curves = {k: v[i].detach().cpu().numpy() for k, v in scores.curves.items()} if is_marker else None
            seconds = scores.seconds if is_marker else 0.0
            rows.append(Score(target, name, None if math.isnan(value) else value, seconds, curves))
    return rows
