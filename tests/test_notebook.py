"""Explanations in notebooks: Jupyter's display, ``save`` and the arrays, without an import circle."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers.models import patch_classifier, patches

from suny import Explanation, Suny
from suny.errors import SunyError
from suny.method import explanation as explanation_module
from suny.notebook import explanation_html, explanation_png


@pytest.fixture(scope="module")
def explanation() -> Explanation:
    return Suny(patch_classifier(), "layer").explain(patches(), 0)


def test_png_is_the_picture_of_the_maps_over_the_photo(explanation):
    """The explanation keeps a thumbnail of the image it explained, and Jupyter's picture draws the
    maps over it: the same picture as over the image itself, not the colours over white."""
    png = explanation._repr_png_()
    assert isinstance(png, bytes) and png.startswith(b"\x89PNG")
    assert explanation.thumbnail is not None
    np.testing.assert_array_equal(explanation.thumbnail, (patches()[0].permute(1, 2, 0) * 255).byte().numpy())
    assert png == explanation_png(explanation, patches()[0])
    assert png != explanation_png(replace(explanation, thumbnail=None))


def test_the_thumbnail_of_a_large_image_is_small():
    from suny.method.explanation import THUMBNAIL_SIDE, thumbnail

    small = thumbnail(torch.rand(3, 600, 300))
    assert small.shape == (THUMBNAIL_SIDE, THUMBNAIL_SIDE // 2, 3) and small.dtype == np.uint8
    assert thumbnail(torch.rand(1, 3, 20, 30)).shape == (20, 30, 3)


def test_html_shows_the_class_the_picture_and_the_top_causes(explanation):
    html = explanation._repr_html_()
    assert html is not None
    assert f"<b>{explanation.target_name}</b> (class 0)" in html
    assert '<img src="data:image/png;base64,' in html
    assert "R_N" in html and "R_S" in html and "± s.e." in html
    top = explanation.top_causes("necessity", 1)[0]
    assert f'<td class="name">{top}</td><td>{float(explanation.necessity[top]):.3g}</td>' in html
    assert "(stripes)" in explanation_html(explanation, concepts={top: "stripes"})


@pytest.mark.parametrize("with_image", [True, False])
def test_save_writes_what_suny_explain_writes(explanation, tmp_path, with_image):
    saved = explanation.save(tmp_path / "out", patches()[0] if with_image else None)
    for name in ("summary.json", "index.html", "feature.npz", "image.png", "feature-bivariate.png"):
        assert (tmp_path / "out" / name).is_file(), name
        assert name in saved["files"]
    assert saved["folder"] == str(tmp_path / "out") and len(repr(saved)) < 1000  # a cell echoes it
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["explanations"][0]["summary"]["target"] == explanation.target
    assert "thumbnail" not in summary["explanations"][0]["summary"]
    with np.load(tmp_path / "out" / "feature.npz") as arrays:
        np.testing.assert_array_equal(arrays["combined_map"], explanation.combined_map.numpy())


def test_arrays_and_devices(explanation):
    arrays = explanation.numpy()
    assert set(arrays) == {
        "necessity_map",
        "sufficiency_map",
        "combined_map",
        "necessity_effects",
        "sufficiency_effects",
        "necessity",
        "necessity_stderr",
        "sufficiency",
        "sufficiency_stderr",
    }
    assert all(a.dtype == np.float32 for a in arrays.values())
    assert arrays["necessity_map"].shape == tuple(explanation.necessity_map.shape)
    moved = explanation.to("cpu")
    assert moved.target == explanation.target and torch.equal(moved.combined_map, explanation.combined_map)


def test_without_a_renderer_jupyter_falls_back_and_save_says_why(explanation, tmp_path):
    previous = explanation_module.set_display(None)
    try:
        assert explanation._repr_png_() is None and explanation._repr_html_() is None
        with pytest.raises(SunyError, match=r"suny\.notebook"):
            explanation.save(tmp_path)
    finally:
        explanation_module.set_display(previous)


def test_matplotlib_is_imported_only_when_a_picture_is_drawn():
    code = (
        "import sys, suny.method.explanation as e; import suny\n"
        "assert e._display is not None\n"
        "assert 'matplotlib' not in sys.modules and 'suny.visualisation' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
