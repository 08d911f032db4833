"""``suny report`` on hand-made stores: the aggregation (mean over an image's classes, then over
images), best and second best in the right direction, n per cell, the three table formats, the
curves, the gallery and the HTML page, and several stores read as one."""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import numpy as np
import pytest

from suny.benchmark.records import ExplanationKey, RowKey, Score, png_bytes
from suny.benchmark.store import ResultStore
from suny.cli.main import main
from suny.report import open_results, summarise, write_results_report
from suny.report.appendix import verdict_rows
from suny.report.paired import (
    DECISIVE_ERRORS,
    FEW_IMAGES,
    bootstrap_ratio_difference,
    decided,
    decisive_errors,
)
from suny.report.rows import Cell, row_labels, superseded_rows

#: method -> image -> class -> (deletion, insertion, flip, size, pointing)
VALUES = {
    "gradcam": {
        "a": {1: (0.2, 0.6, 1, 0.5, 0.9), 2: (0.4, 0.8, 0, 0.5, None)},
        "b": {3: (0.5, 0.5, 1, 1.0, 0.3)},
    },
    "rise": {
        "a": {1: (0.1, 0.5, 0, 0.2, 0.5), 2: (0.1, 0.5, 0, 0.2, 0.5)},
        "b": {3: (0.1, 0.4, 0, 0.2, 0.4)},
    },
    "suny": {
        "a": {1: (0.3, 0.9, 1, 0.25, 0.7), 2: (0.3, 0.9, 1, 0.25, 0.7)},
        "b": {3: (0.2, 0.9, 1, 0.25, 0.8)},
    },
}
SETTINGS = {"step": 2, "pixels": 4, "sanity_layers": ["fc", "conv"], "layer": "conv", "precision": "float32"}
#: The methods' resolved settings as a run records them (RISE's as a store written before they were).
METHOD_SETTINGS = {"gradcam": {}, "suny": {"combination": "sum", "set_size": 4}}


def scores(target: int, deletion, insertion, flip, size, pointing) -> list[Score]:
    """The scores of one class as a run stores them, curves included."""
    curve = np.array([1.0, deletion, 0.0], dtype=np.float32)
    return [
        Score(target, "deletion_auc", deletion, 1.0, {"deletion": curve}),
        Score(target, "insertion_auc", insertion, 1.0, {"insertion": 1 - curve}),
        Score(target, "attack_flip", flip, 0.5),
        Score(target, "attack_size", size, 0.0),
        Score(target, "pointing", pointing, 0.5),
        Score(target, "sanity_spearman", 0.1, 1.0, {"sanity_spearman": np.array([0.5, 0.1])}),
    ]


def fill(
    path: Path, model: str = "net", images: tuple[str, ...] = ("a", "b"), suny_options=None, values=VALUES
) -> None:
    with ResultStore(path) as store:
        run = store.start_run("host", 0, 1, "cpu", ["suny", "bench"], 500.0)
        for method, per_image in values.items():
            options = suny_options if method == "suny" and suny_options else {}
            config = f"{method}-{model}-{len(options)}"
            recorded = (
                {"method_settings": METHOD_SETTINGS[method] | options} if method in METHOD_SETTINGS else {}
            )
            store.add_config(config, model, method, SETTINGS | recorded | {"method_options": options})
            for image in images:
                key = ExplanationKey("set", image, model, method, 0, config)
                if image == "a":
                    store.add_image("set", image, model, png_bytes(np.full((4, 4, 3), 90, np.uint8)))
                for target, values in per_image[image].items():
                    store.add_scores(key, scores(target, *values), run)
                    picture = png_bytes(np.eye(4, dtype=np.float32)) if image == "a" else None
                    store.add_explanation(key, target, 2.0, picture, run)
        store.finish_run(run, 2, 6, 0, 510.0)


def cells(path: Path) -> dict:
    with open_results([path]) as store:
        summary = summarise(store)
    return {(summary.labels[key], key.model): cells for key, cells in summary.cells.items()}


