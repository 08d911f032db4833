"""``suny bench --data PATH --models m1,m2 --methods all --store results.sqlite``: the evaluation grid.

Every (image, model, method) through every requested metric, each result written to the SQLite
store as soon as it exists. Start the same command again after a crash or a kill and it continues
where it stopped; under ``torchrun --nproc-per-node N`` each process takes every N-th image and uses
its own GPU, all writing to the same file (several hosts: one file per host, and ``suny report``
reads them all). Different runs can share one file: a result is keyed by dataset, image, class,
model, method, metric, seed and configuration (weights, layer, method options, --step,
--sanity-steps), so another setting of a method gets rows of its own and never overwrites these.
``suny report`` turns the store into the paper's tables.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from suny.benchmark.configuration import GridOptions, ModelEntry, model_label
from suny.benchmark.runner import GridRunner, Shard
from suny.benchmark.store import ResultStore
from suny.cli.common import (
    add_metric_options,
    positive_int,
    read_class_names,
    resolve_device,
    seed_everything,
)
from suny.cli.evaluate import metric_list
from suny.data import load_dataset
from suny.errors import SunyError
from suny.models import load_model
from suny.registry import method_names

EXAMPLES = """examples:
  suny bench --data ../shared/data/ilsvrc-val-crops --models efficientnet-lite0 --methods all \\
      --metrics deletion,insertion,attack,pointing --store results.sqlite
  suny bench --data CUB_200_2011 --models resnet50 --weights cub_resnet50.pt --methods suny,gradcam \\
      --metrics pointing --store cub.sqlite --limit 500
  torchrun --nproc-per-node 8 -m suny.cli.main bench --data ILSVRC --models resnet50,vgg16 \\
      --methods all --metrics deletion,insertion --store results.sqlite
  suny bench ... --option suny:set_size=4 --option suny:permutations=32   # another SUNY setting
  suny bench ... --layer _blocks.11._expand_activation     # every layer-based method at another layer
"""


def name_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected a comma-separated list of names")
    return list(dict.fromkeys(names))


def method_option(text: str) -> tuple[str, str, Any]:
    """``METHOD:KEY=VALUE`` (VALUE read as JSON when it parses, else as text)."""
    method, _, assignment = text.partition(":")
    key, equals, value = assignment.partition("=")
    if not (method and key and equals):
        raise argparse.ArgumentTypeError(f"expected METHOD:KEY=VALUE, got {text!r}")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return method, key, parsed


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="evaluate methods x models over a dataset into a resumable SQLite store",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data",
        required=True,
        help="a dataset in any layout suny reads: ILSVRC val (Kaggle CSVs or PASCAL-VOC XML), "
        "CUB-200-2011, or a folder of images (explained for the predicted class)",
    )
    parser.add_argument("--models", type=name_list, required=True, help="comma-separated model names")
    parser.add_argument(
        "--weights",
        type=name_list,
        default=["default"],
        help="'default', 'none' or a checkpoint path: one for all models or one per model (comma-separated)",
    )
    parser.add_argument("--classes", default=None, help="class names file (one per line) for checkpoints")
    parser.add_argument(
        "--layer",
        default=None,
        help="the layer of every method that explains through one (default: each model's; 'suny layers "
        "MODEL' lists them). Rows at another layer are rows of their own, labelled with it; methods "
        "without a layer (RISE, pixel SmoothGrad) share their rows across layers",
    )
    parser.add_argument(
        "--methods", type=name_list, required=True, help="comma-separated method names, or 'all'"
    )
    parser.add_argument(
        "--metrics",
        type=metric_list,
        default=["deletion", "insertion", "attack", "pointing"],
        help="comma-separated, from deletion,insertion,attack,pointing,sanity "
        "(default: deletion,insertion,attack,pointing)",
    )
    parser.add_argument("--store", type=Path, required=True, help="the SQLite results file (created if new)")
    parser.add_argument(
        "--dataset-name", default=None, help="the dataset's key in the store (default: the folder's name)"
    )
    parser.add_argument("--limit", type=positive_int, default=None, help="only the first N images")
    parser.add_argument(
        "--offset", type=int, default=0, help="skip the first N images (with --limit: a slice of the dataset)"
    )
    parser.add_argument("--device", default=None, help="default: cuda:LOCAL_RANK if CUDA is there, else cpu")
    parser.add_argument("--seed", type=int, default=0, help="seed of every method and of the attack noise")
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help="images per forward pass, for the metrics and every method (default: 64 for the metrics, "
        "each method's own default)",
    )
    parser.add_argument(
        "--sanity-images",
        type=int,
        default=None,
        help="the sanity check on the first N images only (default: every image)",
    )
    parser.add_argument(
        "--examples",
        type=int,
        default=4,
        help="keep the maps of the first N images for the gallery (default: 4)",
    )
    parser.add_argument(
        "--option",
        type=method_option,
        action="append",
        default=[],
        metavar="METHOD:KEY=VALUE",
        help="a method option (repeatable), e.g. suny:set_size=4 or rise:masks=8000",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="compile the model's forward passes with torch.compile, the weights frozen into the graph "
        "(about a minute per batch shape, then faster: benchmarks/bench_compile.py; for long runs)",
    )
    add_metric_options(parser, sanity_steps=5)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    known = method_names()
    methods = known if args.methods == ["all"] else args.methods
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise SunyError(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if len(args.weights) not in (1, len(args.models)):
        raise SunyError(f"--weights gives {len(args.weights)} values for {len(args.models)} models")
    options: dict[str, dict[str, Any]] = {m: {} for m in methods}
    if args.batch_size is not None:
        for method_options in options.values():
            method_options["batch_size"] = args.batch_size
    for method, key, value in args.option:
        if method not in options:
            raise SunyError(f"--option {method}:{key}: {method} is not among --methods")
        options[method][key] = value
    grid = GridOptions(
        metrics=tuple(args.metrics),
        seed=args.seed,
        step=args.step,
        batch_size=args.batch_size or 64,
        precision=args.precision,
        attack_threshold=args.attack_threshold,
        compile=args.compile,
        sanity_steps=args.sanity_steps,
        sanity_images=args.sanity_images,
        examples=args.examples,
        method_options=options,
        layer=args.layer,
    )
    data = Path(args.data)
    samples = load_dataset(data)[args.offset :][: args.limit]
    dataset = args.dataset_name or (data.resolve().name if data.is_dir() else data.resolve().parent.name)
    shard = Shard.from_environment()
    device = resolve_device(args.device) if args.device else shard.device()
    class_names = read_class_names(args.classes) if args.classes else None
    seed_everything(args.seed)
    weights = args.weights * len(args.models) if len(args.weights) == 1 else args.weights
    models = [
        ModelEntry(model_label(name, w), load_model(name, w, class_names=class_names, device=device), w)
        for name, w in zip(args.models, weights)
    ]
    with ResultStore(args.store) as store:
        runner = GridRunner(
            store,
            dataset,
            samples,
            models,
            methods,
            grid,
            shard,
            progress=False if args.no_progress else None,
        )
        runner.file_same_results()
        totals = runner.run(command=sys.argv)
    print(
        f"rank {shard.rank}/{shard.world_size} on {device}: {totals.images} images of {dataset} "
        f"({totals.computed} explanations computed, {totals.skipped} images already done, "
        f"{totals.failed} unreadable) in {totals.seconds:.1f} s; resident memory "
        f"{totals.rss_start_mib:.0f} -> {totals.rss_end_mib:.0f} MiB; results in {args.store}"
    )
    return 0
