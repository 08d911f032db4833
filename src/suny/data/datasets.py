"""Datasets on disk as lists of :class:`~suny.data.sample.Sample`, whatever their layout.

:func:`load_dataset` tries each layout of :data:`LAYOUTS` in turn: ILSVRC val in the Kaggle CSV
layout (:mod:`.ilsvrc`), CUB-200-2011 (:mod:`.cub`), PASCAL-VOC XML per image (:mod:`.voc`), one
image file, a folder of images (:mod:`.folder`). A new layout is a module with a detector and a
loader, added to :data:`LAYOUTS`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from suny.data.cub import cub_dataset, is_cub
from suny.data.folder import is_image_file, nonempty_image_folder, single_image
from suny.data.ilsvrc import ilsvrc_kaggle, is_ilsvrc
from suny.data.sample import DatasetError, Sample
from suny.data.voc import is_voc, voc_dataset

#: (detector, loader) per layout, in the order :func:`load_dataset` tries them.
LAYOUTS: tuple[tuple[Callable[[Path], bool], Callable[[Path], list[Sample]]], ...] = (
    (is_ilsvrc, ilsvrc_kaggle),
    (is_cub, cub_dataset),
    (is_voc, voc_dataset),
    (is_image_file, single_image),
    (Path.is_dir, nonempty_image_folder),
)


def load_dataset(path: str | Path) -> list[Sample]:
    """The samples at ``path``: an ILSVRC Kaggle folder (or its CSV), a CUB-200-2011 folder (its test
    images), PASCAL-VOC XML annotations (ILSVRC's devkit layout), one image file, or a folder of
    images."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    for detect, load in LAYOUTS:
        if detect(path):
            return load(path)
    raise DatasetError(f"{path}: neither an image nor a known dataset file")
