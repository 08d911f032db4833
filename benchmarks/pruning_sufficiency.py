"""The best single filter's sufficiency, E_S({k}) = p_c(keep only k) / p_c, before and after
pruning removed the channel (issue 11, SPEC section 1), at EfficientNet-Lite0's head and last block.

Before: "keep only filter k" zeroed the other filters' weights, so the BatchNorm after the pruned
convolution set each pruned channel to its constant ``beta - gamma * mu / sqrt(var + eps)`` (-14.7
to +21.7 on Lite0's head). After (the library's SUNY-filter): the pruned channels are 0 at the BN's
output. Both on the same crops for the predicted class: "before" by full forward passes with the
convolution's other channels zeroed, "after" by ``Suny(cause="filter").singletons``.

    python benchmarks/pruning_sufficiency.py --limit 20
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from suny import Suny, load_model
from suny.data import ilsvrc_kaggle
from suny.engine.hardware import describe_device
from suny.evaluation import predicted_class, preprocessed_image
from suny.models import ImageClassifier, forward_hooks

BATCH = 64
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ilsvrc-val-crops"


@torch.no_grad()
def zeroed_weights_sufficiency(
    model: ImageClassifier, conv: str, image: torch.Tensor, target: int
) -> torch.Tensor:
    """p_c after keeping each filter of ``conv`` alone by zeroing the others' weights (the old
    pruning): the convolution's output keeps one channel, and whatever follows (a BatchNorm) runs."""
    module = model.network.get_submodule(conv)
    channels = module.out_channels
    probabilities = []
    for start in range(0, channels, BATCH):
        keep = torch.arange(start, min(start + BATCH, channels))
        only = torch.zeros(len(keep), channels, 1, 1)
        only[torch.arange(len(keep)), keep] = 1.0
        with forward_hooks([(module, lambda _m, _i, output, only=only: output * only)]):
            logits = model(image[None].expand(len(keep), -1, -1, -1))
        probabilities.append(logits.softmax(1)[:, target])
    return torch.cat(probabilities)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--limit", type=int, default=20, help="the first N development crops (default: 20)")
    parser.add_argument("--layers", default="_head_activation,_blocks.15", help="comma-separated layers")
    args = parser.parse_args()
    print(describe_device(torch.device("cpu")))
    model = load_model("efficientnet-lite0")
    samples = ilsvrc_kaggle(args.data)[: args.limit]
    for layer in args.layers.split(","):
        conv = model.filter_layer(layer)
        print(f"\n{layer} (pruned convolution {conv}), predicted class; E_S of the best single filter")
        before, after = [], []
        for sample in samples:
            image = preprocessed_image(model, sample)
            target = predicted_class(model, image)
            suny = Suny(model, cause="filter", layer=layer)
            singletons = suny.singletons(suny.prepare(image))
            p = float(singletons.clean[target])
            before.append(float(zeroed_weights_sufficiency(model, conv, image, target).max()) / p)
            after.append(float(singletons.effects(target)[1].max()))
            print(f"  {sample.image_id}: p_c {p:.3f}  before {before[-1]:.2e}  after {after[-1]:.2e}")
        print(
            f"{layer}, {len(before)} crops: median before {statistics.median(before):.2e} "
            f"(max {max(before):.2e}), after {statistics.median(after):.2e} (max {max(after):.2e})"
        )


if __name__ == "__main__":
    main()
