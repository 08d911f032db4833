"""Seconds per image of the forward engine's passes: eager, ``torch.compile``d, and compiled with the
weights frozen into the graph (what ``--compile`` does), at the grid's batch size.

Every pass of the grid goes through :class:`suny.engine.ForwardEngine`, so these are the grid's
costs per pass. Each variant has its own copy of the model (compiled graphs are cached per module);
the rounds alternate the variants, so a busier moment of the machine touches all of them alike; each
figure is the best round, and the ratios divide by eager's figure of the same run.

    python benchmarks/bench_compile.py --threads 1 --batch-size 4
    python benchmarks/bench_compile.py --device cuda --batch-size 64
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
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--images", type=int, default=32, help="images per round and variant")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.images % args.batch_size:
        parser.error("--images must be a multiple of --batch-size (full batches: one compiled shape)")
    device = resolve_device(args.device)
    models = [load_model(args.model, device=device) for _ in range(3)]
    image = models[0].preprocess(sample_image()).to(device)
    noise = torch.rand((args.images, *image.shape), generator=torch.Generator().manual_seed(0)).to(device)
    inputs = (image + 0.05 * noise).clamp(0, 1)
    engines = {
        "eager": ForwardEngine.for_model(models[0], args.batch_size),
        "compiled": ForwardEngine(torch.compile(models[1], dynamic=False), device, args.batch_size),
        "compiled, frozen weights": ForwardEngine.for_model(models[2], args.batch_size, compile=True),
    }
    reference = engines["eager"].probabilities(args.images, inputs.__getitem__)
    for name, engine in engines.items():  # warm-up: kernel selection, compiling the batch shape
        difference = (engine.probabilities(args.images, inputs.__getitem__) - reference).abs().max()
        print(f"{name}: largest difference from eager's probabilities {float(difference):.1e}")
    best = dict.fromkeys(engines, float("inf"))
    for _ in range(args.rounds):
        for name, engine in engines.items():
            seconds = timed(partial(engine.probabilities, args.images, inputs.__getitem__), device)
            best[name] = min(best[name], seconds / args.images)
    print(f"{args.model}, batch {args.batch_size}, float32, on {describe_device(device)}")
    print(f"best of {args.rounds} alternating rounds of {args.images} images per variant")
    print("| passes | ms per image | time / eager's |")
    print("| --- | ---: | ---: |")
    for name in engines:
        print(f"| {name} | {1000 * best[name]:.1f} | {best[name] / best['eager']:.2f} |")


if __name__ == "__main__":
    main()
