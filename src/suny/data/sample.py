"""What a dataset is made of: samples (an image, its classes, their boxes), whatever the layout on
disk."""

from __future__ import annotations

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
