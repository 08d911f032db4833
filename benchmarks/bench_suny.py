"""SUNY's speed, each figure against a baseline measured in the same run.

1. The README's main job (``suny explain`` on the sample image: SUNY-feature and SUNY-filter, the
   report included), wall time of the whole command in a fresh process.
2. Intervention throughput: forward passes per second inside SUNY-feature divided by plain batched
   forward passes per second of the same model, batch size and precision.
3. SUNY-filter per image against one Grad-CAM of the same model and layer.

    python benchmarks/bench_suny.py                          # Lite0 on this machine's CPU
    python benchmarks/bench_suny.py --model resnet50 --weights none --device cuda --precision bfloat16
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time

import torch
from common import describe_device, timed

from suny import Suny, create_method, load_model, sample_image
from suny.method.causes import autocast


def main_job_seconds() -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "suny.cli.main", "explain", "--out", out], check=True)
        return time.perf_counter() - start


def throughput(model, image, args) -> tuple[float, float, int]:
    """(passes/s inside SUNY-feature, plain batched passes/s, passes)."""
    suny = Suny(model, args.layer, cause="feature", batch_size=args.batch_size, precision=args.precision)
    explanation = suny.explain(image)  # warm-up and the pass count
    seconds = timed(lambda: suny.explain(image), model.device)
    inside = explanation.forward_passes / seconds
    batch = image[None].expand(suny.batch_size, -1, -1, -1).contiguous(memory_format=torch.channels_last)
    batches = max(1, explanation.forward_passes // suny.batch_size)

    def plain() -> None:
        with torch.no_grad(), autocast(model.device, args.precision):
            for _ in range(batches):
                model(batch).float().softmax(dim=1)

    plain()
    plain_seconds = timed(plain, model.device)
    return inside, batches * suny.batch_size / plain_seconds, explanation.forward_passes


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--weights", default="default")
    parser.add_argument("--layer", default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="float32", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--skip-main-job", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device: {describe_device(device)}")

    if not args.skip_main_job:
        print(f"main job (suny explain, sample image, feature + filter, report): {main_job_seconds():.1f} s")

    torch.manual_seed(0)
    model = load_model(args.model, args.weights, device=device)
    image = model.preprocess(sample_image()).to(device)

    inside, plain, passes = throughput(model, image, args)
    print(
        f"SUNY-feature throughput ({args.model}, {args.precision}, {passes} passes): "
        f"{inside:.1f} passes/s inside SUNY vs {plain:.1f} plain batched -> ratio {inside / plain:.2f}"
    )

    options = {"batch_size": args.batch_size, "precision": args.precision}
    suny_filter = Suny(model, args.layer, cause="filter", **options)
    gradcam = create_method("gradcam", model, layer=args.layer)
    target = [int(model.probabilities(image[None]).argmax())]
    suny_filter.explain(image)
    gradcam(image[None], target)
    filter_seconds = timed(lambda: suny_filter.explain(image), device, repeats=3)
    gradcam_seconds = timed(lambda: gradcam(image[None], target), device, repeats=3)
    print(
        f"SUNY-filter per image: {filter_seconds:.3f} s vs Grad-CAM {gradcam_seconds:.3f} s "
        f"-> ratio {filter_seconds / gradcam_seconds:.2f}"
    )


if __name__ == "__main__":
    main()
