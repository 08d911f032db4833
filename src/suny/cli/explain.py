"""``suny explain``: explain images with SUNY (and optionally the baselines) and write reports."""

from __future__ import annotations

import argparse
import csv
import re
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from suny.cli.common import (
    add_model_options,
    add_precision_option,
    model_from_args,
    positive_int,
    seed_everything,
)
from suny.data import load_image, sample_image
from suny.errors import SunyError, TargetError
from suny.method import COMBINATIONS, DEFAULT_COMBINATION, Explanation, Suny
from suny.method.explanation import CauseType
from suny.method.suny import SEARCHES
from suny.models import ImageClassifier
from suny.registry import create_method, method_names

SAMPLE = "sample"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="explain images with SUNY and write heatmaps and a report",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Explain why the model predicts a class for each IMAGE with SUNY: the necessity map shows the regions
whose removal destroys the prediction, the sufficiency map those that preserve it when kept alone.
Causes are the feature maps (--cause feature: interventions mask the input) or the filters
(--cause filter: interventions prune the layer's convolution) of one layer.

Each image gets a folder OUT/<image name>/ with index.html (open it in a browser), the pictures
(2-D necessity/sufficiency map with its legend, plain overlays), summary.json and the raw maps
(<cause>.npz); OUT/explanations.csv has one row per image and cause type.""",
        epilog="""\
examples:
  suny explain                                   # the sample cat photo, default model
  suny explain photo.jpg --target "tiger cat"    # explain a given class
  suny explain photo.jpg --target top5 --cause filter   # the 5 most probable classes, side by side
  suny explain *.jpg --cause filter --out runs/x # SUNY-filter only (fast)
  suny explain cat.png --methods all             # also the 7 baselines, side by side
  suny explain x.jpg --model resnet50 --weights ft.pt --classes names.txt --layer layer4""",
    )
    parser.add_argument(
        "images",
        nargs="*",
        metavar="IMAGE",
        help="image files (default: the sample cat photo shipped with scikit-image)",
    )
    add_model_options(parser)
    method = parser.add_argument_group("SUNY")
    method.add_argument(
        "--cause", choices=("feature", "filter", "both"), default="both", help="cause type (default: both)"
    )
    method.add_argument(
        "--target",
        action="append",
        default=None,
        help="the class(es) to explain: 'auto' (the prediction; default), 'topN' (the N most probable), "
        "an index or a name; repeat it or separate by commas for several classes, which share the "
        "singleton interventions and are drawn side by side",
    )
    method.add_argument(
        "--set-size",
        "--top-k",
        dest="set_size",
        type=positive_int,
        default=None,
        help="size of the hypothesised sets F_N and F_S (default: 4 for feature, 16 for filter causes)",
    )
    method.add_argument(
        "--permutations",
        "--samples",
        dest="permutations",
        type=positive_int,
        default=16,
        help="Shapley sampling permutations per game (default: 16)",
    )
    method.add_argument(
        "--combination",
        choices=COMBINATIONS,
        default=DEFAULT_COMBINATION,
        help=f"how N and S make the single map (default: {DEFAULT_COMBINATION}, from the tuning run)",
    )
    method.add_argument(
        "--substrate", choices=("black", "blur", "mean"), default="black", help="what removed pixels become"
    )
    method.add_argument(
        "--search",
        choices=SEARCHES,
        default="exhaustive",
        help="how SUNY-feature finds F_N and F_S: intervene on every cause (exhaustive, the default) or on "
        "the few a surrogate of the effects points at (screen: about a third of the singleton "
        "interventions at Lite0's head, the same F_N and F_S on 93%% of 200 Lite0 crops; "
        "docs/results/screening/). SUNY-filter always intervenes on every filter",
    )
    method.add_argument("--batch-size", type=int, default=None, help="interventions per forward pass")
    add_precision_option(method)
    method.add_argument("--concepts", default=None, help="filter-to-concept table (CSV unit,concept or JSON)")
    parser.add_argument(
        "--methods",
        default="",
        help="also run these baselines and draw them beside SUNY: comma-separated names or 'all'",
    )
    parser.add_argument("--out", default="runs/explain", help="output folder (default: runs/explain)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from suny.visualisation import load_concepts, top_predictions, write_explanation_report

    seed_everything(args.seed)
    model = model_from_args(args)
    causes: tuple[CauseType, ...] = ("feature", "filter") if args.cause == "both" else (args.cause,)
    baselines = _baseline_names(args.methods)
    concepts = load_concepts(args.concepts) if args.concepts else None
    out = Path(args.out)
    sources = args.images or [SAMPLE]
    rows: list[dict[str, object]] = []
    failures = 0
    for source in tqdm(sources, desc="images", unit="image", disable=None if len(sources) > 1 else True):
        try:
            image, name = _read(model, source)
            targets = _targets(model, image, args.target or ["auto"])
            explanations = [
                explanation
                for cause in causes
                for explanation in Suny(
                    model,
                    args.layer,
                    cause=cause,
                    search=args.search if cause == "feature" else "exhaustive",
                    set_size=args.set_size,
                    permutations=args.permutations,
                    combination=args.combination,
                    substrate=args.substrate,
                    batch_size=args.batch_size,
                    precision=args.precision,
                    seed=args.seed,
                    progress=None,
                ).explain(image, targets)
            ]
            maps, seconds = _run_baselines(model, baselines, image, explanations[0].target, args)
            folder = out / name
            write_explanation_report(
                folder,
                image,
                explanations,
                predictions=top_predictions(model, image),
                concepts=concepts,
                methods=maps,
                method_seconds=seconds,
            )
        except SunyError as err:
            failures += 1
            print(f"suny explain: error: {err}", file=sys.stderr)
            continue
        rows += [_row(source, folder, e) for e in explanations]
    if rows:
        _write_csv(out / "explanations.csv", rows)
        print(f"wrote {len(rows)} explanation(s) of {len(sources) - failures} image(s) to {out}/")
    return 2 if failures else 0


def _targets(model: ImageClassifier, image: torch.Tensor, specs: list[str]) -> list[int]:
    """The classes ``--target`` names for ``image``, in order, each once."""
    ranked: list[int] | None = None
    targets: list[int] = []
    for spec in (part.strip() for text in specs for part in text.split(",")):
        if not spec:
            continue
        if spec == "auto" or re.fullmatch(r"top[0-9]+", spec):
            if ranked is None:
                ranked = (
                    model.probabilities(image[None].to(model.device))[0].argsort(descending=True).tolist()
                )
            targets += ranked[: 1 if spec == "auto" else int(spec[3:])]
        else:
            targets.append(model.class_index(spec))
    if not targets:
        raise TargetError("--target names no class: give auto, topN, indices or names")
    return list(dict.fromkeys(targets))


def _read(model: ImageClassifier, source: str) -> tuple[torch.Tensor, str]:
    if source == SAMPLE:
        return model.preprocess(sample_image()), "chelsea"
    path = Path(source)
    return model.preprocess(load_image(path, min_side=model.preprocessing.resize)), path.stem


def _baseline_names(spec: str) -> list[str]:
    if not spec:
        return []
    known = [n for n in method_names() if not n.startswith("suny")]
    names = known if spec == "all" else [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in method_names()]
    if unknown:
        raise SunyError(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(method_names())}")
    return names


def _run_baselines(
    model: ImageClassifier, names: list[str], image: torch.Tensor, target: int, args: argparse.Namespace
) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    maps, seconds = {}, {}
    for name in names:
        method = create_method(name, model, layer=args.layer, seed=args.seed, precision=args.precision)
        start = time.perf_counter()
        maps[name] = method(image[None], [target]).maps[0].cpu()
        seconds[name] = time.perf_counter() - start
    return maps, seconds


def _row(source: str, folder: Path, explanation: Explanation) -> dict[str, object]:
    return {
        "image": source,
        "report": str(folder / "index.html"),
        "cause": explanation.cause,
        "layer": explanation.layer,
        "target": explanation.target,
        "target_name": explanation.target_name,
        "probability": f"{explanation.probability:.6f}",
        "top_necessary": " ".join(map(str, explanation.top_causes("necessity"))),
        "top_sufficient": " ".join(map(str, explanation.top_causes("sufficiency"))),
        "forward_passes": explanation.forward_passes,
        "seconds": f"{explanation.seconds:.3f}",
        "seed": explanation.seed,
    }


def _write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
