"""The rows of the report's tables: their keys (:class:`RowKey`, one per setting of a method on a
dataset and model), their cells and their labels."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from suny.benchmark.records import RowKey

__all__ = ["Cell", "PerImage", "RowKey", "row_labels", "superseded_rows"]

#: Row -> metric -> image -> the image's score.
PerImage = dict[RowKey, dict[str, dict[str, float]]]


@dataclass(frozen=True)
class Cell:
    """A mean over ``n`` images; a paired difference also has its standard ``error`` and the
    number of images it ``wins``."""

    value: float
    n: int
    error: float | None = None
    wins: int | None = None


def row_labels(keys: Sequence[RowKey], settings: Mapping[str, Mapping[str, Any]]) -> dict[RowKey, str]:
    """The method with the options its caller set (``suny (set_size=4)``). Where two rows of one
    dataset and model would share a label, the method settings that tell them apart are added (rows
    of two releases with different defaults), and then a seed or a configuration hash."""

    def options(key: RowKey, field: str) -> dict[str, Any]:
        return dict(settings.get(key.config, {}).get(field, {}))

    def label(method: str, shown: Mapping[str, Any]) -> str:
        suffix = ", ".join(f"{name}={value}" for name, value in sorted(shown.items()))
        return f"{method} ({suffix})" if suffix else method

    labels = {key: label(key.method, options(key, "method_options")) for key in keys}
    for members in _clashes(keys, labels):
        resolved = [options(key, "method_settings") for key in members]
        differing = {
            name for values in resolved for name in values if len({repr(r.get(name)) for r in resolved}) > 1
        }
        for key, values in zip(members, resolved):
            shown = options(key, "method_options") | {name: values.get(name) for name in differing}
            labels[key] = label(key.method, shown)
    for members in _clashes(keys, labels):
        distinct_seeds = len({key.seed for key in members}) == len(members)
        for key in members:
            labels[key] += f" seed {key.seed}" if distinct_seeds else f" #{key.config[:6]} seed {key.seed}"
    return labels


def superseded_rows(
    keys: Sequence[RowKey], settings: Mapping[str, Mapping[str, Any]], first_results: Mapping[RowKey, float]
) -> dict[RowKey, RowKey]:
    """Rows that a later release's defaults replaced -> the row that replaced them.

    Rows of one dataset, model, method and seed whose stored settings are the same but for the
    method's resolved defaults (``method_settings``: the options its caller set are the same) are
    one method run by two releases, as when a tuning changes a default; the row whose first result
    came last is the current one. Rows of a store that did not record ``method_settings`` are never
    superseded."""
    groups: dict[tuple[Any, ...], list[RowKey]] = defaultdict(list)
    for key in keys:
        stored = dict(settings.get(key.config, {}))
        if stored.pop("method_settings", None) is None:
            continue
        groups[key.dataset, key.model, key.method, key.seed, json.dumps(stored, sort_keys=True)].append(key)
    replaced: dict[RowKey, RowKey] = {}
    for members in groups.values():
        current = max(members, key=lambda key: first_results.get(key, -math.inf))
        replaced |= {key: current for key in members if key != current}
    return replaced


def _clashes(keys: Sequence[RowKey], labels: Mapping[RowKey, str]) -> list[list[RowKey]]:
    """The groups of two or more rows of one dataset and model with the same label."""
    groups: dict[tuple[str, str, str], list[RowKey]] = defaultdict(list)
    for key in keys:
        groups[key.dataset, key.model, labels[key]].append(key)
    return [members for members in groups.values() if len(members) > 1]
