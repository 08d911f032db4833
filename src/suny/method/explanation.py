"""What one SUNY explanation carries (SPEC section 1, "An explanation carries at least")."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

CauseType = Literal["feature", "filter"]


@dataclass
class Explanation:
    """SUNY's explanation of class ``target`` for one image.

    Maps are (H, W) float tensors in [0, 1] at input resolution. Per-cause vectors have length K
    (the number of channels of the layer, or filters of the convolution): ``necessity_effects`` is
    ``E_N({k})`` and ``sufficiency_effects`` is ``E_S({k})`` for every cause; ``necessity`` and
    ``sufficiency`` are the responsibilities ``R_N`` and ``R_S`` (zero outside ``F_N``/``F_S``)
    with their standard errors.
    """

    necessity_map: Tensor
    sufficiency_map: Tensor
    combined_map: Tensor
    target: int
    target_name: str
    probability: float
    necessity_effects: Tensor
    sufficiency_effects: Tensor
    necessary_set: list[int]
    sufficient_set: list[int]
    necessity: Tensor
    necessity_stderr: Tensor
    sufficiency: Tensor
    sufficiency_stderr: Tensor
    layer: str
    cause: CauseType
    seed: int
    forward_passes: int
    #: Interventions asked for (the forward passes are fewer where answers were known or shared).
    interventions: int = 0
    combination: str = "sum"
    model_name: str = ""
    seconds: float = 0.0
    #: E(F) and E(empty) of each game: the Shapley values of a game sum to their difference.
    game_values: dict[str, float] = field(default_factory=dict)

    @property
    def num_causes(self) -> int:
        """K, the number of causes."""
        return int(self.necessity_effects.numel())

    def top_causes(self, kind: Literal["necessity", "sufficiency"], count: int = 5) -> list[int]:
        """The ``count`` causes with the highest responsibility of ``kind`` (positive ones only)."""
        values = self.necessity if kind == "necessity" else self.sufficiency
        order = torch.argsort(values.cpu(), descending=True, stable=True)[:count]
        return [int(k) for k in order if values[k] > 0]

    def summary(self) -> dict[str, Any]:
        """Everything but the maps, as a JSON-serialisable dict.

        Returns:
            The fields; undefined numbers (the standard error of a single permutation) are None.
        """
        data: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if key.endswith("_map"):
                continue
            data[key] = json_safe(value.detach().cpu().tolist() if isinstance(value, Tensor) else value)
        return data

    def save_npz(self, path: str | Path) -> None:
        """The three maps and every per-cause vector as float32 arrays in one ``.npz`` file."""
        arrays = {
            key: value.detach().cpu().float().numpy()
            for key, value in asdict(self).items()
            if isinstance(value, Tensor)
        }
        arrays["necessary_set"] = np.asarray(self.necessary_set, dtype=np.int64)
        arrays["sufficient_set"] = np.asarray(self.sufficient_set, dtype=np.int64)
        np.savez_compressed(path, allow_pickle=False, **arrays)

    def save_json(self, path: str | Path) -> None:
        """Write :meth:`summary` to ``path`` as JSON."""
        Path(path).write_text(json.dumps(self.summary(), indent=2, allow_nan=False), encoding="utf-8")


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, inf) replaced by None (JSON has no NaN).

    Args:
        value: a number, or lists, tuples and dicts of them.

    Returns:
        The same structure (tuples become lists).
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    return value
