"""The command line end to end: files written, errors reported in one line, exit codes."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from suny.cli.main import main

FAST = ["--layer", "_blocks.0", "--top-k", "3", "--samples", "4"]


def test_help_teaches(capsys):
    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    text = capsys.readouterr().out
    assert "necessity map" in text and "examples:" in text and "--cause" in text


def test_explain_writes_reports_json_npz_and_csv(tmp_path, capsys):
    good = tmp_path / "cat.png"
    from suny.data import sample_image

    sample_image().save(good)
    out = tmp_path / "out"
    assert main(["explain", str(good), *FAST, "--cause", "both", "--out", str(out)]) == 0
    folder = out / "cat"
    for name in ("index.html", "summary.json", "feature.npz", "filter.npz"):
        assert (folder / name).is_file(), name
    summary = json.loads((folder / "summary.json").read_text())
    assert "cat" in json.dumps(summary)
    with np.load(folder / "feature.npz") as arrays:
        assert arrays["combined_map"].shape == (224, 224)
    rows = list(csv.DictReader((out / "explanations.csv").open()))
    assert [r["cause"] for r in rows] == ["feature", "filter"]
    assert rows[0]["layer"] == "_blocks.0" and rows[1]["layer"] == "_blocks.0._project_conv"
    assert "wrote 2 explanation(s) of 1 image(s)" in capsys.readouterr().out


def test_bad_image_among_good_ones_is_reported_and_the_rest_is_written(tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    gray = tmp_path / "gray.png"
    Image.fromarray(np.tile(np.arange(0, 250, 2, dtype=np.uint8), (100, 1))).save(gray)
    out = tmp_path / "out"
    code = main(["explain", str(bad), str(gray), *FAST, "--cause", "filter", "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "bad.jpg: not a readable image" in err and "Traceback" not in err
    assert (out / "gray" / "index.html").is_file()


def test_unknown_layer_lists_valid_layers(tmp_path, capsys):
    assert main(["explain", "--layer", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no explainable layer 'nope'" in err and "'suny layers efficientnet-lite0'" in err
    assert "(the default: _head_activation)" in err and "_blocks.15" not in err  # not 197 names


def test_target_out_of_range(tmp_path, capsys):
    assert main(["explain", "--target", "1000", *FAST, "--cause", "filter", "--out", str(tmp_path)]) == 2
    assert "out of range" in capsys.readouterr().err


def test_unknown_method(tmp_path, capsys):
    assert main(["explain", "--methods", "magic", "--out", str(tmp_path)]) == 2
    assert "unknown method(s) magic" in capsys.readouterr().err


def test_layers_command(capsys):
    assert main(["layers", "resnet18"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "* layer4" in lines and "  layer4.1.conv2 conv" in lines
    assert main(["layers", "resnet18", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["default"] == "layer4" and "layer4.1.conv2" in data["convs"]


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "suny" in capsys.readouterr().out


def test_methods_are_drawn_beside_suny(tmp_path):
    out = tmp_path / "out"
    code = main(["explain", *FAST, "--cause", "filter", "--methods", "gradcam,cexcnn", "--out", str(out)])
    assert code == 0
    folder = out / "chelsea"
    assert (folder / "comparison.png").is_file()
    with np.load(folder / "methods.npz") as arrays:
        assert set(arrays.files) == {"gradcam", "cexcnn"}
        assert arrays["gradcam"].shape == (224, 224) and arrays["gradcam"].max() == 1
    summary = json.loads((folder / "summary.json").read_text())
    assert "gradcam" in json.dumps(summary)


def test_several_targets_are_explained_side_by_side(tmp_path, capsys):
    """``--target top2,281``: the two most probable classes and class 281, each once (the cat's top
    two are tiger cat 282 and Egyptian cat 285? whatever they are, 281 is added only when not among
    them); files per class, classes.png, one CSV row per class."""
    out = tmp_path / "out"
    args = ["explain", "--layer", "_blocks.0", "--cause", "filter", "--target", "top2", "--target", "281"]
    assert main([*args, "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "explanations.csv").open()))
    targets = [int(r["target"]) for r in rows]
    assert len(targets) == len(set(targets)) and 281 in targets and len(targets) in (2, 3)
    folder = out / "chelsea"
    assert (folder / "classes.png").is_file()
    for target in targets:
        assert (folder / f"filter-class{target}.npz").is_file()
    summary = json.loads((folder / "summary.json").read_text())
    assert [e["summary"]["target"] for e in summary["explanations"]] == targets
    assert main(["explain", "--target", " , ", "--out", str(tmp_path / "none")]) == 2
    assert "--target names no class" in capsys.readouterr().err


def test_version(capsys):
    import suny

    with pytest.raises(SystemExit) as exit_status:
        main(["--version"])
    assert exit_status.value.code == 0
    assert capsys.readouterr().out.strip() == f"suny {suny.__version__}"
