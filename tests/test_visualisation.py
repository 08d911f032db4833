"""The 2-D colormap, overlays, figures, concept tables and the HTML report (suny.visualisation)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

from suny.errors import SunyError
from suny.method.explanation import Explanation
from suny.visualisation import (
    DEFAULT_COLORMAP,
    ClassScore,
    ComparisonRow,
    bivariate_rgba,
    comparison_figure,
    explanation_figure,
    importance_rgba,
    legend_square,
    load_concepts,
    overlay_bivariate,
    overlay_heatmap,
    overlay_importance,
    textual_explanation,
    to_rgb_array,
    write_explanation_report,
)

CORNERS = {
    (0.0, 0.0): DEFAULT_COLORMAP.none,
    (1.0, 0.0): DEFAULT_COLORMAP.necessity,
    (0.0, 1.0): DEFAULT_COLORMAP.sufficiency,
    (1.0, 1.0): DEFAULT_COLORMAP.both,
}


def rgb255(rgba: np.ndarray) -> tuple[int, ...]:
    return tuple(int(v) for v in np.round(np.asarray(rgba)[..., :3] * 255))


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Relative luminance of uint8 sRGB colours (..., 3)."""
    c = np.asarray(rgb, dtype=np.float64) / 255
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return linear @ np.array([0.2126, 0.7152, 0.0722])


