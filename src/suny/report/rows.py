"""The rows of the report's tables: their keys (:class:`RowKey`, one per setting of a method on a
dataset and model), their cells and their labels."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from suny.benchmark.records import RowKey

__all__ = ["Cell", "PerImage", "RowKey", "row_labels"]

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
    """The method with its options (``suny (set_size=4)``); a seed or a configuration hash is added
    where two rows of one dataset and model would otherwise share a label."""

    def base(key: RowKey) -> str:
        options = settings.get(key.config, {}).get("method_options", {})
        suffix = ", ".join(f"{name}={value}" for name, value in sorted(options.items()))
        return f"{key.method} ({suffix})" if suffix else key.method

    labels = {key: base(key) for key in keys}
    clashes: dict[tuple[str, str, str], list[RowKey]] = defaultdict(list)
    for key in keys:
        clashes[key.dataset, key.model, labels[key]].append(key)
    for members in clashes.values():
        if len(members) > 1:
            distinct_seeds = len({key.seed for key in members}) == len(members)
            for key in members:
                labels[key] += (
                    f" seed {key.seed}" if distinct_seeds else f" #{key.config[:6]} seed {key.seed}"
                )
    return labels
