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

__all__ = ["DISPLAY_NAMES", "Cell", "PerImage", "RowKey", "row_labels", "superseded_rows"]

#: Row -> metric -> image -> the image's score.
PerImage = dict[RowKey, dict[str, dict[str, float]]]
#: Method -> its row's name in the tables, where the registry name alone could mislead: the paper's
#: "SmoothGrad" row is Smooth Grad-CAM++ (SPEC section 3), and pixel SmoothGrad is an extra row.
DISPLAY_NAMES = {
    "smoothgradcam++": "smoothgradcam++ (paper's SmoothGrad)",
    "smoothgrad": "smoothgrad (pixel, not the paper's)",
}


@dataclass(frozen=True)
class Cell:
    """A mean over ``n`` images; a paired difference also has its standard ``error`` and the
    number of images it ``wins``, or (a difference of ratios over the set, such as the attack score)
    a bootstrap ``interval`` (low, high)."""

    value: float
    n: int
    error: float | None = None
    wins: int | None = None
    interval: tuple[float, float] | None = None

    @property
    def paired(self) -> bool:
        """Whether the cell is a paired difference."""
        return self.wins is not None or self.interval is not None


def row_labels(keys: Sequence[RowKey], settings: Mapping[str, Mapping[str, Any]]) -> dict[RowKey, str]:
    """The method (its :data:`DISPLAY_NAMES` entry, if any) with the options its caller set
    (``suny (set_size=4)``) and its layer where that is not the model's default
    (``gradcam (layer=_blocks.11._expand_activation)``). Where two rows of one
    dataset and model would share a label, the method settings that tell them apart are added (rows
    of two releases with different defaults), and then a seed or a configuration hash."""

    def options(key: RowKey, field: str) -> dict[str, Any]:
        return dict(settings.get(key.config, {}).get(field, {}))

    def shown_options(key: RowKey) -> dict[str, Any]:
        """The options its caller set, with the layer where it is not the model's default."""
        stored = settings.get(key.config, {})
        layer = stored.get("layer")
        at_default = layer == stored.get("default_layer", layer)
        return options(key, "method_options") | ({} if at_default else {"layer": layer})

    def label(method: str, shown: Mapping[str, Any]) -> str:
        suffix = ", ".join(f"{name}={value}" for name, value in sorted(shown.items()))
        name = DISPLAY_NAMES.get(method, method)
        return f"{name} ({suffix})" if suffix else name

    labels = {key: label(key.method, shown_options(key)) for key in keys}
    for members in _clashes(keys, labels):
        resolved = [options(key, "method_settings") for key in members]
        differing = {
            name for values in resolved for name in values if len({repr(r.get(name)) for r in resolved}) > 1
        }
        for key, values in zip(members, resolved):
            shown = shown_options(key) | {name: values.get(name) for name in differing}
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