def make_explanation(
    cause: str = "filter", size: int = 16, target_name: str = "tiger cat", stderr_nan: bool = False
) -> Explanation:
    """A small hand-made explanation: 6 causes, necessity on the left half, sufficiency on the top."""
    n_map = torch.zeros(size, size)
    n_map[:, : size // 2] = 1.0
    s_map = torch.zeros(size, size)
    s_map[: size // 2, :] = 1.0
    necessity = torch.tensor([0.0, 0.5, 0.0, 0.25, 0.0, 0.125], dtype=torch.float64)
    sufficiency = torch.tensor([0.3, 0.0, 0.2, 0.0, 0.1, 0.0], dtype=torch.float64)
    stderr = torch.full((6,), float("nan"), dtype=torch.float64) if stderr_nan else necessity / 10
    return Explanation(
        necessity_map=n_map,
        sufficiency_map=s_map,
        combined_map=(n_map + s_map) / 2,
        target=282,
        target_name=target_name,
        probability=0.75,
        necessity_effects=torch.linspace(0.1, 0.6, 6, dtype=torch.float64),
        sufficiency_effects=torch.linspace(0.9, 0.4, 6, dtype=torch.float64),
        necessary_set=[1, 3, 5],
        sufficient_set=[0, 2, 4],
        necessity=necessity,
        necessity_stderr=stderr,
        sufficiency=sufficiency,
        sufficiency_stderr=sufficiency / 10,
        layer="features.3",
        cause=cause,
        seed=0,
        forward_passes=42,
        combination="sum",
        model_name="toy",
        seconds=1.5,
        game_values={"necessity_full": 0.9, "necessity_empty": 0.0},
    )


def random_image(size: int = 16) -> torch.Tensor:
    return torch.rand(3, size, size, generator=torch.Generator().manual_seed(0))


# ----------------------------------------------------------------------------------- colormap
@pytest.mark.parametrize(("point", "colour"), list(CORNERS.items()))
def test_corner_colours_are_exact(point, colour):
    rgba = bivariate_rgba(np.array(point[0]), np.array(point[1]))
    assert rgb255(rgba) == colour
    assert rgba[3] == pytest.approx(max(point))


def test_alpha_is_max_of_necessity_and_sufficiency_so_low_pixels_are_transparent():
    n = torch.tensor([0.0, 0.05, 0.02, 0.7, 0.1])
    s = torch.tensor([0.0, 0.02, 0.04, 0.1, 0.9])
    alpha = bivariate_rgba(n, s)[..., 3]
    np.testing.assert_allclose(alpha, np.maximum(n.numpy(), s.numpy()), atol=1e-7)
    assert alpha[0] == 0 and alpha[1] <= 0.05 and alpha[2] <= 0.05


def test_one_dimensional_maps_lie_on_the_diagonal_or_an_axis():
    m = np.linspace(0, 1, 11)
    np.testing.assert_array_equal(importance_rgba(m), bivariate_rgba(m, m))
    np.testing.assert_array_equal(importance_rgba(m, "necessity"), bivariate_rgba(m, np.zeros(11)))
    np.testing.assert_array_equal(importance_rgba(m, "sufficiency"), bivariate_rgba(np.zeros(11), m))
    assert rgb255(importance_rgba(np.array(1.0))) == DEFAULT_COLORMAP.both
    assert rgb255(importance_rgba(np.array(0.0))) == DEFAULT_COLORMAP.none
    with pytest.raises(SunyError, match="unknown axis"):
        importance_rgba(m, "sideways")


def test_lightness_falls_along_the_diagonal_and_both_axes():
    m = np.linspace(0, 1, 21)
    zero = np.zeros_like(m)
    for n, s in ((m, m), (m, zero), (zero, m)):
        y = luminance(np.round(bivariate_rgba(n, s)[..., :3] * 255))
        assert np.all(np.diff(y) < 0)


def test_the_two_single_kinds_have_distinct_hues():
    necessity, sufficiency = (np.array(c, dtype=float) for c in (CORNERS[(1, 0)], CORNERS[(0, 1)]))
    assert necessity[2] > necessity[0]  # bluish
    assert sufficiency[0] > sufficiency[2]  # reddish


def test_bad_maps_are_rejected():
    with pytest.raises(SunyError, match="NaN"):
        bivariate_rgba(np.array([np.nan]), np.array([0.0]))
    with pytest.raises(SunyError, match="differ in shape"):
        bivariate_rgba(np.zeros(3), np.zeros(4))


def test_legend_square_orientation():
    square = legend_square(64)
    assert square.shape == (64, 64, 3) and square.dtype == np.uint8
    assert tuple(square[-1, 0]) == DEFAULT_COLORMAP.none  # bottom left: low on both
    assert tuple(square[-1, -1]) == DEFAULT_COLORMAP.necessity  # necessity grows to the right
    assert tuple(square[0, 0]) == DEFAULT_COLORMAP.sufficiency  # sufficiency grows upwards
    assert tuple(square[0, -1]) == DEFAULT_COLORMAP.both
    bottom_row = luminance(square[-1])
    left_column = luminance(square[::-1, 0])
    # darker the further from the low/low corner (the first steps round to white)
    assert np.all(np.diff(bottom_row) <= 0) and np.all(np.diff(left_column) <= 0)
    assert bottom_row[8] < bottom_row[0] and left_column[8] < left_column[0]


# ------------------------------------------------------------------------------------ overlays
def test_image_conversions_agree():
    image = random_image()
    array = to_rgb_array(image)
    assert array.shape == (16, 16, 3) and array.dtype == np.uint8
    np.testing.assert_array_equal(to_rgb_array(image[None]), array)
    np.testing.assert_array_equal(to_rgb_array(Image.fromarray(array)), array)
    np.testing.assert_array_equal(to_rgb_array(array.astype(np.float32) / 255), array)
    with pytest.raises(SunyError, match="shape"):
        to_rgb_array(torch.zeros(1, 16, 16))


def test_bivariate_overlay_keeps_the_image_where_the_map_is_transparent():
    image = random_image()
    n = torch.zeros(16, 16)
    s = torch.zeros(16, 16)
    n[:4, :4] = 1.0
    s[:4, 4:8] = 1.0
    out = overlay_bivariate(image, n, s, opacity=1.0)
    base = to_rgb_array(image)
    np.testing.assert_array_equal(out[8:], base[8:])
    np.testing.assert_array_equal(out[:4, 8:], base[:4, 8:])
    assert {tuple(p) for p in out[:4, :4].reshape(-1, 3)} == {DEFAULT_COLORMAP.necessity}
    assert {tuple(p) for p in out[:4, 4:8].reshape(-1, 3)} == {DEFAULT_COLORMAP.sufficiency}
    half = overlay_bivariate(image, n, s, opacity=0.5)[:4, :4].astype(int)
    expected = (base[:4, :4].astype(float) + np.array(DEFAULT_COLORMAP.necessity)) / 2
    assert np.abs(half - expected).max() <= 1


def test_overlays_resize_maps_to_the_image():
    image = random_image(16)
    small = torch.zeros(8, 8)
    out = overlay_importance(image, small)
    np.testing.assert_array_equal(out, to_rgb_array(image))
    full = overlay_importance(image, torch.ones(1, 8, 8), opacity=1.0)
    assert {tuple(p) for p in full.reshape(-1, 3)} == {DEFAULT_COLORMAP.both}


def test_plain_heatmap_overlay_blends_at_constant_alpha():
    image = random_image()
    values = torch.linspace(0, 1, 16).repeat(16, 1)
    np.testing.assert_array_equal(overlay_heatmap(image, values, alpha=0.0), to_rgb_array(image))
    heat = overlay_heatmap(image, values, alpha=1.0)
    assert not np.array_equal(heat[:, 0], heat[:, -1])  # the colour follows the value
    np.testing.assert_array_equal(heat[0], heat[5])  # and nothing else


# ------------------------------------------------------------------------------------- figures
def test_explanation_figure_panels_and_title():
    e = make_explanation()
    figure = explanation_figure(random_image(), e)
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[:2] == ["image", "necessity × sufficiency"]
    assert {"necessity (N)", "sufficiency (S)", "combined (sum)"} <= set(titles)
    legend = figure.axes[2]
    assert "necessity" in legend.get_xlabel() and "sufficiency" in legend.get_ylabel()
    assert "tiger cat (class 282), p = 0.750" in figure.get_suptitle()


def test_comparison_grid_has_one_panel_per_method():
    e = make_explanation()
    maps = {"Grad-CAM": torch.rand(16, 16), "RISE": torch.rand(16, 16)}
    rows = [
        ComparisonRow(random_image(), {**maps, "SUNY": e}, seconds={"Grad-CAM": 0.02}),
        ComparisonRow(random_image(), {"Grad-CAM": torch.rand(16, 16), "SUNY": e}, label="second row"),
    ]
    figure = comparison_figure(rows)
    names = [ax.get_title().split("\n")[0] for ax in figure.axes if ax.get_title()]
    assert names.count("Grad-CAM") == 2 and names.count("SUNY") == 2 and names.count("RISE") == 1
    titles = {ax.get_title() for ax in figure.axes}
    assert "Grad-CAM\n20 ms" in titles and "SUNY\n1.50 s" in titles and "RISE" in titles
    labels = [ax.get_ylabel() for ax in figure.axes if ax.get_ylabel() and not ax.get_xlabel()]
    assert labels == ["tiger cat\np = 0.75", "second row"]
    assert sum(1 for ax in figure.axes if ax.get_xlabel() == "necessity →") == 1  # one legend


def test_comparison_grid_draws_suny_in_2d_and_every_other_map_as_a_jet_heatmap():
    """A 1-D map of 1 on the left half and 0 on the right, over a grey image: at half opacity the
    left half is grey blended with jet's top (dark red, RGB (0.5, 0, 0)) and the right half with its
    bottom (dark blue, (0, 0, 0.5)), as pytorch-grad-cam's ``show_cam_on_image`` draws it."""
    e = make_explanation()
    grey = np.full((16, 16, 3), 128, dtype=np.uint8)
    halves = torch.zeros(16, 16)
    halves[:, :8] = 1.0
    figure = comparison_figure([ComparisonRow(grey, {"other": halves, "SUNY": e})], legend=False)
    drawn = {ax.get_title().split("\n")[0]: ax.images[0].get_array() for ax in figure.axes}
    np.testing.assert_array_equal(drawn["SUNY"], overlay_bivariate(grey, e.necessity_map, e.sufficiency_map))
    jet = matplotlib.colormaps["jet"]
    left, right = (np.round((128 / 255 * 0.5 + np.array(jet(v)[:3]) * 0.5) * 255) for v in (1.0, 0.0))
    np.testing.assert_allclose(drawn["other"][:, :8].reshape(-1, 3), np.tile(left, (128, 1)), atol=1)
    np.testing.assert_allclose(drawn["other"][:, 8:].reshape(-1, 3), np.tile(right, (128, 1)), atol=1)
    assert left[0] - left[2] >= 60 and right[2] - right[0] >= 60  # reddish left, bluish right


def test_the_2d_legend_goes_only_with_suny_panels_and_the_colour_bar_only_with_heatmaps():
    e = make_explanation()
    image = random_image()

    def legends(methods: dict) -> tuple[int, int]:
        figure = comparison_figure([ComparisonRow(image, methods)])
        squares = sum(1 for ax in figure.axes if ax.get_xlabel() == "necessity →")
        bars = sum(1 for ax in figure.axes if not ax.get_title() and not ax.get_xlabel() and not ax.images)
        return squares, bars

    assert legends({"SUNY": e}) == (1, 0)
    assert legends({"Grad-CAM": torch.rand(16, 16)}) == (0, 1)
    assert legends({"Grad-CAM": torch.rand(16, 16), "SUNY": e}) == (1, 1)


# ------------------------------------------------------------------------------ concept tables
def test_concepts_from_csv_json_and_network_dissection(tmp_path):
    plain = tmp_path / "concepts.csv"
    plain.write_text("unit,concept\n5,fur\n126,stripes\n", encoding="utf-8")
    assert load_concepts(plain) == {5: "fur", 126: "stripes"}
    tally = tmp_path / "tally.csv"
    tally.write_text("unit,category,label,score\n127,texture,striped,0.12\n6,object,cat,0.08\n")
    assert load_concepts(tally) == {126: "striped", 5: "cat"}  # NetDissect numbers units from 1
    assert load_concepts(tally, unit_base=0) == {127: "striped", 6: "cat"}
    as_json = tmp_path / "concepts.json"
    as_json.write_text(json.dumps({"126": "stripes", "5": "fur"}))
    assert load_concepts(as_json) == {126: "stripes", 5: "fur"}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.csv", "unit,score\n1,0.5\n", "header must name"),
        ("b.csv", "unit,concept\nfive,fur\n", "line 2: the unit 'five' is not a whole number"),
        ("c.csv", "unit,concept\n5,\n", "line 2: the concept name '' is empty"),
        ("d.csv", "unit,concept\n5,fur\n5,eye\n", "line 3: unit 5 is named twice"),
        ("e.csv", "unit,concept\n", "empty"),
        ("f.csv", "unit,concept\n-1,fur\n", "below the first unit"),
        ("g.json", "{not json", "not valid JSON"),
        ("h.json", '["fur", "eye"]', "expected a JSON object"),
        ("i.json", '{"x": "fur"}', "not a whole number"),
    ],
)
def test_malformed_concept_tables_raise_a_clear_error(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SunyError, match=re.escape(message)) as info:
        load_concepts(path)
    assert str(path) in str(info.value)


