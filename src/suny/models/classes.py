"""Class names: ImageNet's 1000 (shipped with the package), or placeholders for other heads."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from suny.errors import ModelError

IMAGENET_CLASSES = Path(__file__).with_name("imagenet_classes.txt")


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet class names in index order (first synonym of each synset)."""
    lines = IMAGENET_CLASSES.read_text(encoding="utf-8").splitlines()
    return [line.split(" ", 1)[1].split(",")[0].strip() for line in lines if line.strip()]


def imagenet_wnids() -> list[str]:
    """The 1000 ImageNet WordNet ids (``n01440764`` ...) in class-index order."""
    lines = IMAGENET_CLASSES.read_text(encoding="utf-8").splitlines()
    return [line.split(" ", 1)[0] for line in lines if line]


def class_names_for(num_classes: int, given: Sequence[str] | None = None) -> list[str]:
    """``given`` when it has one name per class; by default ImageNet's names for 1000 classes and
    ``class i`` otherwise."""
    if given is None:
        return imagenet_class_names() if num_classes == 1000 else [f"class {i}" for i in range(num_classes)]
    if len(given) != num_classes:
        raise ModelError(f"{len(given)} class names given for a model with {num_classes} classes")
    return list(given)
