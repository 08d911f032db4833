"""A folder that explains one image: pictures, raw maps, a JSON summary and a self-contained HTML page.

:func:`write_explanation_report` writes, for each explanation (one per cause type, prefix ``feature``
or ``filter``): ``{cause}-bivariate.png`` (2-D map with legend), ``{cause}-necessity.png``,
``{cause}-sufficiency.png``, ``{cause}-combined.png`` (1-D heatmap overlays at the image's
resolution), ``{cause}-figure.png`` (all of them in one figure) and ``{cause}.npz`` (the maps and
per-cause vectors, :meth:`Explanation.save_npz`); once: ``image.png``, ``comparison.png`` and
``methods.npz`` when other methods' maps are given, ``summary.json`` and ``index.html``
(:mod:`suny.visualisation.html`). The causes' names and the textual explanation are those of
:mod:`suny.visualisation.concepts`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from PIL import Image
from torch import Tensor

from suny.errors import SunyError
from suny.method.explanation import Explanation, json_safe
from suny.models.wrapper import ImageClassifier
from suny.visualisation.colormap import ImageLike, MapLike, as_map, overlay_heatmap, to_rgb_array
from suny.visualisation.concepts import KINDS, cause_table, textual_explanation
from suny.visualisation.figures import (
    ComparisonRow,
    bivariate_figure,
    comparison_figure,
    explanation_figure,
    format_seconds,
)
from suny.visualisation.html import escape, figure, page, table


@dataclass(frozen=True)
class ClassScore:
    """One class of the model's prediction."""

    index: int
    name: str
    probability: float


def top_predictions(model: ImageClassifier, image: Tensor, count: int = 5) -> list[ClassScore]:
    """The ``count`` most probable classes for one image (3, H, W) or (1, 3, H, W) in [0, 1]."""
    probabilities = model.probabilities(image.reshape(1, *image.shape[-3:]).to(model.device))[0]
    values, indices = probabilities.topk(min(count, probabilities.numel()))
    return [ClassScore(int(i), model.class_name(int(i)), float(p)) for p, i in zip(values, indices)]


# ------------------------------------------------------------------------------------- report
def write_explanation_report(
    out_dir: str | Path,
    image: ImageLike,
    explanations: Sequence[Explanation],
    predictions: Sequence[ClassScore | tuple[int, str, float]] | None = None,
    concepts: Mapping[int, str] | None = None,
    methods: Mapping[str, MapLike] | None = None,
    method_seconds: Mapping[str, float] | None = None,
    count: int = 5,
    dpi: int = 120,
) -> dict[str, Any]:
    """Write the report of ``explanations`` of ``image`` into ``out_dir`` (see the module docstring).

    Args:
        out_dir: The folder, created if needed; files of the same names are replaced.
        image: The explained image, as the model saw it.
        explanations: At most one per cause type (``feature``, ``filter``) and class; with several
            classes, the files of each carry its class (``feature-class281-...``) and
            ``classes.png`` shows the classes side by side, one row per cause type.
        predictions: The model's top classes (:func:`top_predictions`).
        concepts: Filter index -> concept name (:func:`~suny.visualisation.concepts.load_concepts`).
        methods: Other methods' maps (H, W) in [0, 1] by name, drawn beside SUNY in ``comparison.png``.
        method_seconds: The times of ``methods`` by name.
        count: How many top causes of each kind the tables list.
        dpi: The resolution of the matplotlib figures.

    Returns:
        What ``summary.json`` holds (NaN written as None).

    Raises:
        SunyError: With no explanation, or two of one cause type and class.
    """
    if not explanations:
        raise SunyError("write_explanation_report needs at least one explanation")
    pairs = [(e.cause, e.target) for e in explanations]
    if len(set(pairs)) != len(pairs):
        raise SunyError(
            f"write_explanation_report takes at most one explanation per cause type and class, got {pairs}"
        )
    several = len({e.target for e in explanations}) > 1
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    concepts, methods, method_seconds = concepts or {}, methods or {}, method_seconds or {}
    scores = [p if isinstance(p, ClassScore) else ClassScore(*p) for p in predictions or []]
    written: list[str] = []

    def save_picture(name: str, picture: np.ndarray) -> str:
        Image.fromarray(picture).save(out / name)
        written.append(name)
        return name

    def save_figure(name: str, figure: Figure) -> str:
        figure.savefig(out / name, dpi=dpi)
        written.append(name)
        return name

    save_picture("image.png", to_rgb_array(image))
    entries = []
    for e in explanations:
        prefix = f"{e.cause}-class{e.target}" if several else e.cause
        files = {
            "bivariate": save_figure(
                f"{prefix}-bivariate.png", bivariate_figure(image, e.necessity_map, e.sufficiency_map)
            ),
            **{
                kind: save_picture(f"{prefix}-{kind}.png", overlay_heatmap(image, values))
                for kind, values in (
                    ("necessity", e.necessity_map),
                    ("sufficiency", e.sufficiency_map),
                    ("combined", e.combined_map),
                )
            },
            "figure": save_figure(f"{prefix}-figure.png", explanation_figure(image, e)),
        }
        files["maps"] = f"{prefix}.npz"
        e.save_npz(out / files["maps"])
        written.append(files["maps"])
        entries.append(
            {
                "summary": e.summary(),
                "text": textual_explanation(e, concepts),
                "top_causes": {kind: cause_table(e, kind, concepts, count) for kind in KINDS},
                "files": files,
            }
        )
    classes = None
    if several:
        rows = [
            ComparisonRow(
                image,
                {f"{e.target_name} ({e.probability:.2f})": e for e in explanations if e.cause == cause},
                {},
                f"SUNY-{cause}",
            )
            for cause in dict.fromkeys(e.cause for e in explanations)
        ]
        classes = save_figure("classes.png", comparison_figure(rows))
    comparison = None
    if methods:
        size = to_rgb_array(image).shape[:2]
        arrays = {n: as_map(m, size) for n, m in methods.items()}
        np.savez_compressed(out / "methods.npz", allow_pickle=False, **arrays)
        written.append("methods.npz")
        first = explanations[0].target  # the methods explain the first class
        row = ComparisonRow(
            image,
            {**methods, **{f"SUNY-{e.cause}": e for e in explanations if e.target == first}},
            method_seconds,
        )
        comparison = save_figure("comparison.png", comparison_figure([row]))
    summary = {
        "model": explanations[0].model_name,
        "image": "image.png",
        "prediction": asdict(scores[0]) if scores else None,
        "top_classes": [asdict(p) for p in scores],
        "explanations": entries,
        "methods": {name: {"seconds": method_seconds.get(name)} for name in methods},
        "comparison": comparison,
        "classes": classes,
        "concepts": len(concepts),
        "files": sorted([*written, "summary.json", "index.html"]),
    }
    summary = dict(json_safe(summary))
    (out / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False), encoding="utf-8")
    (out / "index.html").write_text(_html(summary), encoding="utf-8")
    return summary