def test_missing_concept_table(tmp_path):
    with pytest.raises(SunyError, match="no such concept table"):
        load_concepts(tmp_path / "nowhere.csv")


# ---------------------------------------------------------------------------------------- text
def test_textual_explanation_names_top_causes_and_concepts():
    e = make_explanation()
    text = textual_explanation(e, {1: "stripes", 0: "fur"}, count=2)
    assert text == (
        "The decision for 'tiger cat' needs filters 1 (stripes) and 3, and is sufficiently supported "
        "by filters 0 (fur) and 2 (layer features.3)."
    )
    single = textual_explanation(make_explanation(cause="feature"), count=1)
    assert "needs feature map 1," in single and "by feature map 0 " in single


def test_textual_explanation_without_positive_causes():
    e = make_explanation()
    e.necessity = torch.zeros(6, dtype=torch.float64)
    assert "needs no single filter" in textual_explanation(e)


# -------------------------------------------------------------------------------------- report
EXPECTED_PER_CAUSE = ["bivariate.png", "necessity.png", "sufficiency.png", "combined.png", "figure.png"]


def test_report_writes_every_promised_file_and_round_trips(tmp_path):
    feature, filters = make_explanation("feature"), make_explanation("filter")
    predictions = [ClassScore(282, "tiger cat", 0.75), ClassScore(281, "tabby", 0.2)]
    summary = write_explanation_report(
        tmp_path / "out",
        random_image(),
        [feature, filters],
        predictions=predictions,
        methods={"Grad-CAM": torch.rand(16, 16)},
        method_seconds={"Grad-CAM": 0.5},
    )
    out = tmp_path / "out"
    expected = {"image.png", "summary.json", "index.html", "comparison.png", "methods.npz"}
    for cause in ("feature", "filter"):
        expected |= {f"{cause}-{name}" for name in EXPECTED_PER_CAUSE} | {f"{cause}.npz"}
    assert set(summary["files"]) == expected
    assert {p.name for p in out.iterdir()} == expected
    assert all((out / name).stat().st_size > 0 for name in expected)
    for name in expected:
        if name.endswith(".png"):
            Image.open(out / name).verify()

    loaded = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert loaded == summary
    assert loaded["explanations"][0]["summary"] == feature.summary()
    assert loaded["explanations"][1]["summary"] == filters.summary()
    assert loaded["prediction"] == {"index": 282, "name": "tiger cat", "probability": 0.75}
    assert loaded["methods"] == {"Grad-CAM": {"seconds": 0.5}}
    with np.load(out / "filter.npz") as maps:
        np.testing.assert_array_equal(maps["necessity_map"], filters.necessity_map.numpy())
        np.testing.assert_array_equal(maps["necessary_set"], filters.necessary_set)
    with np.load(out / "methods.npz") as maps:
        assert maps["Grad-CAM"].shape == (16, 16)


