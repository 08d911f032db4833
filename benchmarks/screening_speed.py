"""The screened search of SUNY-feature's sets against the exhaustive one: what it costs (issue 30's
targets), both measured in the same run on the same images, with the device printed.

1. Per image, SUNY-feature with each search (its forward passes and wall seconds, the sets chosen
   and every class's map), on the first ``--crops`` development crops of each model: Lite0 and
   Lite2 at their head (ImageNet weights), and a torchvision ResNet50 at ``layer4`` with random
   weights (nothing is downloaded). The targets: screened passes at most 1/10 of the exhaustive
   search's at Lite0's head.
2. ``suny explain`` on the sample image (both causes, the report), a fresh process each, float32,
   with ``--search exhaustive`` and ``--search screen``. The target: at most 10 s on a 2-core CPU.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/screening_speed.py --crops 3
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from suny import Suny, load_model
from suny.data import ilsvrc_kaggle
from suny.engine.hardware import describe_device
from suny.evaluation import preprocessed_image

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ilsvrc-val-crops"
SEARCHES = ("exhaustive", "screen")
#: (model, weights, layer) measured in part 1 (None: the model's default layer).
MODELS = (
    ("efficientnet-lite0", "default", None),
    ("efficientnet-lite2", "default", None),
    ("resnet50", "none", "layer4"),
)


def one_image(
    suny: Suny, image: torch.Tensor, targets: list[int]
) -> tuple[int, float, list[tuple[list[int], list[int]]]]:
    """SUNY-feature's maps of ``targets``: the forward passes, seconds, and each class's F_N, F_S."""
    start = time.perf_counter()
    causes = suny.prepare(image)
    search = suny.set_search(causes, start)
    explanations = [suny.explain_class(causes, search, target) for target in targets]
    sets = [(e.necessary_set, e.sufficient_set) for e in explanations]
    return causes.forward_passes, time.perf_counter() - start, sets


def per_image(crops: int, names: list[str]) -> None:
    samples = ilsvrc_kaggle(DATA)[:crops]
    print(f"\n1. SUNY-feature per image, first {crops} development crops, float32 (mean over the crops)")
    print("model | layer | passes exhaustive -> screen (ratio) | seconds exhaustive -> screen (ratio) | same")
    for name, weights, layer in (entry for entry in MODELS if entry[0] in names):
        torch.manual_seed(0)
        model = load_model(name, weights)
        totals = {search: [0, 0.0] for search in SEARCHES}
        same = 0
        for sample in samples:
            image = preprocessed_image(model, sample)
            targets = list(sample.classes) if weights != "none" else [int(model(image[None]).argmax())]
            sets = {}
            for search in SEARCHES:
                suny = Suny(model, layer, search=search)  # type: ignore[arg-type]
                passes, seconds, sets[search] = one_image(suny, image, targets)
                totals[search][0] += passes
                totals[search][1] += seconds
            same += sets["exhaustive"] == sets["screen"]
        (p_ex, s_ex), (p_sc, s_sc) = (totals[search] for search in SEARCHES)
        print(
            f"{name} ({weights}) | {layer or model.default_layer} | {p_ex / crops:.0f} -> {p_sc / crops:.0f} "
            f"({p_sc / p_ex:.3f}) | {s_ex / crops:.1f} -> {s_sc / crops:.1f} ({s_sc / s_ex:.3f}) | "
            f"{same}/{crops}"
        )


def main_job() -> None:
    print("\n2. suny explain on the sample image (both causes, report), float32, a fresh process each")
    seconds = {}
    for search in SEARCHES:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            command = [sys.executable, "-m", "suny.cli.main", "explain", "--out", out, "--search", search]
            subprocess.run([*command, "--precision", "float32"], check=True, capture_output=True)
            seconds[search] = time.perf_counter() - start
        print(f"   --search {search}: {seconds[search]:.1f} s")
    print(f"   screen / exhaustive: {seconds['screen'] / seconds['exhaustive']:.3f} (target: screen <= 10 s)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--crops", type=int, default=3, help="part 1's development crops per model")
    parser.add_argument("--skip-per-image", action="store_true", help="only part 2")
    parser.add_argument(
        "--models", default=",".join(name for name, _, _ in MODELS), help="part 1's models, comma-separated"
    )
    parser.add_argument("--skip-main-job", action="store_true", help="only part 1")
    args = parser.parse_args()
    print(f"device: {describe_device(torch.device('cpu'))}")
    if not args.skip_main_job:
        main_job()
    if not args.skip_per_image:
        per_image(args.crops, args.models.split(","))


if __name__ == "__main__":
    main()
