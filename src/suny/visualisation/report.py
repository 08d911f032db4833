"""A folder that explains one image: pictures, raw maps, a JSON summary and a self-contained HTML page.

:func:`write_report` writes, for each explanation (one per cause type, prefix ``feature`` or
``filter``): ``{cause}-bivariate.png`` (2-D map with legend), ``{cause}-necessity.png``,
``{cause}-sufficiency.png``, ``{cause}-combined.png`` (1-D heatmap overlays at the image's
resolution), ``{cause}-figure.png`` (all of them in one figure) and ``{cause}.npz`` (the maps and
per-cause vectors, :meth:`Explanation.save_npz`); once: ``image.png``, ``comparison.png`` and
``methods.npz`` when other methods' maps are given, ``summary.json`` and ``index.html`` (inline
style, no script, pictures by relative path).

Concept names (SPEC, textual explanations, paper A.4) come from a filter-to-concept table
(:func:`load_concepts`). Unit k of the table names channel k of the explained layer, which is both
feature map k (SUNY-feature) and the output of filter k (SUNY-filter), so one table serves both.
"""

from __future__ import annotations

import csv
import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from matplotlib.figure import Figure
from PIL import Image
from torch import Tensor

from suny.errors import SunyError
from suny.method.explanation import Explanation
from suny.models.wrapper import ImageClassifier
from suny.visualisation.colormap import ImageLike, MapLike, as_map, overlay_heatmap, to_rgb_array
from suny.visualisation.figures import (
    ComparisonRow,
    bivariate_figure,
    comparison_figure,
    explanation_figure,
    format_seconds,
)

Kind = Literal["necessity", "sufficiency"]
KINDS: tuple[Kind, Kind] = ("necessity", "sufficiency")
#: Column names accepted for the unit (filter index) and for its concept name in a CSV table.
UNIT_COLUMNS = ("unit", "filter", "index", "channel")
CONCEPT_COLUMNS = ("concept", "label")


class ClassScore(NamedTuple):
    """One class of the model's prediction."""

    index: int
    name: str
    probability: float


def top_predictions(model: ImageClassifier, image: Tensor, count: int = 5) -> list[ClassScore]:
    """The ``count`` most probable classes for one image (3, H, W) or (1, 3, H, W) in [0, 1]."""
    probabilities = model.probabilities(image.reshape(1, *image.shape[-3:]).to(model.device))[0]
    values, indices = probabilities.topk(min(count, probabilities.numel()))
    return [ClassScore(int(i), model.class_name(int(i)), float(p)) for p, i in zip(values, indices)]