def test_report_html_names_the_class_and_top_causes_with_concepts(tmp_path):
    e = make_explanation(target_name="tiger <cat>")
    write_explanation_report(tmp_path, random_image(), [e], concepts={1: "stripes", 3: "fur & whiskers"})
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "tiger &lt;cat&gt;" in page and "tiger <cat>" not in page  # escaped
    assert "<th>concept</th>" in page
    assert re.search(r"<td>1</td><td>1</td><td class=\"name\">stripes</td><td>0\.5</td>", page)
    assert "fur &amp; whiskers" in page
    assert "needs filters 1 (stripes), 3 (fur &amp; whiskers) and 5" in page
    for src in re.findall(r'<img [^>]*src="([^"]+)"', page):
        assert (tmp_path / src).is_file()
    assert "http" not in page  # self-contained: nothing fetched from elsewhere

    write_explanation_report(tmp_path / "plain", random_image(), [e])
    assert "<th>concept</th>" not in (tmp_path / "plain" / "index.html").read_text(encoding="utf-8")


def test_report_writes_valid_json_when_a_standard_error_is_nan(tmp_path):
    write_explanation_report(tmp_path, random_image(), [make_explanation(stderr_nan=True)])

    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    loaded = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"), parse_constant=refuse)
    assert loaded["explanations"][0]["summary"]["necessity_stderr"] == [None] * 6
    assert loaded["explanations"][0]["top_causes"]["necessity"][0]["stderr"] is None


