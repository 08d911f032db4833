"""ILSVRC val as PASCAL-VOC XML, one annotation file per image (the ImageNet devkit's layout).

Each ``<annotation>`` names its image (``<filename>``, often without a suffix) and lists
``<object>`` elements, each a class (``<name>``: a WordNet id such as ``n01440764``) and a
``<bndbox>`` (``xmin``, ``ymin``, ``xmax``, ``ymax``). The numbers are taken as they are: pixel
indices of the original image, corners included, the convention of :data:`~suny.data.sample.Box`
and of ILSVRC's Kaggle CSV, which carries the same numbers as these files.

The annotation folder is found from the root: the root itself when it holds ``*.xml`` files, else
``Annotations/CLS-LOC/val`` or ``Annotations`` under it. Images are looked up beside the
annotations, in the devkit's ``Data/CLS-LOC/val`` or in VOC's ``JPEGImages`` (see
:data:`IMAGE_DIRS`).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

from suny.data.sample import IMAGE_SUFFIXES, Box, DatasetError, Sample, checked_box
from suny.models import imagenet_wnids

#: Where the annotation files are, relative to the root (the first that holds ``*.xml`` wins).
ANNOTATION_DIRS = (".", "Annotations/CLS-LOC/val", "Annotations")
#: Where the images are, relative to the annotation folder.
IMAGE_DIRS = (".", "../../../Data/CLS-LOC/val", "../JPEGImages", "../images")
#: What ElementTree raises on a file it cannot parse (an unknown or multi-byte encoding included).
XML_ERRORS = (ET.ParseError, LookupError, ValueError)


def is_voc(path: str | Path) -> bool:
    """Whether ``path`` is a folder :func:`voc_dataset` reads: it or a known subfolder holds XML
    files, the first of which is an ``<annotation>``."""
    folder = _annotation_dir(Path(path))
    if folder is None:
        return False
    try:
        return ET.parse(min(folder.glob("*.xml"))).getroot().tag == "annotation"
    except XML_ERRORS:
        return False


def voc_dataset(
    root: str | Path,
    images: str | Path | None = None,
    classes: Mapping[str, int] | None = None,
) -> list[Sample]:
    """The images of the annotation files under ``root``, sorted by image id (the file stem).

    ``images``: the image folder (default: the first of :data:`IMAGE_DIRS` that holds the first
    image); ``classes``: class name -> index (default: the 1000 ImageNet wnids in index order).
    Classes keep the order of their first object in the file; an annotation without objects gives
    an unlabelled sample (its predicted class is explained).
    """
    root = Path(root)
    folder = _annotation_dir(root)
    if folder is None:
        raise DatasetError(f"{root}: no *.xml annotation files in it or in {', '.join(ANNOTATION_DIRS[1:])}")
    classes = classes if classes is not None else {wnid: i for i, wnid in enumerate(imagenet_wnids())}
    parsed = [_read_annotation(path, classes) for path in sorted(folder.glob("*.xml"))]
    image_dir = Path(images) if images is not None else _image_dir(folder, parsed[0][1])
    samples = []
    for image_id, filename, boxes in parsed:
        path = _image_path(image_dir, filename)
        if path is None:
            raise DatasetError(f"{folder / image_id}.xml: its image {filename!r} is not in {image_dir}")
        samples.append(Sample(image_id, path, tuple(boxes), boxes))
    return sorted(samples, key=lambda sample: sample.image_id)


def _annotation_dir(root: Path) -> Path | None:
    for relative in ANNOTATION_DIRS:
        folder = root / relative
        if folder.is_dir() and any(folder.glob("*.xml")):
            return folder
    return None


def _read_annotation(path: Path, classes: Mapping[str, int]) -> tuple[str, str, dict[int, tuple[Box, ...]]]:
    """(image id, image file name, class -> boxes) of one XML file."""
    try:
        annotation = ET.parse(path).getroot()
    except XML_ERRORS as err:
        raise DatasetError(f"{path}: not well-formed XML ({err})") from err
    if annotation.tag != "annotation":
        raise DatasetError(f"{path}: expected an <annotation> root element, got <{annotation.tag}>")
    filename = (annotation.findtext("filename") or "").strip() or path.stem
    boxes: dict[int, tuple[Box, ...]] = {}
    for number, item in enumerate(annotation.iterfind("object"), start=1):
        name = (item.findtext("name") or "").strip()
        if name not in classes:
            raise DatasetError(f"{path}: object {number} has class {name!r}, which is not a known class")
        box = item.find("bndbox")
        corners = [None if box is None else box.findtext(tag) for tag in ("xmin", "ymin", "xmax", "ymax")]
        try:
            x0, y0, x1, y1 = (float(v) for v in corners)  # type: ignore[arg-type]
        except (TypeError, ValueError) as err:
            raise DatasetError(f"{path}: object {number} has no valid <bndbox> ({corners})") from err
        values = checked_box((x0, y0, x1, y1), f"{path}: object {number}")
        boxes[classes[name]] = (*boxes.get(classes[name], ()), values)
    return path.stem, filename, boxes


def _image_path(folder: Path, filename: str) -> Path | None:
    """``folder / filename``, or with one of the image suffixes added when the name has none."""
    candidates = [filename] + [filename + suffix for suffix in (".JPEG", *IMAGE_SUFFIXES)]
    return next((folder / name for name in candidates if (folder / name).is_file()), None)


def _image_dir(folder: Path, filename: str) -> Path:
    for relative in IMAGE_DIRS:
        candidate = Path(os.path.normpath(folder / relative))
        if _image_path(candidate, filename) is not None:
            return candidate
    looked = ", ".join(str(folder / d) for d in IMAGE_DIRS)
    raise DatasetError(f"the image {filename!r} is in none of {looked}; pass the image folder")
