"""Seconds per image of the forward engine's passes at several batch sizes, against the default (64).

Every pass of the grid (the curves, RISE's masks, SUNY's interventions, Score-CAM's channels) goes
through :class:`suny.engine.ForwardEngine`, so its seconds per image at a batch size is the grid's
cost per pass there. On a CPU a smaller batch can be faster per image (its activations stay in the
caches); on a GPU a larger one. The rounds alternate the batch sizes, so a slower or busier moment of
the machine touches every size alike; each figure is the best round.

    python benchmarks/bench_batch_size.py --threads 1 --compile
    python benchmarks/bench_batch_size.py --device cuda --batch-sizes 64,128,256,512 --baseline 64
"""

from __future__ import annotations

import argparse
from functools import partial

import torch
from common import timed

from suny.cli.common import resolve_device
from suny.data import sample_image
from suny.engine import ForwardEngine
from suny.engine.hardware import describe_device
from suny.models import load_model


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--batch-sizes", default="8,16,32,64", help="comma-separated (default: 8,16,32,64)")
    parser.add_argument("--baseline", type=int, default=64, help="the batch size the ratios divide by")
    parser.add_argument("--images", type=int, default=128, help="images per round and batch size")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the passes, as the grid does")
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    sizes = sorted({int(size) for size in args.batch_sizes.split(",")} | {args.baseline})
    model = load_model(args.model, device=device)
    image = model.preprocess(sample_image()).to(device)
    noise = torch.rand((args.images, *image.shape), generator=torch.Generator().manual_seed(0)).to(device)
    inputs = (image + 0.05 * noise).clamp(0, 1)
    engines = {size: ForwardEngine.for_model(model, size, compile=args.compile) for size in sizes}
    for engine in engines.values():  # warm-up: kernel selection, and compiling each batch shape
        engine.probabilities(args.images, inputs.__getitem__, targets=0)
    best = dict.fromkeys(sizes, float("inf"))
    for _ in range(args.rounds):
        for size, engine in engines.items():
            seconds = timed(partial(engine.probabilities, args.images, inputs.__getitem__, targets=0), device)
            best[size] = min(best[size], seconds / args.images)
    print(f"{args.model}, {'compiled' if args.compile else 'eager'}, float32, on {describe_device(device)}")
    print(f"best of {args.rounds} alternating rounds of {args.images} images per batch size")
    print("| batch size | ms per image | time / time at batch", args.baseline, "|")
    print("| ---: | ---: | ---: |")
    for size in sizes:
        print(f"| {size} | {1000 * best[size]:.1f} | {best[size] / best[args.baseline]:.2f} |")


if __name__ == "__main__":
    main()
