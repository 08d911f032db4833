"""SUNY's speed, each figure against a baseline measured in the same run, with the device printed.

1. The README's main job (``suny explain`` on the sample image: SUNY-feature and SUNY-filter, the
   report included): wall time of the whole command in a fresh process, as ``make demo`` runs it.
2. SUNY-feature intervention throughput: forward passes per second inside an explanation divided by
   plain batched forward passes per second of the same model, batch size and precision (target:
   at least 0.90), for float32 and, where the device computes it natively, bfloat16.
3. SUNY-filter per image against one Grad-CAM of the same model and layer (targets: at most 2x on
   Lite0, at most 1x on ResNet50 and VGG16; random weights serve for a ratio).
4. The forward passes SUNY-feature does not spend (known answers: constant maps, duplicate masks,
   the image itself): interventions asked for against passes run, per image, on development crops,
   at the default layer and at Lite0's head.
5. Several classes from one set of passes: explaining the five most probable classes of an image
   against explaining its top class, for SUNY-feature, SUNY-filter, Score-CAM and RISE (target: at
   most 1.5x).

    python benchmarks/bench_suny.py                           # everything on this machine's CPU
    python benchmarks/bench_suny.py --device cuda --batch-size 256 --skip-main-job
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import timed

from suny import Suny, create_method, load_image, load_model, sample_image
from suny.data import ilsvrc_kaggle
from suny.engine import ForwardEngine, has_native_bfloat16
from suny.engine.hardware import describe_device

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ilsvrc-val-crops"


def main_job_seconds() -> float:
    """Wall time of ``suny explain --out DIR`` in a fresh process (imports included)."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "suny.cli.main", "explain", "--out", out], check=True)
        return time.perf_counter() - start


def throughput(model, image, layer, batch_size, precision) -> tuple[float, float, int]:
    """(passes/s inside SUNY-feature, plain batched passes/s, passes per explanation)."""
    suny = Suny(model, layer, cause="feature", batch_size=batch_size, precision=precision)
    explanation = suny.explain(image)  # warm-up and the pass count
    seconds = timed(lambda: suny.explain(image), model.device, repeats=2)
    batch = image[None].expand(suny.batch_size, -1, -1, -1).contiguous()
    batches = max(1, explanation.forward_passes // suny.batch_size)
    engine = ForwardEngine.for_model(model, suny.batch_size, precision)

    def plain() -> None:
        engine.probabilities(batches * suny.batch_size, lambda _: batch)

    plain()
    plain_seconds = timed(plain, model.device, repeats=2)
    return (
        explanation.forward_passes / seconds,
        batches * suny.batch_size / plain_seconds,
        explanation.forward_passes,
    )


def filter_against_gradcam(name: str, weights: str, device: torch.device, precision: str) -> str:
    model = load_model(name, weights, device=device)
    torch.manual_seed(0)
    image = model.preprocess(sample_image()).to(device)
    suny_filter = Suny(model, cause="filter", precision=precision)
    gradcam = create_method("gradcam", model)
    target = [int(model.probabilities(image[None]).argmax())]
    explanation = suny_filter.explain(image)  # warm-up (and tracing)
    gradcam(image[None], target)
    filter_seconds = timed(lambda: suny_filter.explain(image), device, repeats=3)
    gradcam_seconds = timed(lambda: gradcam(image[None], target), device, repeats=3)
    path = suny_filter.prepare(image).replay.path  # type: ignore[attr-defined]
    return (
        f"  {name:18s} layer {model.default_layer:14s} SUNY-filter {filter_seconds:.3f} s "
        f"({explanation.forward_passes} replays, {path}) vs Grad-CAM {gradcam_seconds:.3f} s "
        f"-> ratio {filter_seconds / gradcam_seconds:.2f}"
    )


def passes_saved(model, layer: str, crops: int, precision: str) -> str:
    """Mean interventions and forward passes per image over the first ``crops`` crops."""
    samples = ilsvrc_kaggle(DATA)[:crops]
    suny = Suny(model, layer, cause="feature", precision=precision)
    asked, run = [], []
    for sample in samples:
        image = model.preprocess(load_image(sample.path, min_side=model.preprocessing.resize))
        explanation = suny.explain(image, sample.classes[0])
        asked.append(explanation.interventions)
        run.append(explanation.forward_passes - 1)  # the clean pass is not an intervention
    saved = [1 - r / a for r, a in zip(run, asked)]
    return (
        f"  layer {layer:16s} {statistics.mean(asked):7.1f} interventions, "
        f"{statistics.mean(run):7.1f} passes per image: {100 * statistics.mean(saved):.1f}% saved "
        f"(min {100 * min(saved):.1f}%, max {100 * max(saved):.1f}%), {len(samples)} crops"
    )


def five_classes_against_one(model, image, precision: str) -> list[str]:
    """Seconds of the top five classes of ``image`` over seconds of its top class, per method."""
    device = model.device
    top = model.probabilities(image[None])[0].argsort(descending=True)[:5].tolist()
    lines = []
    for name in ("suny", "suny-filter", "scorecam", "rise"):
        method = create_method(name, model, precision=precision)
        method(image[None], top[:1])  # warm-up (tracing, kernels)
        one = timed(lambda m=method: m(image[None], top[:1]), device)
        five = timed(lambda m=method: m(image[None].expand(5, -1, -1, -1), top), device)
        lines.append(f"  {name:12s} 1 class {one:7.2f} s, 5 classes {five:7.2f} s -> ratio {five / one:.2f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--layer", default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=None, help="default: SUNY's (16 CPU, 128 CUDA)")
    parser.add_argument("--crops", type=int, default=10, help="development crops for the passes saved")
    parser.add_argument("--skip-main-job", action="store_true")
    parser.add_argument(
        "--skip", default="", help="comma-separated sections to skip: throughput,filter,passes,classes"
    )
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    device = torch.device(args.device)
    print(f"device: {describe_device(device)}")
    precisions = ["float32", *(["bfloat16"] if has_native_bfloat16(device) else [])]

    if not args.skip_main_job:
        print(f"main job (suny explain, sample image, feature + filter, report): {main_job_seconds():.1f} s")

    model = load_model(args.model, device=device)
    layer = args.layer or model.default_layer
    image = model.preprocess(sample_image()).to(device)
    if "throughput" not in skip:
        for precision in precisions:
            inside, plain, passes = throughput(model, image, layer, args.batch_size, precision)
            print(
                f"SUNY-feature throughput ({args.model} {layer}, {precision}, {passes} passes): "
                f"{inside:.1f} passes/s inside SUNY vs {plain:.1f} plain batched "
                f"-> ratio {inside / plain:.2f}"
            )
    if "filter" not in skip:
        for precision in precisions:
            print(f"SUNY-filter per image against one Grad-CAM ({precision}):")
            for name, weights in ((args.model, "default"), ("resnet50", "none"), ("vgg16", "none")):
                print(filter_against_gradcam(name, weights, device, precision))
    if "classes" not in skip:
        print(f"Five classes against one ({args.model} {layer}, {precisions[-1]}; target at most 1.5x):")
        print("\n".join(five_classes_against_one(model, image, precisions[-1])))
    if "passes" not in skip and DATA.is_dir():
        print("SUNY-feature passes not spent (known or shared answers):")
        for explained in dict.fromkeys([layer, "_head_activation"]):
            print(passes_saved(model, explained, args.crops, precisions[-1]))


if __name__ == "__main__":
    main()
