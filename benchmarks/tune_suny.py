"""Tuning SUNY's defaults on development data: every metric for every candidate, against its cost.

Procedure (documented in docs/results/tuning/README.md, which this script writes):

- Development split: the first ``--per-class`` images of each class of
  ``../shared/data/ilsvrc-val-crops`` (sorted by image id), explained for their ground-truth class.
- Candidates: cause type (feature, filter) x (set size, Shapley permutations) from ``--configs`` x
  the combination of N and S (sum, product, necessity, sufficiency). The 2K singleton
  interventions are computed once per image and cause type and shared by every candidate; each
  candidate's cost is counted as if it ran alone (singletons + its own coalitions).
- Metrics: deletion and insertion AUC (``--step`` pixels per step; the tuning uses a coarser step
  than the published protocol's 224 to fit a CPU), overall = insertion - deletion, the
  energy-based pointing game, and the saliency attack (flip rate, mean size, score).

Writes ``candidates.csv`` (one row per image and candidate), ``summary.csv`` (means per candidate),
``fidelity_vs_cost.png`` and the README.

    python benchmarks/tune_suny.py --per-class 1 --out docs/results/tuning
"""

from __future__ import annotations

import argparse
import csv
import platform
import time
from pathlib import Path

import torch
from common import describe_device

from suny import Suny, load_image, load_model
from suny.data import ilsvrc_kaggle
from suny.evaluation import ScoringSettings, score_maps
from suny.method.suny import COMBINATIONS, combine
from suny.metrics.attack import attack_score

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ilsvrc-val-crops"
METRICS = ("deletion", "insertion", "overall", "pointing", "attack_flip", "attack_size")


def development_split(samples, per_class: int):
    taken: dict[int, int] = {}
    chosen = []
    for sample in samples:
        label = sample.classes[0]
        if taken.get(label, 0) < per_class:
            taken[label] = taken.get(label, 0) + 1
            chosen.append(sample)
    return chosen


