"""The PASCAL-VOC XML (ILSVRC devkit) and CUB-200-2011 layouts: classes, boxes, and the boxes mapped
through the model's resize and crop, on tiny fixtures written in each layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from suny.data import (
    DatasetError,
    box_mask,
    class_masks,
    cub_class_names,
    cub_dataset,
    load_dataset,
    voc_dataset,
)
from suny.data.cub import is_cub
from suny.data.voc import is_voc
from suny.models import imagenet_wnids
from suny.models.wrapper import Preprocessing

WNIDS = imagenet_wnids()
PREP = Preprocessing(resize=24, crop=20, mean=(0.5,) * 3, std=(0.5,) * 3)


def write_image(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (120, 30, 200)).save(path)


def voc_xml(filename: str, size: tuple[int, int], objects: list[tuple[str, tuple[int, ...]]]) -> str:
    items = "".join(
        f"<object><name>{name}</name><pose>Unspecified</pose><bndbox><xmin>{b[0]}</xmin>"
        f"<ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for name, b in objects
    )
    width, height = size
    return (
        f"<annotation><folder>val</folder><filename>{filename}</filename><size><width>{width}</width>"
        f"<height>{height}</height><depth>3</depth></size>{items}</annotation>"
    )


def write_devkit(root: Path) -> None:
    """ILSVRC/Annotations/CLS-LOC/val/*.xml beside ILSVRC/Data/CLS-LOC/val/*.JPEG (no suffix in XML)."""
    annotations = root / "ILSVRC/Annotations/CLS-LOC/val"
    annotations.mkdir(parents=True)
    objects = {
        "val_2": [(WNIDS[5], (1, 2, 10, 12))],
        "val_1": [(WNIDS[7], (0, 0, 9, 9)), (WNIDS[3], (4, 4, 8, 8)), (WNIDS[7], (20, 5, 39, 29))],
    }
    for image_id, items in objects.items():
        (annotations / f"{image_id}.xml").write_text(voc_xml(image_id, (40, 30), items))
        write_image(root / "ILSVRC/Data/CLS-LOC/val" / f"{image_id}.JPEG", (40, 30))


def drawn_mask(boxes: list[tuple[float, float, float, float]], size: tuple[int, int]) -> torch.Tensor:
    """The boxes drawn on an image of ``size`` and put through PREP's resize (nearest) and crop."""
    picture = Image.new("L", size, 0)
    draw = ImageDraw.Draw(picture)
    for x0, y0, x1, y1 in boxes:
        draw.rectangle((x0, y0, x1, y1), fill=255)
    picture = TF.resize(picture, PREP.resize, interpolation=InterpolationMode.NEAREST)
    picture = TF.center_crop(picture, [PREP.crop, PREP.crop])
    return torch.from_numpy(np.asarray(picture) > 0)


def test_voc_devkit_layout_classes_boxes_and_masks(tmp_path):
    write_devkit(tmp_path)
    for root in (tmp_path / "ILSVRC", tmp_path / "ILSVRC/Annotations/CLS-LOC/val"):
        assert is_voc(root)
        samples = voc_dataset(root)
        assert [s.image_id for s in samples] == ["val_1", "val_2"]
        first, second = samples
        assert first.path.resolve() == (tmp_path / "ILSVRC/Data/CLS-LOC/val/val_1.JPEG").resolve()
        assert first.classes == (7, 3)  # order of first appearance
        assert first.boxes == {7: ((0, 0, 9, 9), (20, 5, 39, 29)), 3: ((4, 4, 8, 8),)}
        assert second.classes == (5,) and second.boxes == {5: ((1, 2, 10, 12),)}
    masks = class_masks(first, (40, 30), PREP)
    assert set(masks) == {3, 7}
    assert torch.equal(masks[7], drawn_mask([(0, 0, 9, 9), (20, 5, 39, 29)], (40, 30)))
    assert torch.equal(masks[3], drawn_mask([(4, 4, 8, 8)], (40, 30)))
    assert masks[7].any() and not masks[7].all()


def test_voc_flat_folder_with_jpegimages_and_own_classes(tmp_path):
    annotations, images = tmp_path / "Annotations", tmp_path / "JPEGImages"
    annotations.mkdir()
    (annotations / "a.xml").write_text(voc_xml("a.png", (30, 40), [("dog", (3, 4, 20, 30))]))
    (annotations / "b.xml").write_text(voc_xml("b.png", (30, 40), []))
    for name in ("a.png", "b.png"):
        write_image(images / name, (30, 40))
    samples = voc_dataset(tmp_path, classes={"cat": 0, "dog": 1})
    assert [(s.image_id, s.path.name, s.classes) for s in samples] == [
        ("a", "a.png", (1,)),
        ("b", "b.png", ()),
    ]
    assert samples[0].boxes == {1: ((3, 4, 20, 30),)} and samples[1].boxes == {}
    with pytest.raises(DatasetError, match="'dog', which is not a known class"):
        voc_dataset(tmp_path)  # ImageNet wnids by default


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<annotation><object>", "not well-formed"),
        ("<root/>", "expected an <annotation>"),
        (
            "<annotation><object><name>n01440764</name><bndbox><xmin>1</xmin></bndbox></object></annotation>",
            "no valid <bndbox>",
        ),
    ],
)
def test_voc_errors(tmp_path, xml, message):
    (tmp_path / "x.xml").write_text(xml)
    write_image(tmp_path / "x.JPEG", (8, 8))
    with pytest.raises(DatasetError, match=message):
        voc_dataset(tmp_path)


def test_voc_missing_image(tmp_path):
    (tmp_path / "x.xml").write_text(voc_xml("x", (8, 8), []))
    with pytest.raises(DatasetError, match="'x' is in none of"):
        voc_dataset(tmp_path)
    assert not is_voc(tmp_path / "nowhere")


def write_cub(root: Path) -> list[tuple[int, str, int, tuple[float, ...], int]]:
    """A 4-image CUB-200-2011 folder with 3 classes; returns (id, path, class id, box, is_train)."""
    rows = [
        (1, "001.Black_footed_Albatross/Albatross_0001.jpg", 1, (2.0, 3.0, 10.0, 8.0), 1),
        (2, "001.Black_footed_Albatross/Albatross_0002.jpg", 1, (0.0, 0.0, 40.0, 30.0), 0),
        (3, "003.Sooty_Albatross/Sooty_0003.jpg", 3, (10.5, 4.0, 20.0, 20.5), 0),
        (10, "002.Laysan_Albatross/Laysan_0010.jpg", 2, (5.0, 5.0, 5.0, 5.0), 0),
    ]
    root.mkdir(parents=True, exist_ok=True)
    (root / "images.txt").write_text("".join(f"{i} {p}\n" for i, p, *_ in rows))
    (root / "image_class_labels.txt").write_text("".join(f"{i} {c}\n" for i, _, c, *_ in rows))
    (root / "bounding_boxes.txt").write_text(
        "".join(f"{i} {' '.join(map(str, b))}\n" for i, _, _, b, _ in rows)
    )
    (root / "train_test_split.txt").write_text("".join(f"{i} {t}\n" for i, *_, t in rows))
    (root / "classes.txt").write_text(
        "1 001.Black_footed_Albatross\n2 002.Laysan_Albatross\n3 003.Sooty_Albatross\n"
    )
    for _, path, *_ in rows:
        write_image(root / "images" / path, (40, 30))
    return rows


def test_cub_layout_test_split_classes_boxes_and_masks(tmp_path):
    write_cub(tmp_path)
    assert is_cub(tmp_path) and not is_voc(tmp_path)
    samples = cub_dataset(tmp_path)  # the test split: ids 2, 3, 10 in numeric order
    assert [s.image_id for s in samples] == [
        "001.Black_footed_Albatross/Albatross_0002",
        "003.Sooty_Albatross/Sooty_0003",
        "002.Laysan_Albatross/Laysan_0010",
    ]
    assert [s.classes for s in samples] == [(0,), (2,), (1,)]
    assert samples[1].path == tmp_path / "images/003.Sooty_Albatross/Sooty_0003.jpg"
    # x y width height -> corners included: (x, y, x + w - 1, y + h - 1)
    assert samples[0].boxes == {0: ((0.0, 0.0, 39.0, 29.0),)}
    assert samples[1].boxes == {2: ((10.5, 4.0, 29.5, 23.5),)}
    assert box_mask(samples[0].boxes[0], (40, 30), PREP).all()  # the whole image
    masks = class_masks(samples[2], (40, 30), PREP)
    assert torch.equal(masks[1], drawn_mask([(5, 5, 9, 9)], (40, 30)))
    assert [s.image_id for s in cub_dataset(tmp_path, split="train")] == [
        "001.Black_footed_Albatross/Albatross_0001"
    ]
    assert len(cub_dataset(tmp_path, split="all")) == 4
    assert cub_class_names(tmp_path) == ["Black_footed_Albatross", "Laysan_Albatross", "Sooty_Albatross"]


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        ("image_class_labels.txt", "1 1\n2 4\n3 3\n10 2\n", "class '4', not one of 1..3"),
        ("bounding_boxes.txt", "1 0 0 1 1\n2 0 0 1\n3 0 0 1 1\n10 0 0 1 1\n", "does not have 4 value"),
        ("bounding_boxes.txt", "1 0 0 1 1\n2 0 0 1 x\n3 0 0 1 1\n10 0 0 1 1\n", "'x', not a number"),
        ("train_test_split.txt", "one 1\n", "expected a numeric id"),
    ],
)
def test_cub_errors(tmp_path, file, text, message):
    write_cub(tmp_path)
    (tmp_path / file).write_text(text)
    with pytest.raises(DatasetError, match=message):
        cub_dataset(tmp_path)


def test_cub_missing_file_and_split(tmp_path):
    write_cub(tmp_path)
    with pytest.raises(DatasetError, match="unknown CUB split"):
        cub_dataset(tmp_path, split="val")  # type: ignore[arg-type]
    (tmp_path / "classes.txt").unlink()
    with pytest.raises(DatasetError, match=r"classes\.txt: no such file"):
        cub_dataset(tmp_path)


def test_load_dataset_picks_every_layout(tmp_path):
    write_devkit(tmp_path / "voc")
    write_cub(tmp_path / "cub")
    write_image(tmp_path / "plain/a.png", (16, 16))
    (tmp_path / "plain/settings.xml").write_text("<settings/>")  # XML, but not annotations
    assert [s.image_id for s in load_dataset(tmp_path / "voc/ILSVRC")] == ["val_1", "val_2"]
    assert len(load_dataset(tmp_path / "cub")) == 3
    assert [(s.image_id, s.classes) for s in load_dataset(tmp_path / "plain")] == [("a", ())]
