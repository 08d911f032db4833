"""SUNY-filter per image on transformers' ResNet-50 against torchvision's, in one run (issue 31).

Both random weights, one image, the default layer of each (``model.resnet.encoder.stages.3`` and
``layer4``: the filters of the last convolution of the last block's own path), float32. Before
transformers' embeddings became one opaque node of the traced graph, tracing failed on them and
SUNY-filter ran a whole forward pass per coalition (75 s against 0.4 s in the issue); the target is
within 2x.

    python benchmarks/transformers_resnet.py             # this machine's CPU
    python benchmarks/transformers_resnet.py --device cuda
"""

from __future__ import annotations

import argparse
import warnings

import torch
from common import timed

from suny import Suny, load_model
from suny.engine.hardware import describe_device
from suny.interventions.filter import FilterReplay, SlowPathWarning

MODELS = ("hf:microsoft/resnet-50", "resnet50")


def seconds_per_image(name: str, device: torch.device, repeats: int) -> tuple[float, str, str]:
    """(best seconds of one SUNY-filter explanation, the pruned convolution, the replay's path)."""
    torch.manual_seed(0)
    model = load_model(name, "none", device=device)
    image = torch.rand(3, model.preprocessing.crop, model.preprocessing.crop, device=device)
    explainer = Suny(model, cause="filter")
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always", SlowPathWarning)
        explanation = explainer.explain(image)  # warm-up: the trace, the graph's caches
    path = FilterReplay(model, explanation.layer, image[None]).path
    if said:
        path += f" ({said[0].message})"
    return timed(lambda: explainer.explain(image), device, repeats), explanation.layer, path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many explanations")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device: {describe_device(device)}")
    times = {}
    for name in MODELS:
        times[name], conv, path = seconds_per_image(name, device, args.repeats)
        print(f"{name}: SUNY-filter {times[name]:.2f} s per image at {conv}, path {path}")
    ratio = times[MODELS[0]] / times[MODELS[1]]
    print(f"transformers / torchvision: {ratio:.2f}x (target: at most 2x)")


if __name__ == "__main__":
    main()