# --------------------------------------------------------------------------------------- HTML
def _number(value: float | None) -> str:
    """Three significant digits (responsibilities can be tiny); an em dash for a missing value."""
    return "—" if value is None else f"{value:.3g}"


def _prediction_html(summary: dict[str, Any]) -> str:
    top = summary["top_classes"]
    if not top:
        return ""
    best = top[0]
    rows = [(str(i + 1), str(c["index"]), c["name"], _number(c["probability"])) for i, c in enumerate(top)]
    return (
        f"<h2>Prediction</h2><p>The model {escape(summary['model'])} predicts <b>{escape(best['name'])}</b> "
        f"(class {best['index']}) with probability {best['probability']:.3f}.</p>"
        + table([["rank", "class", "name", "probability"]], rows, {2})
    )


def _explanation_html(entry: dict[str, Any], with_concepts: bool) -> str:
    s, files = entry["summary"], entry["files"]
    noun = "filter" if s["cause"] == "filter" else "feature map"
    tables = []
    for kind in KINDS:
        letter = kind[0].upper()
        header = [
            "rank",
            noun,
            *(["concept"] if with_concepts else []),
            f"R_{letter}",
            "± s.e.",
            f"E_{letter}({{k}})",
        ]
        rows = [
            [
                str(i + 1),
                str(c["cause"]),
                *([c["concept"] or "—"] if with_concepts else []),
                _number(c["responsibility"]),
                _number(c["stderr"]),
                _number(c["effect"]),
            ]
            for i, c in enumerate(entry["top_causes"][kind])
        ]
        causes = table([header], rows, {2} if with_concepts else set()) if rows else "<p>none positive</p>"
        tables.append(f"<div><h3>Top {noun}s by {kind}</h3>{causes}</div>")
    games = s["game_values"]
    return f"""
<h2>SUNY-{escape(s["cause"])} · layer {escape(s["layer"])}</h2>
<p>Explained class: <b>{escape(s["target_name"])}</b> (class {s["target"]}), probability
{s["probability"]:.3f}.</p>
<p class="text">{escape(entry["text"])}</p>
<div class="pictures">
{figure(files["bivariate"], "necessity × sufficiency (2-D colormap)", "bivariate")}
{figure(files["necessity"], "necessity map N", "map")}
{figure(files["sufficiency"], "sufficiency map S", "map")}
{figure(files["combined"], f"combined map ({s['combination']})", "map")}
</div>
<div class="tables">{"".join(tables)}</div>
<p class="meta">R_N, R_S: responsibility (Shapley value in the necessity or sufficiency game) ± its
standard error; E_N({{k}}), E_S({{k}}): the effect of the {noun} alone.</p>
<p class="meta">Hypothesised sets: F_N = {escape(s["necessary_set"])}, F_S = {escape(s["sufficient_set"])}.
Game values: E_N(F_N) = {_number(games.get("necessity_full"))},
E_S(F_S) = {_number(games.get("sufficiency_full"))}, E_S(∅) = {_number(games.get("sufficiency_empty"))}.
{s["forward_passes"]} forward passes, {escape(format_seconds(s["seconds"]))}, seed {s["seed"]}.
Files: <a href="{escape(files["figure"])}">figure</a>, <a href="{escape(files["maps"])}">maps (.npz)</a>.</p>
"""


def _html(summary: dict[str, Any]) -> str:
    entries = summary["explanations"]
    names = list(dict.fromkeys(entry["summary"]["target_name"] for entry in entries))
    title = f"SUNY explanation: {', '.join(names)}"
    body = [
        f"<h1>{escape(title)}</h1>",
        figure(summary["image"], "input image", "map"),
        _prediction_html(summary),
    ]
    if summary["classes"]:
        body.append(f"<h2>The classes side by side</h2>{figure(summary['classes'], 'classes', 'wide')}")
    body += [_explanation_html(entry, summary["concepts"] > 0) for entry in entries]
    if summary["comparison"]:
        body.append(f"<h2>Comparison with other methods</h2>{figure(summary['comparison'], 'comparison')}")
    links = ", ".join(f'<a href="{escape(f)}">{escape(f)}</a>' for f in summary["files"])
    body.append(f'<p class="meta">Files: {links}.</p>')
    return page(title, body)
