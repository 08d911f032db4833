"""Dataset layouts (ILSVRC Kaggle CSVs, plain folders) and boxes mapped through preprocessing."""

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
    Sample,
    box_mask,
    class_masks,
    ilsvrc_kaggle,
    image_folder,
    load_dataset,
)
from suny.models.wrapper import Preprocessing

WNIDS = ["n01440764", "n02102040", "n02979186"]


def prep(resize: int, crop: int) -> Preprocessing:
    return Preprocessing(resize, crop, (0.5,) * 3, (0.5,) * 3)


def write_image(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (120, 30, 200)).save(path)


def write_kaggle(root: Path, rows: list[str], image_dir: str = "ILSVRC/Data/CLS-LOC/val") -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "LOC_synset_mapping.txt").write_text("".join(f"{w} class {w}\n" for w in WNIDS))
    (root / "LOC_val_solution.csv").write_text("ImageId,PredictionString\n" + "\n".join(rows) + "\n")
    for row in rows:
        write_image(root / image_dir / f"{row.split(',')[0]}.JPEG", (40, 30))


def test_ilsvrc_kaggle_layout(tmp_path):
    write_kaggle(
        tmp_path,
        [
            "val_3,n02979186 1 2 10 12",
            "val_1,n02102040 0 0 9 9 n02102040 20 5 39 29 ",
            "val_2,n01440764 1 1 5 5 n02979186 2 2 8 8",
        ],
    )
    samples = load_dataset(tmp_path)
    assert [s.image_id for s in samples] == ["val_1", "val_2", "val_3"]
    first, second, third = samples
    assert first.path == tmp_path / "ILSVRC/Data/CLS-LOC/val/val_1.JPEG" and first.path.is_file()
    assert first.classes == (1,)
    assert first.boxes == {1: ((0, 0, 9, 9), (20, 5, 39, 29))}
    assert second.classes == (0, 2) and second.boxes == {0: ((1, 1, 5, 5),), 2: ((2, 2, 8, 8),)}
    assert third.classes == (2,)
    assert load_dataset(tmp_path / "LOC_val_solution.csv") == samples  # the CSV itself works too


def test_ilsvrc_images_beside_the_csv_and_explicit_folder(tmp_path):
    write_kaggle(tmp_path / "flat", ["a,n01440764 0 0 3 3"], image_dir=".")
    assert ilsvrc_kaggle(tmp_path / "flat")[0].path == tmp_path / "flat" / "a.JPEG"
    write_kaggle(tmp_path / "elsewhere", ["a,n01440764 0 0 3 3"], image_dir="../pictures")
    with pytest.raises(DatasetError, match=r"a\.JPEG is in none of"):
        ilsvrc_kaggle(tmp_path / "elsewhere")
    samples = ilsvrc_kaggle(tmp_path / "elsewhere", images=tmp_path / "pictures")
    assert samples[0].path == tmp_path / "pictures" / "a.JPEG"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["a,n99999999 0 0 3 3"], "not in the synset mapping"),
        (["a,n01440764 0 0 3"], "per box"),
        (["a,n01440764 0 0 x 3"], "bad box coordinates"),
        ([], "no images listed"),
    ],
)
def test_ilsvrc_errors(tmp_path, rows, message):
    write_kaggle(tmp_path, rows)
    with pytest.raises(DatasetError, match=message):
        load_dataset(tmp_path)


def test_ilsvrc_wrong_header_and_missing_mapping(tmp_path):
    write_kaggle(tmp_path, ["a,n01440764 0 0 3 3"])
    (tmp_path / "LOC_val_solution.csv").write_text("id,boxes\na,n01440764 0 0 3 3\n")
    with pytest.raises(DatasetError, match="header"):
        load_dataset(tmp_path)
    (tmp_path / "LOC_synset_mapping.txt").unlink()
    with pytest.raises(DatasetError, match="synset mapping"):
        load_dataset(tmp_path)


def test_image_folder_and_single_image(tmp_path):
    write_image(tmp_path / "b.png", (20, 20))
    write_image(tmp_path / "a.JPG", (20, 20))
    write_image(tmp_path / "sub" / "c.jpeg", (20, 20))
    (tmp_path / "notes.txt").write_text("not an image")
    samples = load_dataset(tmp_path)
    assert [(s.image_id, s.classes, dict(s.boxes)) for s in samples] == [("a", (), {}), ("b", (), {})]
    assert [s.image_id for s in image_folder(tmp_path, recursive=True)] == ["a", "b", "sub/c"]
    assert load_dataset(tmp_path / "b.png") == [Sample("b", tmp_path / "b.png")]
    with pytest.raises(DatasetError, match="neither an image"):
        load_dataset(tmp_path / "notes.txt")
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        load_dataset(tmp_path / "empty")


def test_box_mask_by_hand():
    # 448x448 halved: box pixels 0..99 become input pixels 0..49.
    mask = box_mask([(0, 0, 99, 99)], (448, 448), prep(224, 224))
    expected = torch.zeros(224, 224, dtype=torch.bool)
    expected[:50, :50] = True
    assert torch.equal(mask, expected)
    # 300x200 -> 150x100, crop 100 from x = 25: columns 50..149 become 0..49; the box's right part
    # and the union with a second box beyond the crop are clipped.
    mask = box_mask([(50, 0, 149, 199), (280, 0, 299, 10)], (300, 200), prep(100, 100))
    expected = torch.zeros(100, 100, dtype=torch.bool)
    expected[:, :50] = True
    assert torch.equal(mask, expected)
    # A box covering the whole image covers the whole input.
    assert bool(box_mask([(0, 0, 299, 199)], (300, 200), prep(100, 100)).all())


@pytest.mark.parametrize(
    ("size", "resize", "crop"),
    [((500, 375), 256, 224), ((224, 224), 256, 224), ((333, 517), 100, 90), ((61, 47), 40, 48)],
)
def test_box_mask_matches_nearest_resize_of_the_drawn_boxes(size, resize, crop):
    """The mask equals the boxes drawn on the original image and pushed through torchvision's
    resize (nearest) and centre crop, the padded case (resize < crop) included."""
    generator = np.random.default_rng(sum(size))
    for _ in range(5):
        boxes = []
        drawn = Image.new("L", size, 0)
        for _ in range(2):
            x0, x1 = sorted(generator.integers(0, size[0], 2).tolist())
            y0, y1 = sorted(generator.integers(0, size[1], 2).tolist())
            boxes.append((x0, y0, x1, y1))
            ImageDraw.Draw(drawn).rectangle((x0, y0, x1, y1), fill=255)  # corners included
        resized = TF.center_crop(TF.resize(drawn, resize, InterpolationMode.NEAREST), [crop, crop])
        expected = torch.from_numpy(np.asarray(resized) > 0)
        assert torch.equal(box_mask(boxes, size, prep(resize, crop)), expected)


def test_class_masks_unite_each_class_boxes():
    sample = Sample("x", Path("x.jpg"), (0, 2), {0: ((0, 0, 1, 1), (2, 2, 3, 3)), 2: ((0, 0, 3, 0),)})
    masks = class_masks(sample, (4, 4), prep(4, 4))
    assert masks[0].sum() == 8 and bool(masks[0][0, 0]) and bool(masks[0][3, 3])
    assert masks[2].sum() == 4 and bool(masks[2][0].all())