# --------------------------------------------------------------------------------- concept table
def load_concepts(path: str | Path, unit_base: int | None = None) -> dict[int, str]:
    """Read a filter-to-concept table: ``{filter index (0-based): concept name}``.

    - CSV with a header naming a unit column (``unit``, ``filter``, ``index`` or ``channel``) and a
      name column (``concept`` or ``label``); other columns are ignored. Network Dissection's
      ``tally.csv`` (``unit,category,label,score,...``) is read as it is.
    - JSON (``.json``): an object ``{"126": "stripes", ...}``.

    ``unit_base`` is the number the file gives the first filter. By default it is 1 for a Network
    Dissection tally (recognised by its ``category`` and ``label`` columns: NetDissect writes
    ``unit + 1``) and 0 otherwise. Raises :class:`SunyError` naming the file (and line) when the
    file is missing or malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise SunyError(f"{path}: no such concept table")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise SunyError(f"{path}: cannot read the concept table ({err})") from err
    if path.suffix.lower() == ".json":
        entries, detected_base = _json_concepts(path, text), 0
    else:
        entries, detected_base = _csv_concepts(path, text)
    base = detected_base if unit_base is None else unit_base
    concepts: dict[int, str] = {}
    for where, unit, name in entries:
        index = unit - base
        if index < 0:
            raise SunyError(f"{path}{where}: unit {unit} is below the first unit number {base}")
        if concepts.get(index, name) != name:
            raise SunyError(f"{path}{where}: unit {unit} is named twice ({concepts[index]!r}, {name!r})")
        concepts[index] = name
    if not concepts:
        raise SunyError(f"{path}: the concept table is empty")
    return concepts


def _json_concepts(path: Path, text: str) -> list[tuple[str, int, str]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SunyError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(data, dict):
        raise SunyError(f'{path}: expected a JSON object {{"filter index": "concept name", ...}}')
    entries = []
    for key, value in data.items():
        where = f", key {key!r}"
        entries.append((where, _unit_number(path, where, key), _concept_name(path, where, value)))
    return entries


def _csv_concepts(path: Path, text: str) -> tuple[list[tuple[str, int, str]], int]:
    reader = csv.DictReader(text.splitlines())
    header = {name.strip().lower(): name for name in reader.fieldnames or [] if name}
    unit_column = next((header[c] for c in UNIT_COLUMNS if c in header), None)
    name_column = next((header[c] for c in CONCEPT_COLUMNS if c in header), None)
    if unit_column is None or name_column is None:
        raise SunyError(
            f"{path}: the CSV header must name a unit column ({', '.join(UNIT_COLUMNS)}) and a concept "
            f"column ({', '.join(CONCEPT_COLUMNS)}); found {', '.join(header) or 'no header'}"
        )
    entries = []
    for row in reader:
        where = f", line {reader.line_num}"
        entries.append(
            (where, _unit_number(path, where, row[unit_column]), _concept_name(path, where, row[name_column]))
        )
    netdissect = {"unit", "category", "label"} <= header.keys()
    return entries, int(netdissect)


def _unit_number(path: Path, where: str, value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise SunyError(f"{path}{where}: the unit {value!r} is not a whole number") from None


def _concept_name(path: Path, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SunyError(f"{path}{where}: the concept name {value!r} is empty or not text")
    return value.strip()


# --------------------------------------------------------------------------------------- text
def _cause_noun(explanation: Explanation, count: int) -> str:
    """``"filter"``/``"filters"`` or ``"feature map"``/``"feature maps"``."""
    noun = "filter" if explanation.cause == "filter" else "feature map"
    return noun if count == 1 else f"{noun}s"


def _cause_list(causes: Sequence[int], concepts: Mapping[int, str]) -> str:
    """``"126 (stripes), 5 and 7"``."""
    items = [f"{k} ({concepts[k]})" if k in concepts else str(k) for k in causes]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def textual_explanation(
    explanation: Explanation, concepts: Mapping[int, str] | None = None, count: int = 3
) -> str:
    """One sentence naming the top ``count`` causes by necessity and by sufficiency responsibility,
    with their concept names when ``concepts`` has them (paper A.4)."""
    concepts = concepts or {}
    e = explanation
    necessary, sufficient = e.top_causes("necessity", count), e.top_causes("sufficiency", count)
    needs = (
        f"needs {_cause_noun(e, len(necessary))} {_cause_list(necessary, concepts)}"
        if necessary
        else f"needs no single {_cause_noun(e, 1)}"
    )
    supported = (
        f"sufficiently supported by {_cause_noun(e, len(sufficient))} {_cause_list(sufficient, concepts)}"
        if sufficient
        else f"not sufficiently supported by any single {_cause_noun(e, 1)}"
    )
    return f"The decision for '{e.target_name}' {needs}, and is {supported} (layer {e.layer})."


def cause_table(
    explanation: Explanation, kind: Kind, concepts: Mapping[int, str] | None = None, count: int = 5
) -> list[dict[str, Any]]:
    """The top ``count`` causes of ``kind``: index, responsibility, its standard error, the singleton
    effect ``E({k})`` and the concept name (``None`` when unknown)."""
    e, concepts = explanation, concepts or {}
    values, errors, effects = (
        (e.necessity, e.necessity_stderr, e.necessity_effects)
        if kind == "necessity"
        else (e.sufficiency, e.sufficiency_stderr, e.sufficiency_effects)
    )
    return [
        {
            "cause": k,
            "responsibility": float(values[k]),
            "stderr": float(errors[k]),
            "effect": float(effects[k]),
            "concept": concepts.get(k),
        }
        for k in e.top_causes(kind, count)
    ]


# ------------------------------------------------------------------------------------- report
def write_report(
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
    """Write the report of ``explanations`` (at most one per cause type) of ``image`` into ``out_dir``
    (created if needed; files of the same names are replaced) and return what ``summary.json`` holds.

    ``predictions``: the model's top classes (:func:`top_predictions`); ``concepts``: filter index to
    concept name (:func:`load_concepts`); ``methods``: other methods' maps (H, W) in [0, 1] by name,
    drawn beside SUNY in ``comparison.png``, with ``method_seconds`` their times; ``count``: how
    many top causes per kind the tables list.
    """
    if not explanations:
        raise SunyError("write_report needs at least one explanation")
    causes = [e.cause for e in explanations]
    if len(set(causes)) != len(causes):
        raise SunyError(f"write_report takes at most one explanation per cause type, got {causes}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    concepts, methods, method_seconds = concepts or {}, methods or {}, method_seconds or {}
    predictions = [ClassScore(*p) for p in predictions or []]
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
        files = {
            "bivariate": save_figure(
                f"{e.cause}-bivariate.png", bivariate_figure(image, e.necessity_map, e.sufficiency_map)
            ),
            **{
                kind: save_picture(f"{e.cause}-{kind}.png", overlay_heatmap(image, values))
                for kind, values in (
                    ("necessity", e.necessity_map),
                    ("sufficiency", e.sufficiency_map),
                    ("combined", e.combined_map),
                )
            },
            "figure": save_figure(f"{e.cause}-figure.png", explanation_figure(image, e)),
        }
        files["maps"] = f"{e.cause}.npz"
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
    comparison = None
    if methods:
        size = to_rgb_array(image).shape[:2]
        np.savez_compressed(out / "methods.npz", **{n: as_map(m, size) for n, m in methods.items()})
        written.append("methods.npz")
        row = ComparisonRow(
            image, {**methods, **{f"SUNY-{e.cause}": e for e in explanations}}, method_seconds
        )
        comparison = save_figure("comparison.png", comparison_figure([row]))
    summary = {
        "model": explanations[0].model_name,
        "image": "image.png",
        "prediction": predictions[0]._asdict() if predictions else None,
        "top_classes": [p._asdict() for p in predictions],
        "explanations": entries,
        "methods": {name: {"seconds": method_seconds.get(name)} for name in methods},
        "comparison": comparison,
        "concepts": len(concepts),
        "files": sorted([*written, "summary.json", "index.html"]),
    }
    summary = _finite(summary)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False), encoding="utf-8")
    (out / "index.html").write_text(_html(summary), encoding="utf-8")
    return summary


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by ``None`` (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


# --------------------------------------------------------------------------------------- HTML
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
.pictures { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-end; }
figure { margin: 0; text-align: center; } figcaption { font-size: 0.9em; color: #555; }
img.map { width: 240px; height: auto; } img.bivariate { height: 260px; width: auto; }
img.wide { max-width: 100%; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; } td.name { text-align: left; }
.tables { display: flex; flex-wrap: wrap; gap: 2em; }
p.text { font-size: 1.08em; background: #f6f3fa; padding: 0.6em 0.9em; border-left: 4px solid #542788; }
.meta { color: #555; font-size: 0.9em; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _number(value: float | None) -> str:
    """Three significant digits (responsibilities can be tiny); an em dash for a missing value."""
    return "—" if value is None else f"{value:.3g}"


def _figure(src: str, caption: str, css: str = "map") -> str:
    image = f'<img class="{css}" src="{_e(src)}" alt="{_e(caption)}">'
    return f"<figure>{image}<figcaption>{_e(caption)}</figcaption></figure>"


def _table(rows: Sequence[Sequence[str]], header: Sequence[str], name_columns: set[int]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="name">{_e(c)}</td>' if i in name_columns else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _prediction_html(summary: dict[str, Any]) -> str:
    top = summary["top_classes"]
    if not top:
        return ""
    best = top[0]
    rows = [(str(i + 1), str(c["index"]), c["name"], _number(c["probability"])) for i, c in enumerate(top)]
    return (
        f"<h2>Prediction</h2><p>The model {_e(summary['model'])} predicts <b>{_e(best['name'])}</b> "
        f"(class {best['index']}) with probability {best['probability']:.3f}.</p>"
        + _table(rows, ["rank", "class", "name", "probability"], {2})
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
        table = _table(rows, header, {2} if with_concepts else set()) if rows else "<p>none positive</p>"
        tables.append(f"<div><h3>Top {noun}s by {kind}</h3>{table}</div>")
    games = s["game_values"]
    return f"""
