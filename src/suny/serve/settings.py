"""What ``suny serve`` serves: the models it offers, the images and stores it reads, its limits."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from suny.engine import Precision
from suny.method.suny import Search
from suny.models import DEFAULT_MODEL, ImageClassifier, load_model
from suny.models.zoo import LITE_MODELS, NAMED_WEIGHTS

#: Bytes of a checkpoint hashed at a time.
HASH_CHUNK = 2**20

#: Builds a model from its name, weights and device (``load_model`` unless a program serves its own).
ModelLoader = Callable[[str, str, str], ImageClassifier]


def load_named_model(name: str, weights: str, device: str) -> ImageClassifier:
    """:func:`~suny.models.load_model` by name, weights and device."""
    return load_model(name, weights, device=device)


@dataclass(frozen=True)
class ServeSettings:
    """The server's settings (``suny serve``'s options).

    ``model`` (with ``weights``) is offered first and opened first, then ``extra_models`` (the
    EfficientNet-Lite models, whose weights ship with suny) with their default weights. ``folder``:
    images everyone can pick, beside the sample photo. ``store``: the SQLite file of uploads and
    results (a second look at a result, also after a restart, is read from it). ``bench_store``: a
    ``suny bench`` store whose report is served under ``/store/``. Uploads are refused over
    ``upload_limit_bytes`` and over ``max_pixels`` pixels. ``search``, ``precision``, ``seed`` and
    ``batch_size`` are those of every explanation. Results are keyed by :meth:`weights_key`.
    """

    model: str = DEFAULT_MODEL
    weights: str = "default"
    extra_models: tuple[str, ...] = tuple(LITE_MODELS)
    folder: Path | None = None
    store: Path = Path("runs/serve.sqlite")
    bench_store: Path | None = None
    concepts: Path | None = None
    upload_limit_bytes: int = 20 * 2**20
    max_pixels: int = 40_000_000
    device: str = "cpu"
    seed: int = 0
    precision: Precision = "float32"
    search: Search = "exhaustive"
    batch_size: int | None = None
    model_loader: ModelLoader = field(default=load_named_model, compare=False)

    @property
    def models(self) -> list[str]:
        """The model names offered, the default first."""
        return list(dict.fromkeys([self.model, *self.extra_models]))

    def weights_of(self, model: str) -> str:
        """The weights ``model`` is served with."""
        return self.weights if model == self.model else "default"

    def weights_key(self, model: str) -> str:
        """What the results of ``model`` are keyed by for its weights: their name (``default``,
        ``none``), or for a checkpoint file the SHA-256 of its bytes (:attr:`checkpoint_hash`)."""
        weights = self.weights_of(model)
        return weights if weights in NAMED_WEIGHTS else self.checkpoint_hash

    @cached_property
    def checkpoint_hash(self) -> str:
        """``sha256:`` and the hex digest of the ``weights`` file, read once (when the server
        starts, as it loads that checkpoint): an edited checkpoint gets new results after a restart,
        and a moved or renamed one keeps its own."""
        digest = hashlib.sha256()
        with Path(self.weights).open("rb") as file:
            while chunk := file.read(HASH_CHUNK):
                digest.update(chunk)
        return f"sha256:{digest.hexdigest()}"