def test_scores_are_means_over_classes_then_images(tmp_path):
    fill(tmp_path / "r.sqlite")
    grad = cells(tmp_path / "r.sqlite")["gradcam", "net"]
    assert grad["deletion_auc"].value == pytest.approx((0.3 + 0.5) / 2) and grad["deletion_auc"].n == 2
    assert grad["overall"].value == pytest.approx((0.4 + 0.0) / 2)
    assert grad["pointing"].value == pytest.approx((0.9 + 0.3) / 2)  # class 2 has no box
    assert grad["attack_flip"].value == pytest.approx(0.75) and grad["attack_size"].value == pytest.approx(
        0.75
    )
    assert grad["attack_score"].value == pytest.approx(1.0)
    assert grad["explain_seconds"].value == pytest.approx((4.0 + 2.0) / 2)  # 2 s per class
    # 3 s per class for the grid's metrics; the sanity check's second is not the grid's cost
    assert grad["metric_seconds"].value == pytest.approx((2 * 3.0 + 3.0) / 2)
    assert grad["total_seconds"].value == pytest.approx(7.5)
    assert cells(tmp_path / "r.sqlite")["rise", "net"]["attack_score"].value == 0.0


def test_paired_differences_against_suny_by_hand(tmp_path):
    fill(tmp_path / "r.sqlite")
    grad = cells(tmp_path / "r.sqlite")["gradcam", "net"]
    # per image: suny overall 0.6, 0.7; gradcam 0.4, 0.0 -> d = 0.2, 0.7
    overall = grad["paired_overall"]
    assert overall.value == pytest.approx(0.45) and overall.error == pytest.approx(0.25)
    assert (overall.wins, overall.n) == (2, 2)
    # deletion, lower is better: d = gradcam - suny = 0.0, 0.3 -> one win, a tie does not count
    deletion = grad["paired_deletion_auc"]
    assert deletion.value == pytest.approx(0.15) and deletion.error == pytest.approx(0.15)
    assert deletion.wins == 1
    assert "paired_overall" not in cells(tmp_path / "r.sqlite")["suny", "net"]
    written = write_results_report([tmp_path / "r.sqlite"], tmp_path / "out")
    assert "set-paired.csv" in written
    markdown = (tmp_path / "out" / "tables.md").read_text()
    assert "| gradcam | +0.150 ± 0.150 <sub>1/2</sub> |" in markdown
    assert "+0.450 ± 0.250 <sub>2/2</sub>" in markdown
    assert "+0.450 $\\pm$ 0.250" in (tmp_path / "out" / "set-paired.tex").read_text()
    with (tmp_path / "out" / "set-paired.csv").open() as handle:
        rows = {row["method"]: row for row in csv.DictReader(handle)}
    assert (
        rows["gradcam"]["net:paired_overall:se"] == "0.25"
        and rows["gradcam"]["net:paired_overall:wins"] == "2"
    )
    assert set(rows) == {"gradcam", "rise"}


#: Four images, one class each: (deletion, insertion, flip, size, pointing); SUNY's overall 0.6 on each.
VERDICT_VALUES = {
    "suny": {image: {1: (0.3, 0.9, 1, 0.25, 0.7)} for image in "abcd"},
    "rise": {
        image: {1: (deletion, insertion, 1, 0.25, 0.5)}
        for image, deletion, insertion in zip("abcd", (0.1, 0.15, 0.1, 0.15), (0.4, 0.35, 0.2, 0.35))
    },
    "gradcam": {
        image: {1: (0.3, insertion, 1, 0.25, 0.7)} for image, insertion in zip("abcd", (0.8, 0.6, 0.9, 0.5))
    },
}


