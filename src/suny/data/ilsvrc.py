"""ILSVRC val in the Kaggle localisation layout: ``LOC_val_solution.csv`` (``ImageId,PredictionString``
with ``wnid x_min y_min x_max y_max`` once per box) and ``LOC_synset_mapping.txt`` (``wnid name``
per line; line order = class index)."""

from __future__ import annotations

import csv
from pathlib import Path

from suny.data.sample import Box, DatasetError, Sample, checked_box

ILSVRC_SOLUTION = "LOC_val_solution.csv"
ILSVRC_SYNSETS = "LOC_synset_mapping.txt"
#: Where the Kaggle archive keeps the val images, relative to the folder of the CSV files.
ILSVRC_IMAGE_DIRS = (".", "ILSVRC/Data/CLS-LOC/val", "val")


def is_ilsvrc(path: Path) -> bool:
    """Whether ``path`` is the solution CSV or a folder holding it."""
    return path.name == ILSVRC_SOLUTION or (path / ILSVRC_SOLUTION).is_file()


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
    """ImageId -> class -> boxes, in the order the CSV lists them; an id listed twice is an error."""
    rows: dict[str, dict[int, tuple[Box, ...]]] = {}
    lines: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header != ["ImageId", "PredictionString"]:
            raise DatasetError(f"{path}: expected the header 'ImageId,PredictionString', got {header}")
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            tokens = row[1].split() if len(row) == 2 else []
            if not row[0].strip():
                raise DatasetError(f"{path}:{line}: no ImageId")
            if row[0] in lines:
                raise DatasetError(
                    f"{path}:{line}: ImageId {row[0]} is listed on line {lines[row[0]]} already"
                )
            lines[row[0]] = line
            if not tokens or len(tokens) % 5:
                raise DatasetError(f"{path}:{line}: expected 'wnid x_min y_min x_max y_max' per box")
            boxes: dict[int, tuple[Box, ...]] = {}
            for start in range(0, len(tokens), 5):
                wnid, *corners = tokens[start : start + 5]
                if wnid not in classes:
                    raise DatasetError(f"{path}:{line}: {wnid} is not in the synset mapping")
                try:
                    x0, y0, x1, y1 = (float(v) for v in corners)
                except ValueError as err:
                    raise DatasetError(f"{path}:{line}: bad box coordinates {corners}") from err
                box = checked_box((x0, y0, x1, y1), f"{path}:{line}")
                boxes[classes[wnid]] = (*boxes.get(classes[wnid], ()), box)
            rows[row[0]] = boxes
    return rows
