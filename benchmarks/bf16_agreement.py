"""Does bfloat16 move the evaluation? Every method and metric in float32 and in bfloat16 on the same
development crops, paired per image, before bfloat16 may become ``--precision auto``'s choice.

For each method and score: the mean bfloat16 - float32 difference over the images, its standard
error (std of the differences / sqrt(n)) and whether ``|mean| <= standard error`` (the precision
moves the metric by no more than its paired noise); over a set, the attack score of each precision.
For SUNY-feature and SUNY-filter: how often the hypothesised sets F_N and F_S are the same.

    python benchmarks/bf16_agreement.py --per-class 1 --step 896 --out docs/results/bf16
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import time
from pathlib import Path

import torch

from suny import load_model
from suny.data import ilsvrc_kaggle
from suny.engine.hardware import describe_device
from suny.evaluation import ScoringSettings, score_image
from suny.metrics.attack import attack_score
from suny.registry import create_method, method_class, method_names

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ilsvrc-val-crops"
PRECISIONS = ("float32", "bfloat16")


def development_split(samples: list, per_class: int) -> list:
    """The first ``per_class`` crops of each class, in image-id order."""
    taken: dict[int, int] = {}
    chosen = []
    for sample in samples:
        if taken.get(sample.classes[0], 0) < per_class:
            taken[sample.classes[0]] = taken.get(sample.classes[0], 0) + 1
            chosen.append(sample)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--per-class", type=int, default=1)
    parser.add_argument("--step", type=int, default=896, help="pixels per curve step (coarser than 224)")
    parser.add_argument("--methods", default="all")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default="docs/results/bf16")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device(args.device)
    model = load_model(args.model, device=device)
    samples = development_split(ilsvrc_kaggle(args.data), args.per_class)
    names = method_names() if args.methods == "all" else args.methods.split(",")
    groups: dict[type, list[str]] = {}
    for name in names:
        groups.setdefault(method_class(name), []).append(name)
    metrics = ("deletion", "insertion", "attack", "pointing")
    rows, sets, started = [], [], time.perf_counter()
    for number, sample in enumerate(samples, 1):
        for group in groups.values():
            scored = {}
            for precision in PRECISIONS:
                method = create_method(group[0], model, precision=precision)
                settings = ScoringSettings(step=args.step, precision=precision)
                scored[precision] = score_image(method, sample, dict.fromkeys(group, metrics), settings)
            for name in group:
                values = {
                    p: {k: float(v.mean()) for k, v in scored[p].maps[name].values().items()}
                    for p in PRECISIONS
                }
                for score in values["float32"]:
                    rows.append({"image_id": sample.image_id, "method": name, "score": score,
                                 **{p: values[p][score] for p in PRECISIONS}})  # fmt: skip
            extras = {p: scored[p].extras for p in PRECISIONS}
            if extras["float32"] and hasattr(extras["float32"][0], "necessary_set"):
                a, b = extras["float32"][0], extras["bfloat16"][0]
                sets.append({"image_id": sample.image_id, "cause": a.cause,
                             "same_necessary": set(a.necessary_set) == set(b.necessary_set),
                             "same_sufficient": set(a.sufficient_set) == set(b.sufficient_set)})  # fmt: skip
        print(
            f"[{number}/{len(samples)}] {sample.image_id} {time.perf_counter() - started:.0f} s", flush=True
        )
    summary = summarise(rows)
    write(
        out, args, rows, sets, summary, len(samples), time.perf_counter() - started, describe_device(device)
    )


def summarise(rows: list[dict]) -> list[dict]:
    keys = sorted({(r["method"], r["score"]) for r in rows})
    summary = []
    for method, score in keys:
        pairs = [(r["float32"], r["bfloat16"]) for r in rows if (r["method"], r["score"]) == (method, score)]
        pairs = [(a, b) for a, b in pairs if not (math.isnan(a) or math.isnan(b))]
        differences = [b - a for a, b in pairs]
        mean = statistics.mean(differences)
        error = statistics.stdev(differences) / math.sqrt(len(differences)) if len(differences) > 1 else 0.0
        summary.append({"method": method, "score": score, "images": len(pairs), "mean_difference": mean,
                        "stderr": error, "within": abs(mean) <= error or mean == 0.0,
                        "float32": statistics.mean(a for a, _ in pairs),
                        "bfloat16": statistics.mean(b for _, b in pairs)})  # fmt: skip
    for method in sorted({r["method"] for r in rows}):
        for suffix in ("", "_literal"):
            cells = {}
            for precision in PRECISIONS:
                flips = [
                    r[precision]
                    for r in rows
                    if r["method"] == method and r["score"] == f"attack_flip{suffix}"
                ]
                sizes = [
                    r[precision]
                    for r in rows
                    if r["method"] == method and r["score"] == f"attack_size{suffix}"
                ]
                cells[precision] = attack_score(torch.tensor(flips), torch.tensor(sizes))
            summary.append({"method": method, "score": f"attack_score{suffix}", "images": len(flips),
                            "float32": cells["float32"], "bfloat16": cells["bfloat16"],
                            "mean_difference": cells["bfloat16"] - cells["float32"], "stderr": math.nan,
                            "within": None})  # fmt: skip
    return summary


def write(out: Path, args, rows, sets, summary, images: int, seconds: float, device: str) -> None:
    for name, table in (("per_image.csv", rows), ("summary.csv", summary)):
        with (out / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows(table)
    agreement = {}
    for cause in sorted({s["cause"] for s in sets}):
        chosen = [s for s in sets if s["cause"] == cause]
        agreement[cause] = {
            "images": len(chosen),
            "same_necessary_set": sum(s["same_necessary"] for s in chosen) / len(chosen),
            "same_sufficient_set": sum(s["same_sufficient"] for s in chosen) / len(chosen),
        }
    moved = [s for s in summary if s["within"] is False]
    report = {"device": device, "images": images, "seconds": round(seconds), "step": args.step,
              "model": args.model, "sets": agreement, "moved_beyond_stderr": moved}  # fmt: skip
    (out / "summary.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
