"""Names for the causes of an explanation: a filter-to-concept table, and the textual explanation.

Concept names (SPEC, textual explanations, paper A.4) come from a filter-to-concept table
(:func:`load_concepts`). Unit k of the table names channel k of the explained layer, which is both
feature map k (SUNY-feature) and the output of filter k (SUNY-filter), so one table serves both.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from suny.errors import SunyError
from suny.method.explanation import Explanation

Kind = Literal["necessity", "sufficiency"]
KINDS: tuple[Kind, Kind] = ("necessity", "sufficiency")
#: Column names accepted for the unit (filter index) and for its concept name in a CSV table.
UNIT_COLUMNS = ("unit", "filter", "index", "channel")
CONCEPT_COLUMNS = ("concept", "label")


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