def test_the_verdict_sorts_methods_by_two_standard_errors_or_students_quantile_on_few_images(tmp_path):
    fill(tmp_path / "r.sqlite", images=tuple("abcd"), values=VERDICT_VALUES)
    with open_results([tmp_path / "r.sqlite"]) as store:
        rows = {row[2]: row[3:] for row in verdict_rows(summarise(store))}
    # overall: rise d = 0.3, 0.4, 0.5, 0.4 -> +0.4 ± 0.041 (9.8 SE, better); gradcam d = 0.1, 0.3, 0, 0.4
    # -> +0.2 ± 0.091: 2.19 SE, which would decide on many images but not on four (t_0.975,3 = 3.18)
    assert rows["Δ Overall"] == ["rise +0.400 ± 0.041 (4/4)", "–", "gradcam +0.200 ± 0.091 (3/4)"]
    # deletion, lower is better: rise - suny = -0.2, -0.15, -0.2, -0.15 -> -0.175 ± 0.014 (worse)
    assert rows["Δ Del"] == ["–", "rise -0.175 ± 0.014 (0/4)", "gradcam +0.000 ± 0.000 (0/4)"]
    # pointing: rise 0.2 lower on every image (no spread: decided however few the images)
    assert rows["Δ Pointing"] == ["rise +0.200 ± 0.000 (4/4)", "–", "gradcam +0.000 ± 0.000 (0/4)"]
    # the attack score, flip 1 on size 0.25 everywhere: 4 for every row, so 0 in every bootstrap draw
    assert rows["Δ Attack score"] == [
        "–",
        "–",
        "gradcam +0.000 [+0.000, +0.000] (4 images); rise +0.000 [+0.000, +0.000] (4 images)",
    ]
    write_results_report([tmp_path / "r.sqlite"], tmp_path / "out")
    markdown = (tmp_path / "out" / "tables.md").read_text()
    assert (
        "| SUNY better (≥ 2 SE; t₀.₉₇₅ SE on ≤ 61 images) | SUNY worse (≥ 2 SE; t₀.₉₇₅ SE on ≤ 61 images) |"
        in (markdown)
    )
    assert (
        "| set | net | Δ Overall | rise +0.400 ± 0.041 (4/4) | – | gradcam +0.200 ± 0.091 (3/4) |" in markdown
    )
    assert markdown.index("## Verdict") < markdown.index("## Settings")


def test_a_difference_is_decided_at_two_standard_errors_or_students_quantile_and_never_without_one():
    assert [decided(Cell(v, 100, 0.1, 0)) for v in (0.2, 0.19, -0.2, -0.19)] == [1, 0, -1, 0]
    # t_0.975 with n - 1 degrees of freedom: 12.71 on 2 images, 2.26 on 10, 2.0003 on 61, under 2 on 62
    assert [decided(Cell(v, 2, 0.1, 0)) for v in (1.27, 1.28, -1.28)] == [0, 1, -1]
    assert [decided(Cell(v, 10, 0.1, 0)) for v in (0.22, 0.23)] == [0, 1]
    assert (
        decided(Cell(0.20001, FEW_IMAGES, 0.1, 0)) == 0
        and decided(Cell(0.20001, FEW_IMAGES + 1, 0.1, 0)) == 1
    )
    assert decisive_errors(FEW_IMAGES) > DECISIVE_ERRORS == decisive_errors(FEW_IMAGES + 1)
    assert decided(Cell(0.5, 1, math.nan, 1)) == 0 and decided(Cell(0.5, 1)) == 0
    assert (
        decided(Cell(0.0, 9, 0.0, 0)) == 0 and decided(Cell(0.1, 9, 0.0, 9)) == 1
    )  # identical maps; all equal


def test_the_attack_score_bootstrap_by_hand():
    """Two images, resampled: each draw takes (0, 0), (1, 1), (0, 1) or (1, 0), each with chance 1/4.
    SUNY flips (1, 0) on sizes (0.5, 0.5): attack scores 2, 0, 1, 1; the other row's flips equal its
    sizes: 1 in every draw. The differences are +1, -1 (1/4 each) and 0 (1/2): the 95% interval is
    [-1, +1], their standard deviation sqrt(1/2), and the difference on both images is 0."""
    cell = bootstrap_ratio_difference(
        (np.array([1.0, 0.0]), np.array([0.5, 0.5])), (np.array([0.3, 0.4]), np.array([0.3, 0.4]))
    )
    assert cell.value == 0.0 and cell.n == 2 and cell.wins is None
    assert cell.interval == (-1.0, 1.0) and cell.error == pytest.approx(math.sqrt(0.5), abs=0.02)
    assert decided(cell) == 0


