"""Deletion + insertion of one 224x224 map with the default step on EfficientNet-Lite0.

Reports the forward passes the two curves use (2 x 225), their time, and the ratio of that time to
the same number of plain batched forward passes (same batch sizes, measured in the same run,
before and after the curves, averaged): what building the curves costs on top of the model.

    python benchmarks/bench_metrics.py [--device cuda] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import time

import torch
from common import synchronize

from suny.cli.common import resolve_device
from suny.data import sample_image
from suny.engine import PRECISIONS, autocast
from suny.engine.hardware import describe_device
from suny.metrics.deletion_insertion import DEFAULT_STEP, changed_counts, deletion_insertion
from suny.models import load_model
from suny.ops import batched


@torch.no_grad()
def plain_forwards(model, image: torch.Tensor, sizes: list[int]) -> float:
    """Seconds for forward passes of batches of copies of ``image`` with the given sizes."""
    synchronize(model.device)
    start = time.perf_counter()
    for size in sizes:
        model(image.expand(size, -1, -1, -1).contiguous(memory_format=torch.channels_last)).softmax(dim=1)
    synchronize(model.device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precision", default="float32", choices=PRECISIONS)
    args = parser.parse_args()
    device = resolve_device(args.device)
    model = load_model("efficientnet-lite0", device=device)
    image = model.preprocess(sample_image())[None].to(device)
    axis = torch.linspace(-1, 1, 224, device=device)
    saliency = torch.exp(-4 * (axis.view(-1, 1) ** 2 + axis.view(1, -1) ** 2))[None]
    target = model.probabilities(image).argmax(dim=1)
    points = len(changed_counts(224 * 224, DEFAULT_STEP))
    sizes = [s.stop - s.start for s in batched(points, args.batch_size)] * 2
    with autocast(device, args.precision):
        plain_forwards(model, image, [args.batch_size])  # warm-up
        before = plain_forwards(model, image, sizes)
    synchronize(device)
    start = time.perf_counter()
    result = deletion_insertion(
        model, image, saliency, target, batch_size=args.batch_size, precision=args.precision
    )
    synchronize(device)
    seconds = time.perf_counter() - start
    with autocast(device, args.precision):
        after = plain_forwards(model, image, sizes)
    plain = (before + after) / 2

    print(f"device: {describe_device(device)}")
    print(f"deletion + insertion, step {DEFAULT_STEP}, batch size {args.batch_size}, {args.precision}")
    print(f"forward passes: {result.forward_passes} ({points} points per curve)")
    print(f"time: {seconds:.2f} s ({result.forward_passes / seconds:.1f} images/s)")
    print(f"plain forward passes, same batches: {before:.2f} s before, {after:.2f} s after")
    print(f"ratio to plain forwards: {seconds / plain:.3f}")
    print(
        f"AUCs: deletion {float(result.deletion.auc[0]):.4f}, insertion "
        f"{float(result.insertion.auc[0]):.4f}, overall {float(result.overall[0]):.4f}"
    )


if __name__ == "__main__":
    main()
