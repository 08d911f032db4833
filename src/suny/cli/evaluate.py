"""``suny evaluate IMAGES_OR_DATASET --method NAME``: the paper's evaluations of one method.

Writes to ``--out``: ``results.csv`` and ``results.json`` (one row per image, each score the mean
over the image's target classes; the JSON adds the settings, the summary and the mean curves),
``curves.png`` (mean deletion and insertion curves) and, for the sanity check, ``sanity.csv``
(similarity per image and step) and ``sanity.png`` (the first image's cascade).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from torch import Tensor
from tqdm.auto import tqdm

from suny.cli.common import (
    add_metric_options,
    add_model_options,
    model_from_args,
    positive_int,
    seed_everything,
)
from suny.data import load_dataset
from suny.data.images import load_image
from suny.errors import SunyError
from suny.evaluation import METRIC_REGISTRY, Evaluation, ScoringSettings, metric_names
from suny.metrics.deletion_insertion import plot_curves

DEFAULT_METRICS = ("deletion", "insertion", "attack", "pointing")


def metric_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in METRIC_REGISTRY]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown metric(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {','.join(metric_names())}"
        )
    return list(dict.fromkeys(names))


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a method: deletion/insertion AUC, saliency attack, pointing game, sanity check",
        description="Explain every image with --method and score the maps (SPEC section 4). "
        "Images with ground-truth classes are explained for each class and score the mean over "
        "their classes; unlabelled images are explained for the predicted class.",
    )
    parser.add_argument(
        "data",
        metavar="IMAGES_OR_DATASET",
        help="an image, a folder of images, or an ILSVRC val folder with LOC_val_solution.csv and "
        "LOC_synset_mapping.txt (classes and boxes)",
    )
    parser.add_argument("--method", required=True, help="registered method name (an unknown name lists them)")
    parser.add_argument(
        "--metrics",
        type=metric_list,
        default=None,
        help=f"comma-separated, from {','.join(metric_names())} (default: deletion,insertion,attack, "
        "and pointing when the data has boxes; sanity re-explains each image once per step)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("evaluation"), help="output folder (default: evaluation)"
    )
    parser.add_argument("--limit", type=positive_int, default=None, help="only the first N images")
    parser.add_argument(
        "--batch-size", type=positive_int, default=64, help="images per forward pass (default: 64)"
    )
    add_metric_options(parser, sanity_steps=None)
    add_model_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    samples = load_dataset(args.data)[: args.limit]
    has_boxes = any(sample.boxes for sample in samples)
    metrics = args.metrics or [m for m in DEFAULT_METRICS if has_boxes or not METRIC_REGISTRY[m].needs_boxes]
    boxed = [m for m in metrics if METRIC_REGISTRY[m].needs_boxes]
    if boxed and not has_boxes:
        raise SunyError(f"--metrics {','.join(boxed)} needs boxes, and {args.data} has none")
    model = model_from_args(args)
    seed_everything(args.seed)
    settings = ScoringSettings(
        args.step, args.batch_size, args.seed, args.sanity_steps, args.attack_threshold, args.precision
    )
    evaluation = Evaluation(model, args.method, metrics, settings, {"precision": args.precision})
    progress = tqdm(
        samples, desc=f"evaluate {args.method}", unit="image", disable=None if len(samples) > 1 else True
    )
    for sample in progress:
        evaluation.add(sample)
    args.out.mkdir(parents=True, exist_ok=True)
    written = write_results(evaluation, args)
    summary = evaluation.summary()
    shown = "  ".join(f"{k} {v:.4f}" for k, v in summary.items() if isinstance(v, float))
    print(f"{args.method} on {model.name}, {len(samples)} images: {shown}")
    print(f"written to {args.out}: {', '.join(written)}")
    return 0


def write_results(evaluation: Evaluation, args: argparse.Namespace) -> list[str]:
    """Write every output file; returns their names."""
    model, out = evaluation.model, args.out
    per_image = evaluation.per_image()
    scores = {k: v for k, v in per_image.items() if v.dim() == 1}
    rows = []
    for i, image in enumerate(evaluation.images):
        sample, targets, predicted = image.sample, image.targets, image.predicted
        rows.append(
            {
                "image_id": sample.image_id,
                "path": str(sample.path),
                "targets": " ".join(map(str, targets)),
                "target_names": "; ".join(model.class_name(t) for t in targets),
                "predicted": predicted,
                "predicted_name": model.class_name(predicted),
                **{key: _number(values[i]) for key, values in scores.items()},
            }
        )
    with (out / "results.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([{k: "" if v is None else v for k, v in row.items()} for row in rows])
    written = ["results.csv", "results.json"]
    report: dict[str, Any] = {
        "method": evaluation.method_name,
        "model": model.name,
        "layer": model.default_layer,
        "metrics": list(evaluation.metrics),
        "settings": {
            "data": str(args.data),
            **asdict(evaluation.settings),
            "device": str(model.device),
        },
        "summary": {k: _number(v) for k, v in evaluation.summary().items()},
        "images": rows,
    }
    curves = {
        n: per_image[f"{n}_curve"].mean(dim=0) for n in ("deletion", "insertion") if f"{n}_curve" in per_image
    }
    if curves and evaluation.fractions is not None:
        report["curves"] = {"fractions": evaluation.fractions.tolist()} | {
            name: [_number(v) for v in curve] for name, curve in curves.items()
        }
        title = f"{evaluation.method_name} on {model.name}, {len(rows)} images"
        plot_curves(evaluation.fractions, curves, out / "curves.png", title)
        written.append("curves.png")
    if evaluation.sanity:
        report["sanity"] = write_sanity(evaluation, per_image, out)
        written += ["sanity.csv", "sanity.png"]
    (out / "results.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return written


def write_sanity(evaluation: Evaluation, per_image: dict[str, Tensor], out: Path) -> dict[str, Any]:
    """``sanity.csv`` and ``sanity.png``; returns the mean similarity per step for the JSON."""
    labels = evaluation.sanity[0].labels
    spearman, ssim = per_image["sanity_spearman_curve"], per_image["sanity_ssim_curve"]
    with (out / "sanity.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_id", "step", "randomised", "spearman", "ssim"])
        for i, sample in enumerate(evaluation.samples):
            for step, label in enumerate(labels):
                row = [_number(spearman[i, step]), _number(ssim[i, step])]
                writer.writerow([sample.image_id, step + 1, label, *["" if v is None else v for v in row]])
    first = evaluation.samples[0]
    image = evaluation.model.preprocess(load_image(first.path))
    evaluation.sanity[0].save_figure(out / "sanity.png", index=0, image=image)
    return {
        "randomised": labels,
        "spearman": [_number(v) for v in spearman.nanmean(dim=0)],
        "ssim": [_number(v) for v in ssim.nanmean(dim=0)],
    }


def _number(value: Any) -> float | int | None:
    """A JSON/CSV-friendly number: floats rounded to 6 digits, NaN as None."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    return int(value) if isinstance(value, int) else None
