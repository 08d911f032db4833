"""The metrics on real ILSVRC val crops with the pretrained Lite0 and Grad-CAM."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.methods import gradcam

from suny.data import class_masks, ilsvrc_kaggle, load_image
from suny.metrics.deletion_insertion import deletion_insertion
from suny.metrics.pointing import pointing_proportion
from suny.models import load_model
from suny.registry import create_method, method_names

DATA = Path(__file__).parents[1] / ".." / "shared" / "data" / "ilsvrc-val-crops"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (DATA / "LOC_val_solution.csv").is_file(),
        reason=f"the shared ILSVRC val crops are not at {DATA.resolve()}",
    ),
]


@pytest.fixture(scope="module")
def lite0():
    return load_model("efficientnet-lite0")


@pytest.fixture(scope="module")
def crops(lite0):
    """Two images of each of the 10 classes: (images, targets, box masks)."""
    samples = ilsvrc_kaggle(DATA)
    chosen = [
        s
        for c in sorted({s.classes[0] for s in samples})
        for s in [x for x in samples if x.classes[0] == c][:2]
    ]
    assert len(chosen) == 20 and all(len(s.classes) == 1 for s in chosen)
    images, masks = [], []
    for sample in chosen:
        image = load_image(sample.path)
        images.append(lite0.preprocess(image))
        masks.append(class_masks(sample, image.size, lite0.preprocessing)[sample.classes[0]])
    targets = torch.tensor([s.classes[0] for s in chosen])
    return torch.stack(images), targets, torch.stack(masks)


@pytest.mark.skipif("gradcam" not in method_names(), reason="the gradcam baseline is not registered")
def test_gradcam_points_into_the_boxes(lite0, crops):
    """Grad-CAM's mean energy inside the boxes beats the mean share of the image the boxes cover
    (what a uniform map would score)."""
    images, targets, masks = crops
    method = create_method("gradcam", lite0)
    maps = torch.cat([method(images[i : i + 5], targets[i : i + 5]).maps for i in range(0, 20, 5)])
    proportion = pointing_proportion(maps, masks).mean()
    share = masks.float().mean(dim=(1, 2)).mean()
    assert 0.2 < float(share) < 0.9
    assert float(proportion) > float(share) + 0.03, (float(proportion), float(share))  # 0.66, 0.45


def test_gradcam_ranking_beats_its_reverse(lite0, crops):
    """Deleting Grad-CAM's pixels first hurts more, and inserting them first helps more, than the
    reversed ranking (coarse step: 8 points per curve)."""
    images, targets, _ = crops
    images, targets = images[[0, 2]], targets[[0, 2]]
    maps = gradcam(lite0)(images, targets).maps
    step = 224 * 224 // 7
    forward = deletion_insertion(lite0, images, maps, targets, step=step)
    reverse = deletion_insertion(lite0, images, 1 - maps, targets, step=step)
    assert forward.deletion.scores.shape == (2, 8)
    assert float(forward.deletion.auc.mean()) < float(reverse.deletion.auc.mean())
    assert float(forward.insertion.auc.mean()) > float(reverse.insertion.auc.mean())
    assert float(forward.overall.mean()) > float(reverse.overall.mean())
