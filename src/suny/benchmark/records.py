"""The rows :class:`~suny.benchmark.store.ResultStore` reads back, typed: each value has a name."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class RowKey(NamedTuple):
    """One setting of one method on one dataset and model: a row of the report's tables."""

    dataset: str
    model: str
    method: str
    config: str
    seed: int


class ClassResult(NamedTuple):
    """``metric`` of class ``target`` of one image (``value`` None where the class has none, such as
    the pointing game for a class without boxes), and the seconds it took."""

    key: RowKey
    image_id: str
    target: int
    metric: str
    value: float | None
    seconds: float


class ExplanationTime(NamedTuple):
    """The seconds the explanation of class ``target`` of one image took."""

    key: RowKey
    image_id: str
    target: int
    seconds: float


class ExampleMap(NamedTuple):
    """A stored map (H, W) in [0, 1] of class ``target``, and the seconds its explanation took."""

    target: int
    map: np.ndarray
    seconds: float
