"""Speed and memory of the whole evaluation grid (``suny bench``), measured through the runner itself.

1. Per method, the seconds per image of the explanation and of each metric, as the runner stores
   them, and the method's images per second; then the wall time per image of the whole grid
   (SUNY-feature's three variants share one explanation, so the grid costs less than the sum) and
   the time of a 50,000-image ImageNet run on 1 and on 8 devices of this kind, with the arithmetic.
2. ``--compare``: the same grid by the old path (float32, SUNY-filter and CexCNN re-running the
   network's tail per coalition, nothing compiled) and by the new one (``--precision``,
   per-channel corrections, ``--compile``) in one run, after a warm-up image each (tracing, kernel
   selection, compiling), and the ratio of their seconds per image (target: at most 1/4).
3. Memory: the resident memory of the process every ``--memory-every`` images over
   ``--memory-images`` images of a cheap grid (``--memory-methods``), to show that it stays flat.

    python benchmarks/bench_grid.py --images 2                     # all methods, four metrics
    python benchmarks/bench_grid.py --compare --images 1 --precision auto --compile
    python benchmarks/bench_grid.py --images 0 --memory-images 200 # memory only
    python benchmarks/bench_grid.py --device cuda --images 20 --memory-images 200
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from suny.benchmark.configuration import GridOptions, ModelEntry, model_label
from suny.benchmark.runner import GridRunner, resident_mib
from suny.benchmark.store import ResultStore
from suny.cli.common import resolve_device, seed_everything
from suny.data import load_dataset
from suny.engine import PRECISIONS
from suny.engine.hardware import describe_device
from suny.interventions import filter as filter_module
from suny.interventions.channel_tail import NotChannelwise
from suny.models import load_model
from suny.registry import method_names

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ilsvrc-val-crops"
IMAGENET_VAL = 50_000


def per_method_seconds(store: ResultStore, dataset: str) -> dict[str, dict[str, float]]:
    """method -> {"explain" or a metric: mean seconds per image} from the store."""
    rows = store.query(
        "SELECT method, 'explain', SUM(seconds) / COUNT(DISTINCT image_id) FROM explanations "
        "WHERE dataset = ? GROUP BY method UNION ALL "
        "SELECT method, metric, SUM(seconds) / COUNT(DISTINCT image_id) FROM results "
        "WHERE dataset = ? AND seconds > 0 GROUP BY method, metric",
        (dataset, dataset),
    )
    table: dict[str, dict[str, float]] = {}
    for method, part, seconds in rows:
        table.setdefault(method, {})[part] = seconds
    return table


def grid_wall_seconds(store: ResultStore, dataset: str) -> float:
    """Wall time of the (finished) runs that stored results of ``dataset``: resumed runs add up."""
    rows = store.query(
        "SELECT SUM(finished - started) FROM runs WHERE finished IS NOT NULL "
        "AND run IN (SELECT DISTINCT run FROM results WHERE dataset = ?)",
        (dataset,),
    )
    return rows[0][0] or 0.0


def grid_options(args: argparse.Namespace, precision: str, compile: bool) -> GridOptions:
    metrics = tuple(args.metrics.split(","))
    return GridOptions(
        metrics=metrics, seed=0, batch_size=args.batch_size, precision=precision, compile=compile, examples=0
    )


def grid(args: argparse.Namespace, entry: ModelEntry, store: ResultStore) -> None:
    """Part 1: the grid on ``args.images`` images (the first image includes one-time costs such as
    tracing and kernel selection: use two or more for the cheap methods)."""
    samples = load_dataset(args.data)[: args.images]
    methods = method_names() if args.methods == "all" else args.methods.split(",")
    options = grid_options(args, args.precision, args.compile)
    GridRunner(store, "bench", samples, [entry], methods, options, progress=True).run(command=["bench_grid"])
    table = per_method_seconds(store, "bench")
    parts = ["explain", "deletion_auc", "insertion_auc", "attack_flip", "pointing", "sanity_spearman"]
    names = ["explain", "deletion", "insertion", "attack", "pointing", "sanity"]
    print(f"\nseconds per image on {entry.label}, {len(samples)} image(s), {args.metrics}:")
    print(f"{'method':<12}" + "".join(f"{n:>11}" for n in names) + f"{'total':>11}{'images/s':>11}")
    for method in methods:
        row = table.get(method, {})
        total = sum(row.values())
        cells = "".join(f"{row[p]:>11.2f}" if p in row else f"{'-':>11}" for p in parts)
        print(f"{method:<12}{cells}{total:>11.2f}{1 / total:>11.4f}")
    wall = grid_wall_seconds(store, "bench")
    per_image = wall / len(samples)
    print(f"whole grid: {wall:.1f} s wall for {len(samples)} image(s) = {per_image:.1f} s per image")
    print(f"  = {1 / per_image:.5f} images/s on {entry.model.device}")
    for devices in (1, 8):
        hours = IMAGENET_VAL * per_image / devices / 3600
        arithmetic = f"{IMAGENET_VAL} x {per_image:.1f} s / {devices}"
        print(
            f"  ImageNet val on {devices} device(s) of this kind: {arithmetic} = {hours:.1f} h "
            f"({hours / 24:.1f} days)"
        )


@contextmanager
def tail_replays() -> Iterator[None]:
    """The old path of SUNY-filter and CexCNN: the per-channel corrections are never found, so the
    network after the pruning point runs again per coalition."""

    def refuse(*_: object) -> object:
        raise NotChannelwise("the old path (benchmark)")

    original = filter_module.channel_tail
    filter_module.channel_tail = refuse  # type: ignore[assignment]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", filter_module.SlowPathWarning)
            yield
    finally:
        filter_module.channel_tail = original


def timed_grid(args: argparse.Namespace, entry: ModelEntry, options: GridOptions, name: str) -> float:
    """Seconds per image of the grid on ``args.images`` images after one warm-up image (its own
    store each time: nothing is skipped)."""
    samples = load_dataset(args.data)[: args.images + 1]
    methods = method_names() if args.methods == "all" else args.methods.split(",")
    with tempfile.TemporaryDirectory() as folder, ResultStore(Path(folder) / "r.sqlite") as store:
        GridRunner(store, name, samples[:1], [entry], methods, options, progress=False).run()
        start = time.perf_counter()
        GridRunner(store, name, samples[1:], [entry], methods, options, progress=True).run()
        return (time.perf_counter() - start) / args.images


def compare(args: argparse.Namespace, entry: ModelEntry) -> None:
    """Part 2: the old path against the new one, in the same run."""
    with tail_replays():
        old = timed_grid(args, entry, grid_options(args, "float32", False), "old")
    new = timed_grid(args, entry, grid_options(args, args.precision, args.compile), "new")
    print(
        f"\nwhole grid ({args.methods} x {args.metrics}, {entry.label}, {args.images} image(s) after a "
        f"warm-up): old path (float32, tail replays) {old:.1f} s per image; new path ({args.precision}, "
        f"per-channel corrections{', compiled' if args.compile else ''}) {new:.1f} s per image "
        f"-> ratio {new / old:.2f}"
    )


def memory(args: argparse.Namespace, entry: ModelEntry, store: ResultStore) -> None:
    """Part 2: resident memory over ``args.memory_images`` images of a cheap grid."""
    samples = load_dataset(args.data)[: args.memory_images]
    options = GridOptions(
        metrics=tuple(args.memory_metrics.split(",")),
        step=args.memory_step,
        batch_size=args.batch_size,
        examples=4,
    )
    methods = args.memory_methods.split(",")
    print(f"\nresident memory, {methods} x {options.metrics} (step {options.step}) on {entry.label}:")
    start = time.perf_counter()
    print(f"  {0:>5} images: {resident_mib():8.1f} MiB")
    for done in range(args.memory_every, len(samples) + 1, args.memory_every):
        GridRunner(store, "memory", samples[:done], [entry], methods, options, progress=False).run()
        print(f"  {done:>5} images: {resident_mib():8.1f} MiB  ({time.perf_counter() - start:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--images", type=int, default=1, help="images for the timing grid (0: skip it)")
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--weights", default="default")
    parser.add_argument("--methods", default="all")
    parser.add_argument("--metrics", default="deletion,insertion,attack,pointing")
    parser.add_argument("--device", default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precision", default="float32", choices=PRECISIONS)
    parser.add_argument("--compile", action="store_true", help="torch.compile the model's passes")
    parser.add_argument("--compare", action="store_true", help="the old path against the new one")
    parser.add_argument(
        "--store", type=Path, default=None, help="keep the results here (default: a temp file)"
    )
    parser.add_argument("--memory-images", type=int, default=0)
    parser.add_argument("--memory-every", type=int, default=50)
    parser.add_argument("--memory-methods", default="gradcam")
    parser.add_argument("--memory-metrics", default="deletion,insertion,attack,pointing")
    parser.add_argument("--memory-step", type=int, default=224 * 56, help="curve step of the memory run")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(f"device: {describe_device(device)}")
    seed_everything(0)
    entry = ModelEntry(
        model_label(args.model, args.weights), load_model(args.model, args.weights, device=device)
    )
    with (
        tempfile.TemporaryDirectory() as folder,
        ResultStore(args.store or Path(folder) / "r.sqlite") as store,
    ):
        if args.compare and args.images:
            compare(args, entry)
        elif args.images:
            grid(args, entry, store)
        if args.memory_images:
            memory(args, entry, store)


if __name__ == "__main__":
    main()
