"""The grid runner on a tiny classifier: what it stores, that a re-run computes nothing twice, that
SUNY-feature's variants share one explanation, that shards unite to the one-process run, and that
memory stays flat over hundreds of images."""

from __future__ import annotations

import gc
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.models import SmallCNN, toy_classifier
from PIL import Image

from suny.benchmark.configuration import GridOptions, ModelEntry, configuration, model_facts, same_results
from suny.benchmark.records import curve_points, from_png
from suny.benchmark.runner import GridRunner, Shard, resident_mib
from suny.benchmark.store import ResultStore
from suny.data import Sample
from suny.engine.hardware import describe_device
from suny.errors import SunyError
from suny.evaluation import Evaluation, ScoringSettings, metric_scores, score_maps
from suny.method.registered import SunyFeatureMethod
from suny.method.suny import DEFAULT_SET_SIZE
from suny.registry import create_method
from suny.report.aggregate import per_image_scores
from suny.report.rows import row_labels

SIZE = 32
STEP = 64  # 17 points per curve at 32 x 32
SUNY_FAST = {"set_size": 3, "permutations": 2}


def toy_entry(size: int = SIZE) -> ModelEntry:
    classes = [f"c{i}" for i in range(10)]
    return ModelEntry("toy", toy_classifier(SmallCNN(), size, mean=0.5, std=0.25, classes=classes))