def test_the_attack_score_bootstrap_resamples_both_rows_with_the_same_images():
    """Rows equal image by image differ by 0 in every paired draw however much the images vary; a
    row whose flips are twice its sizes on every image beats one whose flips equal them by exactly 1
    in every draw; draws where a mean size is 0 are left out."""
    rng = np.random.default_rng(1)
    flips, sizes = rng.integers(0, 2, 50).astype(float), rng.uniform(0.05, 0.5, 50)
    same = bootstrap_ratio_difference((flips, sizes), (flips, sizes))
    assert same.value == 0.0 and same.interval == (0.0, 0.0) and decided(same) == 0
    twice = bootstrap_ratio_difference((2 * sizes, sizes), (sizes, sizes))
    assert twice.value == pytest.approx(1.0) and twice.interval == pytest.approx((1.0, 1.0))
    assert (
        decided(twice) == 1 and decided(bootstrap_ratio_difference((sizes, sizes), (2 * sizes, sizes))) == -1
    )
    partly_empty = bootstrap_ratio_difference(
        (np.array([0.0, 1.0]), np.array([0.0, 1.0])), (np.ones(2), 2 * np.ones(2))
    )
    assert partly_empty.value == 0.5 and partly_empty.interval == (0.5, 0.5)
    empty = bootstrap_ratio_difference((np.zeros(3), np.zeros(3)), (np.ones(3), np.ones(3)))
    assert math.isnan(empty.value) and empty.interval is None and decided(empty) == 0
    again = bootstrap_ratio_difference((flips, sizes), (sizes, sizes))
    assert again == bootstrap_ratio_difference((flips, sizes), (sizes, sizes))  # seeded
    assert again.interval is not None and again.interval[0] < again.value < again.interval[1]


def test_rows_compare_the_same_images_unless_all_images_are_asked_for(tmp_path):
    """A run stopped early: gradcam has image "c" as well, which the other rows lack."""
    path = tmp_path / "r.sqlite"
    fill(path)
    with ResultStore(path) as store:
        key = ExplanationKey("set", "c", "net", "gradcam", 0, "gradcam-net-0")
        store.add_scores(
            key, [Score(5, "deletion_auc", 0.9, 1.0, {"deletion": np.array([1.0, 0.9, 0.0])})], None
        )
        store.add_explanation(key, 5, 2.0, None, None)
    common = cells(path)["gradcam", "net"]
    assert common["deletion_auc"].value == pytest.approx((0.3 + 0.5) / 2) and common["deletion_auc"].n == 2
    assert common["explain_seconds"].n == 2
    with open_results([path]) as store:
        every = summarise(store, common_images=False)
    grad = next(cells for key, cells in every.cells.items() if key.method == "gradcam")
    assert grad["deletion_auc"].value == pytest.approx((0.3 + 0.5 + 0.9) / 3) and grad["deletion_auc"].n == 3
    assert main(["report", str(path), "--out", str(tmp_path / "all"), "--all-images"]) == 0
    assert "| gradcam | 0.567 <sub>3</sub>" in (tmp_path / "all" / "tables.md").read_text()
    assert main(["report", str(path), "--out", str(tmp_path / "common")]) == 0
    text = (tmp_path / "common" / "tables.md").read_text()
    assert "| gradcam | 0.400 <sub>2</sub>" in text and "compare the same images" in text


def test_tables_mark_best_and_second_in_the_right_direction(tmp_path):
    fill(tmp_path / "r.sqlite")
    written = write_results_report([tmp_path / "r.sqlite"], tmp_path / "out")
    out = tmp_path / "out"
    for name in ("set-fidelity", "set-attack", "set-pointing", "set-sanity", "set-cost"):
        assert f"{name}.csv" in written and (out / f"{name}.tex").is_file()
    with (out / "set-fidelity.csv").open() as handle:
        rows = {row["method"]: row for row in csv.DictReader(handle)}
    assert (
        float(rows["rise"]["net:deletion_auc"]) == pytest.approx(0.1)
        and rows["rise"]["net:deletion_auc:n"] == "2"
    )
    markdown = (out / "tables.md").read_text()
    # deletion: rise 0.1 (best, lower is better), suny 0.25 (second), gradcam 0.4
    assert "| rise | **0.100** <sub>2</sub> | 0.450 <sub>2</sub> | <u>0.350</u> <sub>2</sub> |" in markdown
    assert (
        "| suny | <u>0.250</u> <sub>2</sub> | **0.900** <sub>2</sub> | **0.650** <sub>2</sub> |" in markdown
    )
    assert "| gradcam | 0.400 <sub>2</sub> | <u>0.600</u> <sub>2</sub> | 0.200 <sub>2</sub> |" in markdown
    latex = (out / "set-pointing.tex").read_text()
    assert "suny & \\textbf{0.750} {\\scriptsize(2)}" in latex and "\\underline{0.600}" in latex
    page = (out / "index.html").read_text()
    for picture in (
        "set-net-deletion.png",
        "set-net-insertion.png",
        "set-net-gallery.png",
        "set-net-sanity.png",
    ):
        assert picture in written and (out / picture).stat().st_size > 1000 and picture in page
    assert "<b>0.100</b>" in page and "500 → 510" in page
    # the settings of every row, after the tables
    settings = markdown[markdown.index("## Settings") : markdown.index("## Runs")]
    assert "| set | net | suny | conv | 2 | float32 | – | combination=sum, set_size=4 |" in settings
    assert "| set | net | gradcam | conv | 2 | float32 | – | (none) |" in settings
    assert "| set | net | rise | conv | 2 | float32 | – | – |" in settings
    assert "<h2>Settings</h2>" in page and "combination=sum, set_size=4" in page


