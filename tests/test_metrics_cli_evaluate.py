"""``suny evaluate`` end to end on tiny datasets with the real Lite0 and a test-only method."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from helpers.methods import centre_bump
from PIL import Image

from suny.cli.main import main
from suny.data import load_dataset, load_image
from suny.metrics.attack import attack_noise, saliency_attack
from suny.metrics.deletion_insertion import deletion_curve
from suny.models import imagenet_wnids, load_model
from suny.registry import register_method, unregister_method
from suny.saliency import SaliencyMethod, SaliencyResult

STEP = 224 * 224 // 4  # 5 points per curve keeps the test fast


class Centre(SaliencyMethod):
    """A centred bump, the same for every image and class (ignores the model)."""

    map_names = ("test-centre",)

    def explain(self, images: torch.Tensor, targets: torch.Tensor) -> SaliencyResult:
        return SaliencyResult(centre_bump(images))


@pytest.fixture(scope="module", autouse=True)
def registered():
    """Register the test method for this module only (other tests may list the registry)."""
    register_method(Centre)
    yield
    unregister_method(Centre)


@pytest.fixture(scope="module")
def lite0():
    return load_model("efficientnet-lite0")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Three noise images in the Kaggle layout; the second has two classes."""
    root = tmp_path_factory.mktemp("ilsvrc")
    wnids = imagenet_wnids()
    (root / "LOC_synset_mapping.txt").write_text("".join(f"{w} name\n" for w in wnids))
    rows = [
        f"img_a,{wnids[1]} 10 20 200 180",
        f"img_b,{wnids[5]} 0 0 120 100 {wnids[7]} 50 60 299 249 {wnids[5]} 200 0 299 50",
        f"img_c,{wnids[9]} 0 0 299 249",
    ]
    (root / "LOC_val_solution.csv").write_text("ImageId,PredictionString\n" + "\n".join(rows) + "\n")
    generator = np.random.default_rng(0)
    for row in rows:
        pixels = generator.integers(0, 256, (250, 300, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"{row.split(',')[0]}.JPEG")
    return root


def read_csv(path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_evaluate_ilsvrc(dataset, tmp_path, lite0, capsys):
    out = tmp_path / "out"
    code = main(["evaluate", str(dataset), "--method", "test-centre", "--out", str(out), "--step", str(STEP)])
    assert code == 0
    stdout = capsys.readouterr().out
    assert "test-centre on efficientnet-lite0, 3 images" in stdout and "attack_score" in stdout
    rows = read_csv(out / "results.csv")
    assert [r["image_id"] for r in rows] == ["img_a", "img_b", "img_c"]
    assert rows[1]["targets"] == "5 7"
    for key in ("deletion_auc", "insertion_auc", "overall", "attack_flip", "attack_size", "pointing"):
        assert all(r[key] != "" for r in rows), key
    assert float(rows[2]["pointing"]) == pytest.approx(1.0)  # its box covers the whole image

    # The two-class image scores the mean over its classes, recomputed here with the library.
    samples = load_dataset(dataset)
    image = lite0.preprocess(load_image(samples[1].path))[None].expand(2, -1, -1, -1)
    maps = Centre(lite0)(image, [5, 7]).maps
    aucs = deletion_curve(lite0, image, maps, torch.tensor([5, 7]), step=STEP).auc
    assert float(rows[1]["deletion_auc"]) == pytest.approx(float(aucs.mean()), abs=2e-6)
    noise = attack_noise(["img_b"], (3, 224, 224), seed=0).expand(2, -1, -1, -1)
    attack = saliency_attack(lite0, image, maps, noise)
    assert float(rows[1]["attack_flip"]) == pytest.approx(float(attack.flips.float().mean()))
    assert float(rows[1]["attack_size"]) == pytest.approx(float((maps[0] >= 0.5).float().mean()), abs=1e-6)
    assert float(rows[1]["attack_size_literal"]) == pytest.approx(
        float((maps[0] > 0).float().mean()), abs=1e-6
    )

    report = json.loads((out / "results.json").read_text())
    assert report["method"] == "test-centre" and report["summary"]["images"] == 3
    assert report["summary"]["targets"] == 4
    assert len(report["curves"]["fractions"]) == len(report["curves"]["deletion"]) == 5
    assert report["summary"]["deletion_auc"] == pytest.approx(
        np.mean([float(r["deletion_auc"]) for r in rows]), abs=1e-5
    )
    flips = np.mean([float(r["attack_flip"]) for r in rows])
    sizes = np.mean([float(r["attack_size"]) for r in rows])
    assert report["summary"]["attack_score"] == pytest.approx(flips / sizes, abs=1e-5)
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_folder_and_sanity(dataset, tmp_path):
    """A folder without labels: the predicted class is explained and pointing is left out."""
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("img_a", "img_c"):
        (folder / f"{name}.jpg").write_bytes((dataset / f"{name}.JPEG").read_bytes())
    out = tmp_path / "out"
    args = ["evaluate", str(folder), "--method", "test-centre", "--out", str(out), "--step", str(STEP)]
    assert main([*args, "--metrics", "attack,sanity", "--sanity-steps", "2", "--limit", "1"]) == 0
    rows = read_csv(out / "results.csv")
    assert len(rows) == 1 and rows[0]["targets"] == rows[0]["predicted"]
    assert "pointing" not in rows[0] and "deletion_auc" not in rows[0]
    assert float(rows[0]["sanity_spearman"]) == pytest.approx(1.0)  # the map ignores the model
    sanity = read_csv(out / "sanity.csv")
    assert [r["step"] for r in sanity] == ["1", "2"] and sanity[1]["randomised"].endswith("_conv_stem")
    assert (out / "sanity.png").is_file() and not (out / "curves.png").exists()


def test_evaluate_errors(dataset, tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.jpg").write_bytes((dataset / "img_a.JPEG").read_bytes())
    out = ["--out", str(tmp_path / "out")]
    assert main(["evaluate", str(folder), "--method", "test-centre", "--metrics", "pointing", *out]) == 2
    assert "needs boxes" in capsys.readouterr().err
    assert main(["evaluate", str(folder), "--method", "no-such-method", *out]) == 2
    assert "test-centre" in capsys.readouterr().err  # the known methods are listed
    with pytest.raises(SystemExit):
        main(["evaluate", str(folder), "--method", "test-centre", "--metrics", "speed"])
    assert "unknown metric" in capsys.readouterr().err
