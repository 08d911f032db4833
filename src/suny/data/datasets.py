"""Datasets on disk as lists of :class:`Sample`, and ground-truth boxes as masks on the model input.

Layouts read here:

- ILSVRC val in the Kaggle localisation layout (:func:`ilsvrc_kaggle`): ``LOC_val_solution.csv``
  (``ImageId,PredictionString`` with ``wnid x_min y_min x_max y_max`` once per box) and
  ``LOC_synset_mapping.txt`` (``wnid name`` per line; line order = class index);
- any folder of images (:func:`image_folder`): no labels, so the predicted class is explained.

:func:`load_dataset` picks the layout from a path. A new layout is a function returning samples
plus one test in :func:`load_dataset`.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from suny.errors import SunyError
from suny.models.wrapper import Preprocessing

#: (x_min, y_min, x_max, y_max): 0-based pixel indices of the original image, corners included.
Box = tuple[float, float, float, float]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
ILSVRC_SOLUTION = "LOC_val_solution.csv"
ILSVRC_SYNSETS = "LOC_synset_mapping.txt"
#: Where the Kaggle archive keeps the val images, relative to the folder of the CSV files.
ILSVRC_IMAGE_DIRS = (".", "ILSVRC/Data/CLS-LOC/val", "val")


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


# ------------------------------------------------------------------------------------ boxes
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


# ---------------------------------------------------------------------------------- layouts
def read_synsets(path: str | Path) -> dict[str, int]:
    """``LOC_synset_mapping.txt``: wnid -> class index (the line number, from 0)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such synset mapping file")
    lines = [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {wnid: index for index, wnid in enumerate(lines)}


def ilsvrc_kaggle(
    root: str | Path,
    images: str | Path | None = None,
    synsets: str | Path | None = None,
) -> list[Sample]:
    """ILSVRC val in the Kaggle layout, sorted by image id.

    ``root``: the folder holding ``LOC_val_solution.csv`` (or that file). ``images``: the folder of
    ``<ImageId>.JPEG`` files (default: the first of ``root``, ``root/ILSVRC/Data/CLS-LOC/val`` and
    ``root/val`` holding the first image). ``synsets``: the mapping file (default: beside the CSV).
    """
    root = Path(root)
    solution = root if root.is_file() else root / ILSVRC_SOLUTION
    folder = solution.parent
    if not solution.is_file():
        raise DatasetError(f"{solution}: no such file")
    classes = read_synsets(synsets or folder / ILSVRC_SYNSETS)
    rows = _read_solution(solution, classes)
    if not rows:
        raise DatasetError(f"{solution}: no images listed")
    first = min(rows)
    if images is None:
        found = [folder / d for d in ILSVRC_IMAGE_DIRS if (folder / d / f"{first}.JPEG").is_file()]
        if not found:
            looked = ", ".join(str(folder / d) for d in ILSVRC_IMAGE_DIRS)
            raise DatasetError(f"{first}.JPEG is in none of {looked}; pass the image folder")
        images = found[0]
    images = Path(images)
    return [
        Sample(image_id, images / f"{image_id}.JPEG", tuple(boxes), boxes)
        for image_id, boxes in sorted(rows.items())
    ]


def _read_solution(path: Path, classes: dict[str, int]) -> dict[str, dict[int, tuple[Box, ...]]]:
    """ImageId -> class -> boxes, in the order the CSV lists them."""
    rows: dict[str, dict[int, tuple[Box, ...]]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header != ["ImageId", "PredictionString"]:
            raise DatasetError(f"{path}: expected the header 'ImageId,PredictionString', got {header}")
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            tokens = row[1].split() if len(row) == 2 else []
            if not tokens or len(tokens) % 5:
                raise DatasetError(f"{path}:{line}: expected 'wnid x_min y_min x_max y_max' per box")
            boxes: dict[int, tuple[Box, ...]] = {}
            for start in range(0, len(tokens), 5):
                wnid, *corners = tokens[start : start + 5]
                if wnid not in classes:
                    raise DatasetError(f"{path}:{line}: {wnid} is not in the synset mapping")
                try:
                    box = tuple(float(v) for v in corners)
                except ValueError as err:
                    raise DatasetError(f"{path}:{line}: bad box coordinates {corners}") from err
                boxes[classes[wnid]] = (*boxes.get(classes[wnid], ()), box)
            rows[row[0]] = boxes
    return rows


def image_folder(root: str | Path, recursive: bool = False) -> list[Sample]:
    """Every image file in ``root`` (and its subfolders when ``recursive``), sorted by path; the id
    is the path relative to ``root`` without its suffix. No labels."""
    root = Path(root)
    files = root.rglob("*") if recursive else root.iterdir()
    paths = sorted(p for p in files if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    return [Sample(p.relative_to(root).with_suffix("").as_posix(), p) for p in paths]


def load_dataset(path: str | Path) -> list[Sample]:
    """The samples at ``path``: an ILSVRC Kaggle folder (or its CSV), a CUB-200-2011 folder (its test
    images), PASCAL-VOC XML annotations (ILSVRC's devkit layout), a folder of images, or one image
    file."""
    from suny.data.cub import cub_dataset, is_cub
    from suny.data.voc import is_voc, voc_dataset

    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if path.name == ILSVRC_SOLUTION or (path / ILSVRC_SOLUTION).is_file():
        return ilsvrc_kaggle(path)
    if is_cub(path):
        return cub_dataset(path)
    if is_voc(path):
        return voc_dataset(path)
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise DatasetError(f"{path}: neither an image nor a known dataset file")
        return [Sample(path.stem, path)]
    samples = image_folder(path)
    if not samples:
        raise DatasetError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) and no {ILSVRC_SOLUTION} found")
    return samples