<h2>SUNY-{_e(s["cause"])} · layer {_e(s["layer"])}</h2>
<p>Explained class: <b>{_e(s["target_name"])}</b> (class {s["target"]}), probability
{s["probability"]:.3f}.</p>
<p class="text">{_e(entry["text"])}</p>
<div class="pictures">
{_figure(files["bivariate"], "necessity × sufficiency (2-D colormap)", "bivariate")}
{_figure(files["necessity"], "necessity map N")}
{_figure(files["sufficiency"], "sufficiency map S")}
{_figure(files["combined"], f"combined map ({s['combination']})")}
</div>
<div class="tables">{"".join(tables)}</div>
<p class="meta">R_N, R_S: responsibility (Shapley value in the necessity or sufficiency game) ± its
standard error; E_N({{k}}), E_S({{k}}): the effect of the {noun} alone.</p>
<p class="meta">Hypothesised sets: F_N = {_e(s["necessary_set"])}, F_S = {_e(s["sufficient_set"])}.
Game values: E_N(F_N) = {_number(games.get("necessity_full"))},
E_S(F_S) = {_number(games.get("sufficiency_full"))}, E_S(∅) = {_number(games.get("sufficiency_empty"))}.
{s["forward_passes"]} forward passes, {_e(format_seconds(s["seconds"]))}, seed {s["seed"]}.
Files: <a href="{_e(files["figure"])}">figure</a>, <a href="{_e(files["maps"])}">maps (.npz)</a>.</p>
"""


def _html(summary: dict[str, Any]) -> str:
    entries = summary["explanations"]
    first = entries[0]["summary"]
    title = f"SUNY explanation: {first['target_name']}"
    body = [
        f"<h1>{_e(title)}</h1>",
        _figure(summary["image"], "input image", "map"),
        _prediction_html(summary),
        *(_explanation_html(entry, summary["concepts"] > 0) for entry in entries),
    ]
    if summary["comparison"]:
        body.append(
            f"<h2>Comparison with other methods</h2>{_figure(summary['comparison'], 'comparison', 'wide')}"
        )
    links = ", ".join(f'<a href="{_e(f)}">{_e(f)}</a>' for f in summary["files"])
    body.append(f'<p class="meta">Files: {links}.</p>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
