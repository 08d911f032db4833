"""Ground-truth boxes as masks on the model's input: through the same resize and centre crop as the
image."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from suny.data.sample import Box, Sample
from suny.models.wrapper import Preprocessing


def preprocessed_geometry(
    image_size: tuple[int, int], preprocessing: Preprocessing
) -> tuple[int, int, int, int]:
    """(resized width, resized height, crop left, crop top) of a ``(width, height)`` image under
    ``preprocessing``, as torchvision computes them (the long side is truncated; a negative
    offset is the padding of an image smaller than the crop)."""
    width, height = image_size
    short, long = min(width, height), max(width, height)
    new_long = int(preprocessing.resize * long / short)
    new_w, new_h = (preprocessing.resize, new_long) if width <= height else (new_long, preprocessing.resize)
    crop = preprocessing.crop
    left, top = (
        round((side - crop) / 2.0) if side >= crop else -((crop - side) // 2) for side in (new_w, new_h)
    )
    return new_w, new_h, left, top


def box_mask(boxes: Sequence[Box], image_size: tuple[int, int], preprocessing: Preprocessing) -> Tensor:
    """(crop, crop) bool mask of the union of ``boxes`` on the preprocessed image.

    Box ``(x0, y0, x1, y1)`` covers ``[x0, x1 + 1) x [y0, y1 + 1)`` of the original image; input
    pixel ``(r, c)`` is inside when its centre, mapped back through the crop and the resize,
    falls in it (what nearest-neighbour resizing of a drawn box gives). Parts outside the crop
    are clipped away.
    """
    width, height = image_size
    new_w, new_h, left, top = preprocessed_geometry(image_size, preprocessing)
    centres = torch.arange(preprocessing.crop, dtype=torch.float64) + 0.5
    xs = (centres + left) * (width / new_w)
    ys = (centres + top) * (height / new_h)
    mask = torch.zeros(preprocessing.crop, preprocessing.crop, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes:
        inside_x = (xs >= x0) & (xs < x1 + 1)
        inside_y = (ys >= y0) & (ys < y1 + 1)
        mask |= inside_y[:, None] & inside_x[None, :]
    return mask


def class_masks(
    sample: Sample, image_size: tuple[int, int], preprocessing: Preprocessing
) -> dict[int, Tensor]:
    """Class index -> (crop, crop) bool mask of the union of that class's boxes."""
    return {c: box_mask(boxes, image_size, preprocessing) for c, boxes in sample.boxes.items()}