def write_images(folder: Path, count: int, size: tuple[int, int] = (40, SIZE)) -> list[Path]:
    """``count`` different smooth colour images (40 x 32: the resize and crop do something)."""
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    paths = []
    for i in range(count):
        rng = np.random.default_rng(i)
        a, b, c = rng.uniform(0.02, 0.3, 3)
        picture = np.stack([np.sin(a * x + i), np.cos(b * y - i), np.sin(c * (x + y))], axis=-1)
        path = folder / f"img{i:04d}.png"
        Image.fromarray(((picture + 1) * 127.5).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def labelled(paths: list[Path]) -> list[Sample]:
    """Classes i % 10; image 1 has two classes; image 2's second class has no box."""
    samples = []
    for i, path in enumerate(paths):
        classes = (i % 10, (i + 5) % 10) if i in (1, 2) else (i % 10,)
        boxes = {classes[0]: ((2.0, 3.0, 20.0, 25.0),)}
        if i == 1:
            boxes[classes[1]] = ((10.0, 0.0, 39.0, 15.0),)
        samples.append(Sample(path.stem, path, classes, boxes))
    return samples


def table(path: Path) -> list[tuple]:
    """The results without times and run ids, sorted."""
    with ResultStore(path) as store:
        rows = store.query(
            "SELECT dataset, image_id, class, model, method, metric, seed, config, value FROM results"
        )
    return sorted_rows(rows)


def sorted_rows(rows: list[tuple]) -> list[tuple]:
    return sorted(rows, key=lambda r: tuple("" if v is None else str(v) for v in r))


def run(
    store_path: Path, samples, methods, shard: Shard | None = None, file_same: bool = False, **options
) -> object:
    """The grid on the toy model; ``file_same``: first the explicit step that files the rows of
    configurations with the same results under this release's."""
    options = {
        "step": STEP,
        "batch_size": 32,
        "examples": 2,
        "method_options": {m: SUNY_FAST for m in methods if m.startswith("suny")},
    } | options
    with ResultStore(store_path) as store:
        runner = GridRunner(
            store,
            "toyset",
            samples,
            [toy_entry()],
            methods,
            GridOptions(**options),
            shard or Shard(),
            progress=False,
        )
        if file_same:
            runner.file_same_results()
        return runner.run(command=["test"])


def test_grid_stores_every_result_and_a_rerun_computes_nothing(tmp_path):
    samples = labelled(write_images(tmp_path / "images", 4))
    store_path = tmp_path / "r.sqlite"
    methods = ["gradcam", "suny", "suny-n", "suny-s"]
    totals = run(store_path, samples, methods)
    assert (totals.images, totals.computed, totals.skipped, totals.failed) == (4, 16, 0, 0)
    rows = table(store_path)
    targets = sum(len(s.classes) for s in samples)  # 6
    per_target = ["deletion_auc", "insertion_auc", *metric_scores("attack"), "pointing"]
    assert len(rows) == targets * len(methods) * len(per_target)
    assert {r[5] for r in rows} == set(per_target)
    values = {(r[1], r[2], r[4], r[5]): r[8] for r in rows}
    assert values["img0002", 7, "gradcam", "pointing"] is None  # class 7 of image 2 has no box
    assert values["img0001", 6, "gradcam", "pointing"] is not None  # its second class has one
    finite = [v for v in values.values() if v is not None]
    assert all(0.0 <= v <= 1.0 for v in finite)
    aucs = {v for k, v in values.items() if k[3] == "deletion_auc"}
    assert len(aucs) > 6  # the toy's probabilities depend on the image and the map
    with ResultStore(store_path) as store:
        curves = store.query("SELECT curve, points FROM curves")
        assert len(curves) == targets * len(methods) * 2
        assert {len(curve_points(points)) for _, points in curves} == {17}
        assert store.query("SELECT COUNT(*) FROM explanations")[0][0] == targets * len(methods)
        pictures = store.query("SELECT image_id, map FROM explanations WHERE map IS NOT NULL")
        assert {p[0] for p in pictures} == {"img0000", "img0001"}  # examples: the first 2 images
        assert from_png(pictures[0][1]).shape == (SIZE, SIZE)
        assert store.query("SELECT COUNT(*) FROM images")[0][0] == 2
        created = store.query("SELECT MAX(created) FROM results")[0][0]
        run_row = store.query("SELECT images, computed, finished IS NOT NULL, device FROM runs")
        assert run_row == [(4, 16, 1, describe_device(torch.device("cpu")))]  # the CPU with its capability

    again = run(store_path, samples, methods)
    assert (again.computed, again.skipped) == (0, 4)
    assert table(store_path) == rows
    with ResultStore(store_path) as store:
        assert store.query("SELECT MAX(created) FROM results")[0][0] == created

    # a new metric computes only that metric, for the images chosen
    more = run(store_path, samples, methods, metrics=("deletion", "sanity"), sanity_images=1)
    assert more.computed == len(methods)  # image 0 only
    sanity = [r for r in table(store_path) if r[5].startswith("sanity")]
    assert {(r[1], r[5]) for r in sanity} == {("img0000", "sanity_spearman"), ("img0000", "sanity_ssim")}
    assert len(sanity) == 2 * len(methods)
    assert [r for r in table(store_path) if not r[5].startswith("sanity")] != []
    with ResultStore(store_path) as store:
        steps = store.query("SELECT points FROM curves WHERE curve = 'sanity_spearman'")
        assert {len(curve_points(p)) for (p,) in steps} == {3}  # the toy's 3 parameterised layers


def test_stored_scores_equal_those_of_the_evaluation(tmp_path):
    """``suny bench`` and ``suny evaluate`` score through one function: same values per class."""
    samples = labelled(write_images(tmp_path / "images", 4))
    run(tmp_path / "r.sqlite", samples, ["gradcam"])
    stored = {(r[1], r[2], r[5]): r[8] for r in table(tmp_path / "r.sqlite")}
    evaluation = Evaluation(toy_entry().model, "gradcam", settings=ScoringSettings(step=STEP, batch_size=32))
    for sample in samples:
        evaluation.add(sample)
    per_image = evaluation.per_image()
    for i, sample in enumerate(samples):
        for metric in ("deletion_auc", "insertion_auc", "attack_flip", "attack_size", "pointing"):
            values = [stored[sample.image_id, c, metric] for c in sample.classes]
            expected = np.nan if None in values else np.mean(values)
            np.testing.assert_allclose(float(per_image[metric][i]), expected, rtol=1e-6, err_msg=metric)
    assert np.isnan(float(per_image["pointing"][2]))  # one class of image 2 has no box
    with pytest.raises(SunyError, match="choose from deletion, insertion, attack, pointing"):
        score_maps(toy_entry().model, samples[0], torch.zeros(3, 2, 2), [0], {}, {"gradcam": ["sanity"]})


def test_suny_variants_share_one_explanation_and_match_separate_runs(tmp_path, monkeypatch):
    samples = labelled(write_images(tmp_path / "images", 2))
    calls = []
    from suny.method.suny import Suny

    original = Suny.explain
    monkeypatch.setattr(Suny, "explain", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    run(tmp_path / "shared.sqlite", samples, ["suny", "suny-n", "suny-s"], metrics=("deletion", "attack"))
    assert len(calls) == 2  # one call per image (its classes share it), shared by the three variants
    for name in ("suny-n", "suny-s"):
        run(tmp_path / f"{name}.sqlite", samples, [name], metrics=("deletion", "attack"))
        alone = table(tmp_path / f"{name}.sqlite")
        shared = [r for r in table(tmp_path / "shared.sqlite") if r[4] == name]
        # the same rows; values equal up to float rounding (the curves of the three maps share batches)
        assert [r[:8] for r in alone] == [r[:8] for r in shared]
        np.testing.assert_allclose([r[8] for r in alone], [r[8] for r in shared], rtol=1e-5, atol=1e-7)
    n_maps = {r[8] for r in table(tmp_path / "suny-n.sqlite") if r[5] == "deletion_auc"}
    s_maps = {r[8] for r in table(tmp_path / "suny-s.sqlite") if r[5] == "deletion_auc"}
    assert n_maps != s_maps  # two different maps, not one map three times

    # the sanity check of the first image: one cascade (original + 3 steps) for the three variants,
    # and no explanation beside it since the other metrics are stored
    calls.clear()
    variants = ["suny", "suny-n", "suny-s"]
    run(tmp_path / "shared.sqlite", samples, variants, metrics=("deletion", "sanity"), sanity_images=1)
    assert len(calls) == 4


def test_two_shards_unite_to_the_one_process_run(tmp_path):
    samples = labelled(write_images(tmp_path / "images", 5))
    methods = ["gradcam", "rise"]
    options = {"method_options": {"rise": {"masks": 32, "grid_size": 4}}}
    run(tmp_path / "one.sqlite", samples, methods, **options)
    first = run(tmp_path / "two.sqlite", samples, methods, Shard(0, 2), **options)
    second = run(tmp_path / "two.sqlite", samples, methods, Shard(1, 2), **options)
    assert (first.images, second.images) == (3, 2)
    assert table(tmp_path / "two.sqlite") == table(tmp_path / "one.sqlite")


def test_unlabelled_images_explain_the_predicted_class(tmp_path):
    paths = write_images(tmp_path / "images", 3)
    samples = [Sample(p.stem, p) for p in paths]
    with pytest.raises(SunyError, match="the pointing metric needs boxes"):
        run(tmp_path / "r.sqlite", samples, ["gradcam"])
    run(tmp_path / "r.sqlite", samples, ["gradcam"], metrics=("attack",))
    entry = toy_entry()
    from suny.data import load_image

    predicted = {
        p.stem: int(entry.model.probabilities(entry.model.preprocess(load_image(p))[None]).argmax())
        for p in paths
    }
    stored = {(r[1], r[2]) for r in table(tmp_path / "r.sqlite")}
    assert stored == set(predicted.items())
    again = run(tmp_path / "r.sqlite", samples, ["gradcam"], metrics=("attack",))
    assert again.computed == 0


def test_configuration_hash_follows_what_changes_values(monkeypatch):
    entry = toy_entry()
    facts = model_facts(entry.model, 5)

    def config(method: str = "suny", combination: str = "product", **grid) -> tuple[str, dict]:
        options = GridOptions(**grid)
        own = {"combination": combination} if method.startswith("suny") else {}
        built = create_method(method, entry.model, **own | dict(options.method_options.get(method, {})))
        return configuration(entry, method, options, facts, built.settings_of(method))

    base, settings = config()
    assert (
        settings["pixels"] == SIZE * SIZE
        and settings["layer"] == "layer"
        and len(settings["sanity_layers"]) == 3
        and settings["method_settings"]["set_size"] == DEFAULT_SET_SIZE["feature"]
    )
    same = config(method_options={"suny": {"batch_size": 4}})[0]
    other = config(method_options={"suny": {"set_size": 8}})[0]
    step = config(step=128)[0]
    assert same == base and len({base, other, step}) == 3
    assert config("gradcam")[0] != base
    # the combination decides SUNY's combined map, not N or S
    assert config(combination="sum")[0] != base
    for variant in ("suny-n", "suny-s"):
        assert config(variant, combination="sum") == config(variant)
        assert "combination" not in config(variant)[1]["method_settings"]
    # a release with another default: another configuration, although the caller set nothing
    monkeypatch.setitem(DEFAULT_SET_SIZE, "feature", 8)
    assert config()[0] not in (base, other)
    with pytest.raises(SunyError, match="unknown metrics"):
        GridOptions(metrics=("deletion", "iou"))


def test_another_layer_gives_rows_of_their_own_and_methods_without_one_are_shared(tmp_path):
    """``--layer``: Grad-CAM at ``relu`` (32 x 32, after the first convolution) is another
    configuration than at the default ``layer``, labelled with its layer in the report; RISE has no
    layer, so its rows of the first run serve the second."""
    samples = labelled(write_images(tmp_path / "images", 2))
    path = tmp_path / "r.sqlite"
    rise = {"rise": {"masks": 32, "grid_size": 4}}
    first = run(path, samples, ["gradcam", "rise"], metrics=("deletion",), method_options=rise)
    second = run(path, samples, ["gradcam", "rise"], metrics=("deletion",), method_options=rise, layer="relu")
    assert (first.computed, second.computed) == (4, 2)
    with ResultStore(path) as store:
        settings = store.settings()
        per_image = per_image_scores(store)
    assert sorted(stored["layer"] for stored in settings.values()) == ["layer", "layer", "relu"]
    assert sorted(row_labels(list(per_image), settings).values()) == [
        "gradcam",
        "gradcam (layer=relu)",
        "rise (grid_size=4, masks=32)",
    ]
    default, other = (per_image[key]["deletion_auc"] for key in sorted(per_image) if key.method == "gradcam")
    assert default != other


def old_release_store(path: Path, samples, methods, monkeypatch) -> dict[str, str]:
    """A store written by a release whose suny-n and suny-s configurations still held the
    combination (a setting that does not decide their maps); returns its configuration per method."""
    with monkeypatch.context() as old_release:
        old_release.setattr(SunyFeatureMethod, "ignored_settings", {})
        run(path, samples, methods, metrics=("deletion",))
    return configs_by_method(path)


def configs_by_method(path: Path) -> dict[str, str]:
    with ResultStore(path) as store:
        return {method: config for config, method in store.query("SELECT config, method FROM configs")}


def test_rows_filed_under_a_setting_the_map_ignores_are_moved_not_recomputed(tmp_path, monkeypatch, caplog):
    """The explicit step moves the old release's rows to the configurations of this release (logged),
    and nothing is computed again."""
    caplog.set_level(logging.INFO, logger="suny")
    samples = labelled(write_images(tmp_path / "images", 2))
    variants = ["suny", "suny-n", "suny-s"]
    old_configs = old_release_store(tmp_path / "r.sqlite", samples, variants, monkeypatch)
    before = table(tmp_path / "r.sqlite")
    again = run(tmp_path / "r.sqlite", samples, variants, file_same=True, metrics=("deletion",))
    assert again.computed == 0
    after = table(tmp_path / "r.sqlite")
    with ResultStore(tmp_path / "r.sqlite") as store:
        configs = {(method, config) for config, method in store.query("SELECT config, method FROM configs")}
        curves = {(method, config) for method, config in store.query("SELECT method, config FROM curves")}
    new_configs = {method: config for method, config in configs if config != old_configs[method]}
    assert set(new_configs) == {"suny-n", "suny-s"}  # suny's configuration did not change
    assert configs == {("suny", old_configs["suny"])} | set(new_configs.items())  # the old ones are gone
    assert curves == configs
    assert after == sorted_rows([(*r[:7], new_configs.get(r[4], r[7]), *r[8:]) for r in before])
    moves = [record for record in caplog.records if "moved to" in record.getMessage()]
    assert len(moves) == 2 and {record.name for record in moves} == {"suny.benchmark.configuration"}


def test_building_a_grid_moves_nothing_and_the_step_leaves_no_row_under_the_old_key(tmp_path, monkeypatch):
    """Building a GridRunner writes only its configurations; when both keys hold a row (this release
    ran image 0 before the step), the step keeps the new one and drops the old key entirely."""
    samples = labelled(write_images(tmp_path / "images", 2))
    variants = ["suny", "suny-n"]
    store_path = tmp_path / "r.sqlite"
    old_configs = old_release_store(store_path, samples, variants, monkeypatch)
    first = run(store_path, samples[:1], variants, metrics=("deletion",))
    assert first.computed == 1  # suny-n on image 0 under its new key: nothing was moved
    new_config = configs_by_method(store_path)["suny-n"]
    with ResultStore(store_path) as store:
        count = "SELECT count(*) FROM results WHERE config = ?"
        assert store.query(count, (old_configs["suny-n"],))[0][0] == 3  # both images (1 has 2 classes)
        assert store.query(count, (new_config,))[0][0] == 1  # image 0 twice: one per key
    again = run(store_path, samples, variants, file_same=True, metrics=("deletion",))
    assert again.computed == 0
    with ResultStore(store_path) as store:
        for table_name in ("results", "curves", "explanations", "configs"):
            rows = store.query(
                f"SELECT count(*) FROM {table_name} WHERE config = ?", (old_configs["suny-n"],)
            )
            assert rows[0][0] == 0, table_name
        assert sorted(store.query("SELECT image_id, class FROM results WHERE method = 'suny-n'")) == [
            ("img0000", 0),
            ("img0001", 1),
            ("img0001", 6),
        ]


def test_only_settings_a_configuration_lacks_make_stored_results_the_same():
    def settings(**method_settings) -> dict:
        return {"method": "suny-n", "step": 64, "method_settings": method_settings}

    stored = {
        "older": settings(set_size=4, combination="sum"),
        "other size": settings(set_size=8, combination="sum"),
        "other step": settings(set_size=4, combination="sum") | {"step": 128},
        "equal": settings(set_size=4),
        "unrecorded": {"method": "suny-n", "step": 64},
        "fewer": settings(),
    }
    assert same_results(stored, "equal", settings(set_size=4)) == ["older"]
    assert same_results(stored, "new", settings(set_size=4, combination="sum")) == []


def live_tensors() -> int:
    gc.collect()
    return sum(issubclass(type(o), torch.Tensor) for o in gc.get_objects())


def test_memory_stays_flat_over_many_images(tmp_path):
    """After a warm-up, 60 more images leave no tensor alive and no resident memory behind (a leak of
    one 96 x 96 input image per image would add 60 x 108 KiB = 6.3 MiB)."""
    size = 96
    paths = write_images(tmp_path / "images", 80, (size, size))
    samples = [
        Sample(p.stem, p, (i % 10,), {i % 10: ((10.0, 10.0, 60.0, 70.0),)}) for i, p in enumerate(paths)
    ]
    entry = toy_entry(size)
    options = GridOptions(step=size * size // 4, batch_size=8, examples=0)
    with ResultStore(tmp_path / "r.sqlite") as store:
        GridRunner(
            store, "many", samples[:20], [entry], ["gradcam"], options, progress=False
        ).run()  # warm-up
        tensors, before = live_tensors(), resident_mib()
        totals = GridRunner(store, "many", samples, [entry], ["gradcam"], options, progress=False).run()
        per_image = sum(len(metric_scores(m)) for m in options.metrics)
        assert totals.computed == 60 and store.query("SELECT COUNT(*) FROM results")[0][0] == 80 * per_image
    after = resident_mib()
    print(f"resident memory over 60 images: {before:.1f} -> {after:.1f} MiB")
    assert live_tensors() <= tensors  # (fewer: an earlier test's tensors freed meanwhile)
    assert after - before < 4


def test_a_registered_metric_runs_through_the_grid_and_the_store(tmp_path, monkeypatch):
    """One metric registry: a metric added in one place (its name, scores and scorer) is known to
    GridOptions, scored per map by the runner, stored, and marks its cells done."""
    from suny.evaluation import METRIC_REGISTRY, ImageMetric, MetricScores

    def map_mass(context, maps: torch.Tensor, classes: torch.Tensor) -> MetricScores:
        return MetricScores({"map_mass": maps.flatten(start_dim=1).mean(dim=1)})

    monkeypatch.setitem(METRIC_REGISTRY, "mass", ImageMetric("mass", ("map_mass",), map_mass))
    samples = labelled(write_images(tmp_path / "images", 2))
    first = run(tmp_path / "r.sqlite", samples, ["gradcam"], metrics=("mass",))
    again = run(tmp_path / "r.sqlite", samples, ["gradcam"], metrics=("mass",))
    assert (first.computed, again.computed) == (2, 0)
    values = [row[8] for row in table(tmp_path / "r.sqlite") if row[5] == "map_mass"]
    assert len(values) == 3 and all(0 < value < 1 for value in values)  # 3 classes over 2 images
    monkeypatch.delitem(METRIC_REGISTRY, "mass")
    with pytest.raises(SunyError, match="unknown metrics"):
        GridOptions(metrics=("mass",))
