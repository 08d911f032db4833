"""What :class:`~suny.benchmark.store.ResultStore` holds, typed: the keys and rows it writes and reads
back (each value has a name), and how maps and curves are encoded in it."""

from __future__ import annotations

import io
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class ExplanationKey:
    """What identifies the maps of one (image, model, method) cell; ``classes`` are its targets."""

    dataset: str
    image_id: str
    model: str
    method: str
    seed: int
    config: str

    def columns(self) -> dict[str, Any]:
        """The key by the store's column names (the class comes with each row)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


@dataclass
class Score:
    """One metric value of one class, and the curves that go with it (name -> points)."""

    target: int
    metric: str
    value: float | None
    seconds: float
    curves: dict[str, np.ndarray] | None = None


def png_bytes(array: np.ndarray) -> bytes:
    """An (H, W) map in [0, 1] or an (H, W, 3) uint8 picture as PNG bytes (maps to 8 bits)."""
    if array.dtype != np.uint8:
        array = np.round(np.clip(array, 0.0, 1.0) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def from_png(data: bytes) -> np.ndarray:
    """The array :func:`png_bytes` stored (maps come back as float in [0, 1])."""
    array = np.asarray(Image.open(io.BytesIO(data)))
    return array.astype(np.float32) / 255 if array.ndim == 2 else array


def curve_points(blob: bytes) -> np.ndarray:
    """The float32 points of a stored curve."""
    return np.frombuffer(blob, dtype=np.float32)


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