def test_the_cost_says_which_device_measured_it(tmp_path):
    path = tmp_path / "r.sqlite"
    fill(path)  # every row on images a and b, by a run on "cpu"
    with ResultStore(path) as store:
        run = store.start_run("other", 0, 1, "CPU Test [AVX2], 1 thread", [], 1.0)
        key = ExplanationKey("set", "b", "net", "gradcam", 0, "gradcam-net-0")
        store.add_explanation(key, 7, 1.0, None, run)  # another class of b, on another machine
        store.add_explanation(key, 8, 1.0, None, None)  # and one whose run was not recorded
        store.add_explanation(
            ExplanationKey("set", "c", "net", "gradcam", 0, "gradcam-net-0"), 1, 1.0, None, run
        )
    with open_results([path]) as store:
        common, every = summarise(store), summarise(store, common_images=False)
    gradcam = RowKey("set", "net", "gradcam", "gradcam-net-0", 0)
    # c is left out of the common images, so of the cost cells, and so of the count
    assert common.devices[gradcam] == {"cpu": 2, "CPU Test [AVX2], 1 thread": 1, "not recorded": 1}
    assert every.devices[gradcam]["CPU Test [AVX2], 1 thread"] == 2
    assert common.devices[RowKey("set", "net", "rise", "rise-net-0", 0)] == {"cpu": 2}
    write_results_report([path], tmp_path / "out")
    markdown = (tmp_path / "out/tables.md").read_text()
    devices = "cpu (2 images); CPU Test [AVX2], 1 thread (1 image); not recorded (1 image)"
    assert f"| set | net | gradcam | {devices} |" in markdown
    assert markdown.index("## Settings") < markdown.index("## Cost measured on") < markdown.index("## Runs")


def test_row_labels_tell_apart_rows_by_the_settings_that_differ_then_by_seed():
    def key(config: str, seed: int = 0, method: str = "suny") -> RowKey:
        return RowKey("set", "net", method, config, seed)

    settings = {
        "old": {"method_options": {}, "method_settings": {"set_size": 4, "combination": "sum"}},
        "new": {"method_options": {}, "method_settings": {"set_size": 16, "combination": "sum"}},
        "set": {"method_options": {"permutations": 8}, "method_settings": {"set_size": 4}},
        "cam": {"method_options": {}, "method_settings": {}},
    }
    keys = [key("old"), key("new"), key("set"), key("cam", 0, "gradcam"), key("cam", 1, "gradcam")]
    assert list(row_labels(keys, settings).values()) == [
        "suny (set_size=4)",  # the defaults of two releases, named by what differs
        "suny (set_size=16)",
        "suny (permutations=8)",  # what its caller set
        "gradcam seed 0",
        "gradcam seed 1",
    ]
    settings["again"] = settings["old"]  # same settings, another configuration: the hash tells
    labels = row_labels([key("old"), key("again"), key("new")], settings)
    assert list(labels.values()) == [
        "suny (set_size=4) #old seed 0",
        "suny (set_size=4) #again seed 0",
        "suny (set_size=16)",
    ]


