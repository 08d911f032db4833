"""Plain images without labels: one file, or every image of a folder (the predicted class is
explained)."""

from __future__ import annotations

from pathlib import Path

from suny.data.sample import IMAGE_SUFFIXES, DatasetError, Sample, unique_ids


def is_image_file(path: Path) -> bool:
    """Whether ``path`` is a file with an image suffix."""
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def single_image(path: Path) -> list[Sample]:
    """One image file as a dataset of one unlabelled sample (id: the file's stem)."""
    return [Sample(path.stem, path)]


def image_folder(root: str | Path, recursive: bool = False) -> list[Sample]:
    """Every image file in ``root`` (and its subfolders when ``recursive``), sorted by path; the id
    is the path relative to ``root`` without its suffix (an error when two files share it: ``a.jpg``
    and ``a.png``). No labels."""
    root = Path(root)
    files = root.rglob("*") if recursive else root.iterdir()
    paths = sorted(p for p in files if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    return unique_ids([Sample(p.relative_to(root).with_suffix("").as_posix(), p) for p in paths], root)


def nonempty_image_folder(path: Path) -> list[Sample]:
    """:func:`image_folder`, with an error when the folder has no image."""
    samples = image_folder(path)
    if not samples:
        raise DatasetError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) and no known dataset layout")
    return samples
