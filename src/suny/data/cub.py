"""CUB-200-2011 in its own layout: text files of ``<image id> <value ...>`` lines beside ``images/``.

- ``images.txt``: ``id relative/path.jpg`` (under ``images/``);
- ``image_class_labels.txt``: ``id class_id`` with 1-based class ids (class index = id - 1);
- ``bounding_boxes.txt``: ``id x y width height`` (floats, original pixels, top-left corner);
- ``train_test_split.txt``: ``id 1`` for training, ``id 0`` for test images;
- ``classes.txt``: ``class_id name`` (``1 001.Black_footed_Albatross``).

A box ``x y width height`` covers ``[x, x + width) x [y, y + height)``: as a
:data:`~suny.data.sample.Box` (corners included) it is ``(x, y, x + width - 1, y + height - 1)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from suny.data.sample import DatasetError, Sample, checked_box, unique_ids

FILES = ("images.txt", "image_class_labels.txt", "bounding_boxes.txt", "train_test_split.txt", "classes.txt")
Split = Literal["train", "test", "all"]


def is_cub(path: str | Path) -> bool:
    """Whether ``path`` is a folder with CUB-200-2011's ``images.txt`` and ``image_class_labels.txt``."""
    path = Path(path)
    return all((path / name).is_file() for name in FILES[:2])


def cub_class_names(root: str | Path) -> list[str]:
    """The 200 class names in index order, without the number prefix (``Black_footed_Albatross``)."""
    path = Path(root) / "classes.txt"
    names = _read_table(path)
    return [_value(names, key, path).split(".", 1)[-1] for key in sorted(names, key=int)]


def cub_dataset(root: str | Path, split: Split = "test") -> list[Sample]:
    """The images of ``split`` (default: the test images) in the order of their numeric CUB ids, each
    with its class and its one box. The sample's ``image_id`` is the path under ``images/`` without
    its suffix (``001.Black_footed_Albatross/Black_Footed_Albatross_0046_18``)."""
    root = Path(root)
    if split not in ("train", "test", "all"):
        raise DatasetError(f"unknown CUB split {split!r}; use train, test or all")
    paths, labels, boxes, splits, classes = (root / name for name in FILES)
    tables = {path: _read_table(path) for path in (paths, labels, boxes, splits)}
    num_classes = len(_read_table(classes))
    samples = []
    for key in sorted(tables[paths], key=int):
        relative = _value(tables[paths], key, paths)
        if split != "all" and _value(tables[splits], key, splits) != ("1" if split == "train" else "0"):
            continue
        label = _value(tables[labels], key, labels)
        if not (label.isascii() and label.isdigit()) or not 1 <= int(label) <= num_classes:
            raise DatasetError(f"{labels}: image {key} has class {label!r}, not one of 1..{num_classes}")
        x, y, width, height = (_number(boxes, key, v) for v in _values(tables[boxes], key, boxes, 4))
        if not (width > 0 and height > 0):
            raise DatasetError(f"{boxes}: image {key} has a box of width {width} and height {height}")
        box = checked_box((x, y, x + width - 1, y + height - 1), f"{boxes}: image {key}")
        target = int(label) - 1
        if Path(relative).name in ("", ".", ".."):
            raise DatasetError(f"{paths}: image {key} has the path {relative!r}, not a file's")
        image_id = Path(relative).with_suffix("").as_posix()
        samples.append(Sample(image_id, root / "images" / relative, (target,), {target: (box,)}))
    return unique_ids(samples, paths)


def _read_table(path: Path) -> dict[str, list[str]]:
    """``id value ...`` lines -> id (ASCII digits, each once) -> values."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file (a CUB-200-2011 folder has {', '.join(FILES)})")
    table: dict[str, list[str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            key, *values = line.split()
            if not (key.isascii() and key.isdigit()):
                raise DatasetError(f"{path}:{number}: expected a numeric id first, got {line!r}")
            if key in table:
                raise DatasetError(f"{path}:{number}: id {key} is listed twice")
            table[key] = values
    return table


def _values(table: dict[str, list[str]], key: str, path: Path, count: int) -> list[str]:
    """The ``count`` values of image ``key``; an error naming the file when they are not there."""
    values = table.get(key)
    if values is None or len(values) != count:
        raise DatasetError(f"{path}: image {key} is missing or does not have {count} value(s)")
    return values


def _value(table: dict[str, list[str]], key: str, path: Path) -> str:
    return _values(table, key, path, 1)[0]


def _number(path: Path, key: str, text: str) -> float:
    try:
        return float(text)
    except ValueError as err:
        raise DatasetError(f"{path}: image {key} has {text!r}, not a number") from err