def test_report_refuses_two_explanations_of_one_cause_type(tmp_path):
    with pytest.raises(SunyError, match="one explanation per cause type"):
        write_explanation_report(tmp_path, random_image(), [make_explanation(), make_explanation()])
    with pytest.raises(SunyError, match="at least one explanation"):
        write_explanation_report(tmp_path, random_image(), [])


# ------------------------------------------------------------------------------ real browser
def find_chromium() -> str | None:
    return next(
        (path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))),
        None,
    )


def run_chromium(browser: str, *args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        command = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture
def chromium() -> str:
    browser = find_chromium()
    if browser is None:
        pytest.skip("headless Chromium is not installed (apt-get install -y chromium)")
    return browser


def test_report_renders_in_a_real_browser(tmp_path, chromium):
    size = 64
    write_explanation_report(
        tmp_path, random_image(size), [make_explanation(size=size)], concepts={1: "stripes"}
    )
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    # A copy of the page that records, once everything has loaded, whether each picture decoded.
    probe = (
        "<script>window.addEventListener('load', () => { document.body.dataset.images = "
        "JSON.stringify([...document.images].map(i => [i.getAttribute('src'), i.complete && "
        "i.naturalWidth > 0])); });</script></body>"
    )
    (tmp_path / "probe.html").write_text(page.replace("</body>", probe), encoding="utf-8")
    dom = run_chromium(
        chromium, "--virtual-time-budget=10000", "--dump-dom", (tmp_path / "probe.html").as_uri()
    ).stdout
    assert "tiger cat" in dom and "stripes" in dom
    match = re.search(r'data-images="([^"]*)"', dom)
    assert match, "the page's load event never fired"
    images = json.loads(match.group(1).replace("&quot;", '"'))
    assert len(images) == 5 and all(ok for _, ok in images), images

    shot = tmp_path / "shot.png"
    run_chromium(
        chromium, "--window-size=1000,1400", f"--screenshot={shot}", (tmp_path / "index.html").as_uri()
    )
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float64)
    assert pixels.std() > 20  # not blank
    saturated = pixels.max(axis=-1) - pixels.min(axis=-1) > 80
    assert saturated.sum() > 20000  # the pictures are on screen, not only text


# --------------------------------------------------------------------------- the real method
@pytest.mark.slow
def test_report_of_a_real_suny_filter_explanation(tmp_path):
    from suny.data import sample_image
    from suny.method.suny import Suny
    from suny.models import load_model
    from suny.visualisation import top_predictions

    model = load_model()
    image = model.preprocess(sample_image())
    explanation = Suny(model, cause="filter").explain(image)
    predictions = top_predictions(model, image)
    summary = write_explanation_report(tmp_path, image, [explanation], predictions=predictions)
    assert predictions[0].index == explanation.target
    assert summary["prediction"]["name"] == explanation.target_name
    assert len(summary["top_classes"]) == 5
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert explanation.target_name in page
    for k in explanation.top_causes("necessity", 5):
        assert f"<td>{k}</td>" in page