def test_rows_a_later_release_replaced_are_left_out_and_listed(tmp_path):
    path = tmp_path / "r.sqlite"
    fill(path)
    with ResultStore(path) as store:  # a later release changed SUNY's default combination
        run = store.start_run("host", 0, 1, "cpu", ["suny", "bench"], 600.0)
        settings = SETTINGS | {
            "method_options": {},
            "method_settings": METHOD_SETTINGS["suny"] | {"combination": "product"},
        }
        store.add_config("suny-product", "net", "suny", settings)
        for image, per_class in VALUES["suny"].items():
            key = ExplanationKey("set", image, "net", "suny", 0, "suny-product")
            for target, (_, *others) in per_class.items():
                store.add_scores(key, scores(target, 0.05, *others), run)
    with open_results([path]) as store:
        current, everything = summarise(store), summarise(store, all_configurations=True)
    old, new = RowKey("set", "net", "suny", "suny-net-0", 0), RowKey("set", "net", "suny", "suny-product", 0)
    assert current.superseded == {old: new} and everything.superseded == {}
    assert sorted(current.labels.values()) == ["gradcam", "rise", "suny"]
    assert current.cells[new]["deletion_auc"] == Cell(0.05, 2)
    gradcam = RowKey("set", "net", "gradcam", "gradcam-net-0", 0)
    paired = current.cells[gradcam]["paired_deletion_auc"]  # the new SUNY row is the reference
    assert paired.value == pytest.approx((0.3 + 0.5) / 2 - 0.05)  # Grad-CAM's images: 0.3 and 0.5
    assert sorted(everything.labels.values()) == [
        "gradcam",
        "rise",
        "suny (combination=product)",
        "suny (combination=sum)",
    ]
    assert "paired_deletion_auc" not in everything.cells[gradcam]  # no row is plainly "suny"
    write_results_report([path], tmp_path / "out")
    markdown = (tmp_path / "out/tables.md").read_text()
    assert (
        "| set | net | suny | combination=sum | combination=product | suny-net-0 → suny-product |" in markdown
    )
    assert "suny (combination" not in markdown


def test_only_rows_that_differ_in_defaults_alone_supersede_each_other():
    def key(config: str, seed: int = 0) -> RowKey:
        return RowKey("set", "net", "suny", config, seed)

    defaults = {"step": 2, "method_options": {}}
    settings = {
        "sum": defaults | {"method_settings": {"combination": "sum"}},
        "product": defaults | {"method_settings": {"combination": "product"}},
        "chosen": {
            "step": 2,
            "method_options": {"combination": "sum"},
            "method_settings": {"combination": "sum"},
        },
        "step": defaults | {"step": 4, "method_settings": {"combination": "sum"}},
        "unrecorded": {"step": 2},
    }
    first = {key(c): time for time, c in enumerate(["product", "sum", "chosen", "step", "unrecorded"])}
    first[key("sum", 1)] = 9.0
    rows = [*first]
    assert superseded_rows(rows, settings, first) == {key("product"): key("sum")}  # the later one stays
    assert superseded_rows([key("product"), key("sum", 1)], settings, first) == {}  # another seed
    assert superseded_rows([key("unrecorded"), key("sum")], settings, first) == {}


def test_several_stores_are_read_as_one(tmp_path):
    fill(tmp_path / "a.sqlite", images=("a",))
    fill(tmp_path / "b.sqlite", images=("b",))
    fill(tmp_path / "c.sqlite", model="other", suny_options={"set_size": 4})
    fill(tmp_path / "whole.sqlite")
    paths = [str(tmp_path / f"{n}.sqlite") for n in "abc"]
    assert (
        main(["report", *paths, "--out", str(tmp_path / "out"), "--merge-into", str(tmp_path / "m.sqlite")])
        == 0
    )
    merged, whole = cells(tmp_path / "m.sqlite"), cells(tmp_path / "whole.sqlite")
    assert {k: v for k, v in merged.items() if k[1] == "net"} == whole
    assert merged["suny (set_size=4)", "other"]["deletion_auc"].n == 2
    header = (tmp_path / "out/set-fidelity.csv").read_text().splitlines()[0]
    assert "net:deletion_auc" in header and "other:deletion_auc" in header
    assert main(["report", str(tmp_path / "missing.sqlite")]) == 2


RESULTS = Path(__file__).resolve().parents[1] / "docs/results"


@pytest.fixture
def utc(monkeypatch):
    """The local time zone of the committed report (its runs' start times): UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_committed_store_gives_the_committed_report(tmp_path, utc):
    written = write_results_report([RESULTS / "results.sqlite"], tmp_path)
    assert (tmp_path / "tables.md").read_text(encoding="utf-8") == (RESULTS / "tables.md").read_text(
        encoding="utf-8"
    )
    tables = [name for name in written if name.endswith((".csv", ".tex"))]
    assert tables and sorted(tables) == sorted(
        p.name for p in RESULTS.glob("*.*") if p.suffix in (".csv", ".tex")
    )
    for name in tables:
        assert (tmp_path / name).read_text(encoding="utf-8") == (RESULTS / name).read_text(
            encoding="utf-8"
        ), name
