"""What a dataset is made of: samples (an image, its classes, their boxes), whatever the layout on
disk."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from suny.errors import SunyError

#: (x_min, y_min, x_max, y_max): 0-based pixel indices of the original image, corners included.
Box = tuple[float, float, float, float]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


class DatasetError(SunyError):
    """A dataset's files are missing or malformed."""


@dataclass(frozen=True)
class Sample:
    """One image to evaluate.

    ``image_id``: unique key within the dataset (also seeds the attack noise); ``classes``: the
    ground-truth class indices, empty when unlabelled (then the predicted class is explained);
    ``boxes``: class index -> that class's boxes (:data:`Box`, original image coordinates), empty
    when the layout has none.
    """

    image_id: str
    path: Path
    classes: tuple[int, ...] = ()
    boxes: Mapping[int, tuple[Box, ...]] = field(default_factory=dict)


def checked_box(box: Box, where: str) -> Box:
    """``box`` if its corners are finite and ordered (``x_min <= x_max``, ``y_min <= y_max``; a box
    may reach outside the image, the masks clip it), else a :class:`DatasetError` naming ``where``."""
    x0, y0, x1, y1 = box
    if not all(math.isfinite(v) for v in box) or x0 > x1 or y0 > y1:
        raise DatasetError(f"{where}: box {box} needs finite corners with x_min <= x_max and y_min <= y_max")
    return box


def unique_ids(samples: list[Sample], where: str | Path) -> list[Sample]:
    """``samples``, or a :class:`DatasetError` naming ``where`` when two share an image id (the key
    of every result)."""
    seen: dict[str, Path] = {}
    for sample in samples:
        if sample.image_id in seen:
            raise DatasetError(
                f"{where}: {seen[sample.image_id]} and {sample.path} have the same image id "
                f"{sample.image_id!r}; rename one"
            )
        seen[sample.image_id] = sample.path
    return samples
