"""Time per image of every baseline, against the reference implementation of the same method
measured in the same run: pytorch-grad-cam for Grad-CAM, Grad-CAM++ and Score-CAM, captum's
``NoiseTunnel(Saliency)`` for SmoothGrad (RISE, Group-CAM and CexCNN have none).

    python benchmarks/bench_baselines.py --device cuda --images 8 --precision bfloat16
    python benchmarks/bench_baselines.py --device cpu --images 1 --methods gradcam,scorecam

Both sides get the same model, layer, [0, 1] images, targets (the predicted classes) and batch
size; pytorch-grad-cam's Score-CAM scores the softmax probability (``ClassifierOutputSoftmaxTarget``)
so that both run the same forward passes. ``--precision`` is that of our batched passes (Score-CAM,
Group-CAM, RISE, CexCNN, SmoothGrad); the references stay float32. Images come from
``../shared/data/imagenet-samples`` when it exists, else the scikit-image cat.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from suny.data import load_image
from suny.engine import PRECISIONS
from suny.engine.hardware import describe_device
from suny.models import ImageClassifier, load_model
from suny.registry import create_method
from suny.saliency import SaliencyMethod

ALL = ["gradcam", "gradcam++", "scorecam", "groupcam", "smoothgrad", "rise", "cexcnn"]
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet-samples"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--images", type=int, default=4, help="images timed per method (default 4)")
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--layer", default=None, help="default: the model's")
    parser.add_argument("--methods", default=",".join(ALL))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precision", default="float32", choices=PRECISIONS, help="of our batched passes")
    parser.add_argument("--rise-masks", type=int, default=4000)
    parser.add_argument("--smoothgrad-samples", type=int, default=50)
    parser.add_argument(
        "--no-reference", action="store_true", help="time ours only (the references are slow on CPU)"
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="timed runs of each, alternating; the fastest counts"
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed one-image runs first (default 1)")
    return parser.parse_args()


def load_images(model: ImageClassifier, count: int) -> Tensor:
    if SAMPLES.is_dir():
        paths = sorted(SAMPLES.glob("*.JPEG"))[:count]
        pictures = [load_image(path, min_side=model.preprocessing.resize) for path in paths]
    else:
        from suny.data import sample_image

        pictures = [sample_image()] * count
    return torch.stack([model.preprocess(picture) for picture in pictures])


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds_per_image(
    runs: list[Callable[[Tensor, Tensor], object]],
    images: Tensor,
    targets: Tensor,
    warmup: int,
    repeats: int,
) -> list[float]:
    """Seconds per image of each of ``runs`` on all ``images``: the fastest of ``repeats`` timed
    runs, taken in turn (ours, reference, ours, ...) so that a change of machine load hits both."""
    device = images.device
    for run in runs:
        for _ in range(warmup):
            run(images[:1], targets[:1])
    best = [float("inf")] * len(runs)
    for _ in range(repeats):
        for i, run in enumerate(runs):
            synchronize(device)
            start = time.perf_counter()
            run(images, targets)
            synchronize(device)
            best[i] = min(best[i], time.perf_counter() - start)
    return [seconds / len(images) for seconds in best]


def reference(
    name: str, model: ImageClassifier, layer: str, args: argparse.Namespace
) -> Callable[[Tensor, Tensor], None] | None:
    """The reference implementation of ``name`` as a ``run(images, targets)`` callable, or None."""
    if name == "smoothgrad":
        from captum.attr import NoiseTunnel, Saliency

        tunnel = NoiseTunnel(Saliency(model))

        def smoothgrad(images: Tensor, targets: Tensor) -> None:
            for image, target in zip(images, targets):
                tunnel.attribute(
                    image[None],
                    nt_type="smoothgrad",
                    nt_samples=args.smoothgrad_samples,
                    nt_samples_batch_size=args.batch_size,
                    stdevs=float(0.15 * (image.max() - image.min())),
                    target=int(target),
                )

        return smoothgrad
    import pytorch_grad_cam as cams
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget, ClassifierOutputTarget

    classes = {"gradcam": cams.GradCAM, "gradcam++": cams.GradCAMPlusPlus, "scorecam": cams.ScoreCAM}
    if name not in classes:
        return None
    target_class = ClassifierOutputSoftmaxTarget if name == "scorecam" else ClassifierOutputTarget

    def cam(images: Tensor, targets: Tensor) -> None:
        with classes[name](model=model, target_layers=[model.layer(layer)]) as method:
            method.batch_size = args.batch_size
            with contextlib.redirect_stderr(io.StringIO()):  # Score-CAM's progress bars
                method(images, targets=[target_class(int(c)) for c in targets])
        model.zero_grad(set_to_none=True)

    return cam


def ours(name: str, model: ImageClassifier, layer: str, args: argparse.Namespace) -> SaliencyMethod:
    options: dict = {"batch_size": args.batch_size, "precision": args.precision, "layer": layer}
    if name == "rise":
        options["masks"] = args.rise_masks
    if name == "smoothgrad":
        options["samples"] = args.smoothgrad_samples
    return create_method(name, model, **options)


def main() -> None:
    args = arguments()
    device = torch.device(args.device)
    model = load_model(args.model, device=device)
    layer = args.layer or model.default_layer
    images = load_images(model, args.images).to(device)
    with torch.no_grad():
        targets = model(images).argmax(dim=1)
    print(
        f"device: {describe_device(device)} | {args.model} layer {layer} | "
        f"{len(images)} images {tuple(images.shape[-2:])} | batch {args.batch_size} | "
        f"{args.precision} | RISE masks {args.rise_masks} | SmoothGrad samples {args.smoothgrad_samples}"
    )
    print(f"{'method':<11} {'ours s/img':>11} {'ref s/img':>10} {'ref/ours':>9}  reference")
    for name in args.methods.split(","):
        run = None if args.no_reference else reference(name, model, layer, args)
        runs = [ours(name, model, layer, args)] + ([run] if run else [])
        mine, *theirs = seconds_per_image(runs, images, targets, args.warmup, args.repeats)
        if not theirs:
            print(f"{name:<11} {mine:>11.4f} {'-':>10} {'-':>9}")
            continue
        source = "captum NoiseTunnel(Saliency)" if name == "smoothgrad" else "pytorch-grad-cam"
        print(f"{name:<11} {mine:>11.4f} {theirs[0]:>10.4f} {theirs[0] / mine:>8.2f}x  {source}")


if __name__ == "__main__":
    main()
