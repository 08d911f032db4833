"""The GPU figures of the speed issue in one run (under 8 minutes on one H100 or H200), each against a
baseline measured in the same run; ``benchmarks/gpu.sh`` runs it on a lent device. It runs on the
CPU too, with small batches (``--device cpu --quick``), so that it is tested where no GPU is.

1. Plain forward images/s of ResNet50, VGG16 and Lite0 at ``--batch-size`` (256), float32 and
   bfloat16 channels-last.
2. SUNY-feature's intervention throughput over plain batched passes (target 0.90), bfloat16; and
   its screened search of the sets against the exhaustive one (passes and seconds per image).
3. SUNY-filter per image against one Grad-CAM on Lite0, ResNet50 and VGG16 (target at most 1x).
4. Our Score-CAM against pytorch-grad-cam's ScoreCAM, same model, images and batch (target: ours
   at least 3x faster).
5. Seconds per image of the whole grid (every method, every metric) on Lite0.
"""

from __future__ import annotations

import argparse
import time

import torch
from bench_baselines import load_images, ours, reference, seconds_per_image
from bench_grid import DATA, timed_grid
from bench_suny import filter_against_gradcam, throughput
from common import timed

from suny import Suny, load_model, sample_image
from suny.benchmark.configuration import GridOptions, ModelEntry
from suny.engine import ForwardEngine, has_native_bfloat16
from suny.engine.hardware import describe_device

MODELS = ("resnet50", "vgg16", "efficientnet-lite0")


def weights(name: str) -> str:
    return "default" if name.startswith("efficientnet") else "none"


def images_per_second(model: torch.nn.Module, batch: torch.Tensor, precision: str, batches: int) -> float:
    """Plain forward passes per second of ``model`` on ``batches`` copies of ``batch``."""
    engine = ForwardEngine.for_model(model, len(batch), precision)
    engine.probabilities(len(batch), lambda _: batch)  # warm-up
    seconds = timed(lambda: engine.probabilities(len(batch) * batches, lambda _: batch), batch.device)
    return len(batch) * batches / seconds


def plain_throughput(device: torch.device, batch_size: int, batches: int, models: tuple[str, ...]) -> None:
    precisions = ["float32", *(["bfloat16"] if has_native_bfloat16(device) else [])]
    for name in models:
        model = load_model(name, weights(name), device=device).to(memory_format=torch.channels_last)
        crop = model.preprocessing.crop
        batch = torch.rand(batch_size, 3, crop, crop, device=device)
        cells = [f"{p} {images_per_second(model, batch, p, batches):9.1f}" for p in precisions]
        print(f"  {name:20s} images/s: " + " | ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--images", type=int, default=4, help="images of the grid and of Score-CAM")
    parser.add_argument(
        "--quick", action="store_true", help="tiny settings (Lite0 only, a small layer, few masks): a test"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    start = time.perf_counter()
    batches = 1 if args.quick else 5
    models = MODELS[2:] if args.quick else MODELS
    precision = "bfloat16" if has_native_bfloat16(device) else "float32"
    print(f"device: {describe_device(device)}; batch {args.batch_size}; bfloat16 means {precision} here")

    print("1. plain forward passes, channels-last")
    plain_throughput(device, args.batch_size, batches, models)

    print(f"2. SUNY-feature throughput ({precision})")
    lite = load_model("efficientnet-lite0", device=device)
    image = lite.preprocess(sample_image()).to(device)
    layer = "_blocks.1" if args.quick else lite.default_layer  # 24 channels: a quick test
    inside, plain, passes = throughput(lite, image, layer, args.batch_size, precision)
    print(
        f"  Lite0 {layer}: {inside:.1f} passes/s inside SUNY vs {plain:.1f} plain "
        f"({passes} passes) -> ratio {inside / plain:.2f} (target 0.90)"
    )

    explained = {}
    for search in ("exhaustive", "screen"):
        suny = Suny(lite, layer=layer, search=search, batch_size=args.batch_size, precision=precision)
        suny.explain(image)  # warm-up
        explained[search] = (timed(lambda suny=suny: suny.explain(image), device), suny.explain(image))
    (exhaustive, full), (screened, screen) = explained["exhaustive"], explained["screen"]
    print(
        f"  sets: exhaustive {full.forward_passes} passes, {exhaustive:.3f} s/image; screen "
        f"{screen.forward_passes} passes, {screened:.3f} s/image -> {screened / exhaustive:.2f} of the time, "
        f"same F_N {set(screen.necessary_set) == set(full.necessary_set)}, "
        f"same F_S {set(screen.sufficient_set) == set(full.sufficient_set)}"
    )

    print(f"3. SUNY-filter per image against one Grad-CAM ({precision}; target at most 1x)")
    for name in models:
        print(filter_against_gradcam(name, weights(name), device, precision))

    print("4. Score-CAM: ours against pytorch-grad-cam's ScoreCAM (target: ours at least 3x faster)")
    options = argparse.Namespace(
        batch_size=args.batch_size, precision=precision, rise_masks=4000, smoothgrad_samples=50
    )
    images = load_images(lite, 1 if args.quick else args.images).to(device)
    with torch.no_grad():
        targets = lite(images).argmax(dim=1)
    theirs_run = reference("scorecam", lite, lite.default_layer, options)
    assert theirs_run is not None
    runs = [ours("scorecam", lite, lite.default_layer, options), theirs_run]
    mine, theirs = seconds_per_image(runs, images, targets, warmup=1, repeats=1 if args.quick else 2)
    print(
        f"  Lite0 {lite.default_layer}, {len(images)} image(s): ours {mine:.3f} s/image, "
        f"pytorch-grad-cam {theirs:.3f} s/image -> {theirs / mine:.1f}x faster"
    )

    methods = "gradcam,suny-filter,rise" if args.quick else "all"
    print(f"5. the whole grid on Lite0 ({precision}, {methods} methods, every metric)")
    grid = argparse.Namespace(data=str(DATA), images=1 if args.quick else args.images, methods=methods)
    metrics = ("deletion", "insertion", "attack", "pointing")
    step = 224 * 224 // 4 if args.quick else 224
    rise = {"rise": {"masks": 64}} if args.quick else {}
    grid_options = GridOptions(
        metrics=metrics,
        step=step,
        batch_size=args.batch_size,
        precision=precision,
        examples=0,
        method_options=rise,
    )
    seconds = timed_grid(grid, ModelEntry("efficientnet-lite0", lite), grid_options, "gpu")
    print(f"  {seconds:.1f} s per image after a warm-up image ({grid.images} image(s), step {step})")
    print(f"done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
