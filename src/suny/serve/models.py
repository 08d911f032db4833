"""The models a server offers, each loaded on first use and used by one thread at a time."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import torch
from PIL import Image

from suny.errors import ModelError
from suny.models import ImageClassifier
from suny.serve.settings import ServeSettings
from suny.visualisation import top_predictions

#: Top-5 lists kept in memory, by (image, model).
PREDICTIONS_KEPT = 256


class UnknownModelError(ModelError):
    """A model name the server does not offer (a request never makes the server load another)."""


class ModelPool:
    """The offered models by name, loaded once each.

    A model runs one thing at a time (SUNY-filter hooks its layers, and the passes of another
    thread would run through the hooks): :meth:`using` holds the model's lock. The jobs' worker
    keeps a pool of its own, so that a long explanation never holds up the page's questions; models
    are loaded under the seed of the settings, so random weights are the same in both pools (and
    after a restart, which the results in the store rely on).
    """

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self._models: dict[str, ImageClassifier] = {}
        self._locks = {name: threading.Lock() for name in settings.models}
        self._loading = threading.Lock()
        self._predicted: OrderedDict[tuple[str, str], list[dict[str, Any]]] = OrderedDict()

    def check(self, name: str) -> str:
        """``name`` when it is offered, else an :class:`UnknownModelError` listing the offered ones."""
        if name not in self._locks:
            raise UnknownModelError(f"unknown model {name!r}; this server offers {', '.join(self._locks)}")
        return name

    def get(self, name: str) -> ImageClassifier:
        """The model ``name``, loaded (and its layers traced) on first use.

        Only what does not run the model (classes, layers, preprocessing) may be read without
        :meth:`using`.
        """
        self.check(name)
        with self._loading:
            if name not in self._models:
                settings = self.settings
                with torch.random.fork_rng(devices=[]):  # random weights ("none"): the same in every pool
                    torch.manual_seed(settings.seed)
                    model = settings.model_loader(name, settings.weights_of(name), settings.device)
                model.layer_names()  # traces the layers now, under this lock
                self._models[name] = model
            return self._models[name]

    @contextmanager
    def using(self, name: str) -> Iterator[ImageClassifier]:
        """The model ``name``, for this thread alone until the block ends."""
        model = self.get(name)
        with self._locks[name]:
            yield model

    def predictions(
        self, name: str, image_id: str, picture: Callable[[], Image.Image]
    ) -> list[dict[str, Any]]:
        """The top 5 classes ({index, name, probability}) of model ``name`` for the image
        ``image_id``, whose ``picture()`` is read only when they are not known yet."""
        key = (image_id, self.check(name))
        with self._loading:
            if key in self._predicted:
                return self._predicted[key]
        with self.using(name) as model:
            top = [asdict(score) for score in top_predictions(model, model.preprocess(picture()))]
        with self._loading:
            self._predicted[key] = top
            while len(self._predicted) > PREDICTIONS_KEPT:
                self._predicted.popitem(last=False)
        return top