def score(model, sample, image, target, maps, step, seed) -> list[dict[str, float]]:
    """Every metric for each map of ``maps`` (M, H, W) of one image and class, through
    :func:`~suny.evaluation.score_maps` (the scorer of ``suny bench`` and ``suny evaluate``)."""
    named = {str(i): maps[i : i + 1] for i in range(len(maps))}
    todo = dict.fromkeys(named, ("deletion", "insertion", "attack", "pointing"))
    settings = ScoringSettings(step=step, seed=seed)
    scores = score_maps(model, sample, image, [target], named, todo, settings)
    names = {"deletion": "deletion_auc", "insertion": "insertion_auc"}
    return [
        {metric: float(scores[name].values()[names.get(metric, metric)][0]) for metric in METRICS}
        for name in named
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--per-class", type=int, default=1)
    parser.add_argument("--configs", default="4x16,8x16,8x32,16x16", help="set_size x permutations, ...")
    parser.add_argument("--causes", default="feature,filter")
    parser.add_argument("--step", type=int, default=896)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default="docs/results/tuning")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device(args.device)
    model = load_model(args.model, device=device)
    configs = [tuple(int(v) for v in c.split("x")) for c in args.configs.split(",")]
    samples = development_split(ilsvrc_kaggle(args.data), args.per_class)
    rows: list[dict] = []
    started = time.perf_counter()
    for number, sample in enumerate(samples, 1):
        pil = load_image(sample.path, min_side=model.preprocessing.resize)
        image = model.preprocess(pil).to(device)
        target = sample.classes[0]
        for cause in args.causes.split(","):
            suny = Suny(model, cause=cause, seed=args.seed)
            clock = time.perf_counter()
            causes = suny.prepare(image)
            singletons = suny.singletons(causes, clock)
            for set_size, permutations in configs:
                suny.set_size, suny.permutations = set_size, permutations
                explanation = suny.explain_class(causes, singletons, target)
                passes, seconds = explanation.forward_passes, explanation.seconds
                maps = torch.stack(
                    [combine(explanation.necessity_map, explanation.sufficiency_map, c) for c in COMBINATIONS]
                ).to(device)
                for combination, metrics in zip(
                    COMBINATIONS, score(model, sample, image, target, maps, args.step, args.seed)
                ):
                    rows.append(
                        {
                            "image_id": sample.image_id,
                            "cause": cause,
                            "set_size": set_size,
                            "permutations": permutations,
                            "combination": combination,
                            "forward_passes": passes,
                            "seconds": round(seconds, 3),
                            **metrics,
                        }
                    )
        print(
            f"[{number}/{len(samples)}] {sample.image_id} done, {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        write_csv(out / "candidates.csv", rows)
    summary = summarise(rows)
    write_csv(out / "summary.csv", summary)
    plot(summary, out / "fidelity_vs_cost.png")
    write_readme(out, args, summary, len(samples), time.perf_counter() - started, describe_device(device))


def summarise(rows: list[dict]) -> list[dict]:
    keys = sorted({(r["cause"], r["set_size"], r["permutations"], r["combination"]) for r in rows})
    summary = []
    for cause, set_size, permutations, combination in keys:
        group = [
            r
            for r in rows
            if (r["cause"], r["set_size"], r["permutations"], r["combination"])
            == (cause, set_size, permutations, combination)
        ]
        means = {m: sum(r[m] for r in group) / len(group) for m in (*METRICS, "forward_passes", "seconds")}
        flips = torch.tensor([r["attack_flip"] for r in group])
        sizes = torch.tensor([r["attack_size"] for r in group])
        summary.append(
            {
                "cause": cause,
                "set_size": set_size,
                "permutations": permutations,
                "combination": combination,
                "images": len(group),
                **{k: round(v, 4) for k, v in means.items()},
                "attack_score": round(attack_score(flips, sizes), 4),
            }
        )
    return summary


def plot(summary: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.2))
    for axis, metric in zip(figure.subplots(1, 3), ("overall", "pointing", "attack_score")):
        for cause, marker in (("feature", "o"), ("filter", "s")):
            for combination in COMBINATIONS:
                points = sorted(
                    (r["forward_passes"], r[metric], f"{r['set_size']}x{r['permutations']}")
                    for r in summary
                    if r["cause"] == cause and r["combination"] == combination
                )
                if not points:
                    continue
                xs, ys, labels = zip(*points)
                axis.plot(xs, ys, marker=marker, label=f"{cause}, {combination}")
                for x, y, label in zip(xs, ys, labels):
                    axis.annotate(label, (x, y), fontsize=6, alpha=0.7)
        axis.set_xscale("log")
        axis.set_xlabel("forward passes per image")
        axis.set_title(metric)
    figure.axes[0].legend(fontsize=6)
    figure.tight_layout()
    figure.savefig(path, dpi=130)


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_readme(out: Path, args, summary: list[dict], images: int, seconds: float, device: str) -> None:
    header = ["cause", "set x perm", "combination", "passes", "deletion ↓", "insertion ↑", "overall ↑",
              "pointing ↑", "attack score ↑"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in summary:
        lines.append(
            f"| {r['cause']} | {r['set_size']}x{r['permutations']} | {r['combination']} | "
            f"{r['forward_passes']:.0f} | {r['deletion']:.4f} | {r['insertion']:.4f} | {r['overall']:.4f} | "
            f"{r['pointing']:.4f} | {r['attack_score']:.4f} |"
        )
    text = f"""# Tuning SUNY's defaults

Generated by `python benchmarks/tune_suny.py --per-class {args.per_class} --configs {args.configs}
--step {args.step} --seed {args.seed}` on {device} ({platform.node() or "this machine"}), {images} images,
{seconds / 60:.0f} minutes. The procedure is in the script's docstring; every candidate and every
metric is listed, not only the winners (`candidates.csv` has the per-image numbers).

{chr(10).join(lines)}

![fidelity versus cost](fidelity_vs_cost.png)
"""
    (out / "README.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
