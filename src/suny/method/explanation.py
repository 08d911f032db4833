"""What one SUNY explanation carries (SPEC section 1, "An explanation carries at least").

An :class:`Explanation` also shows itself in Jupyter (``_repr_png_``, ``_repr_html_``) and saves
itself (:meth:`Explanation.save`). Those pictures are drawn by :mod:`suny.visualisation`, which
imports this module (its figures and reports take explanations): importing it from here, even
inside a method, would close an import circle. So the dependency points one way only: this module
keeps a :class:`Display` slot, and :mod:`suny.notebook` fills it (:func:`set_display`) when it is
imported, which ``import suny`` does, and Python runs ``suny/__init__.py`` before any
``suny.…`` module, so the slot is always filled. matplotlib is imported when a picture is drawn.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import torch
from torch import Tensor

from suny.errors import SunyError

if TYPE_CHECKING:
    from suny.visualisation.colormap import ImageLike

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
    #: How the combined map joins N and S (:func:`suny.method.combine`).
    combination: str
    #: Interventions asked for (the forward passes are fewer where answers were known or shared).
    interventions: int = 0
    model_name: str = ""
    seconds: float = 0.0
    #: E(F) and E(empty) of each game: the Shapley values of a game sum to their difference.
    game_values: dict[str, float] = field(default_factory=dict)
    #: The explained image, small (uint8 RGB (h, w, 3), at most :data:`THUMBNAIL_SIDE` pixels a
    #: side): what a notebook draws the maps over. Not part of :meth:`summary` or :meth:`numpy`.
    thumbnail: np.ndarray | None = field(default=None, repr=False, compare=False)

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
            if key.endswith("_map") or key == "thumbnail":
                continue
            data[key] = json_safe(value.detach().cpu().tolist() if isinstance(value, Tensor) else value)
        return data

    def tensors(self) -> dict[str, Tensor]:
        """The three maps and every per-cause vector by field name, where they were computed."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: value for name, value in values.items() if isinstance(value, Tensor)}

    def numpy(self) -> dict[str, np.ndarray]:
        """The maps and per-cause vectors as float32 numpy arrays (copied to the CPU on request only).

        Returns:
            Field name -> array: the maps (H, W), the per-cause vectors (K,).
        """
        return {name: value.detach().cpu().float().numpy() for name, value in self.tensors().items()}

    def to(self, device: torch.device | str) -> Explanation:
        """A copy whose maps and per-cause vectors are on ``device``.

        Args:
            device: e.g. ``"cpu"``.

        Returns:
            The copy (the other fields are shared, not copied).
        """
        moved: dict[str, Any] = {name: value.to(device) for name, value in self.tensors().items()}
        return replace(self, **moved)

    def arrays(self) -> dict[str, np.ndarray]:
        """What :meth:`save_npz` writes: :meth:`numpy` and the sets F_N and F_S (int64).

        Returns:
            Array name -> array.
        """
        arrays = self.numpy()
        arrays["necessary_set"] = np.asarray(self.necessary_set, dtype=np.int64)
        arrays["sufficient_set"] = np.asarray(self.sufficient_set, dtype=np.int64)
        return arrays

    def save_npz(self, path: str | Path) -> None:
        """The three maps and every per-cause vector as float32 arrays in one ``.npz`` file."""
        np.savez_compressed(path, allow_pickle=False, **self.arrays())

    def save_json(self, path: str | Path) -> None:
        """Write :meth:`summary` to ``path`` as JSON."""
        Path(path).write_text(json.dumps(self.summary(), indent=2, allow_nan=False), encoding="utf-8")

    def save(
        self, folder: str | Path, image: ImageLike | None = None, concepts: Mapping[int, str] | None = None
    ) -> dict[str, Any]:
        """Write what ``suny explain`` writes for this explanation into ``folder``.

        That is the pictures, ``summary.json``, the ``.npz`` of the maps and ``index.html``.

        Args:
            folder: created if needed; files of the same names are replaced.
            image: the explained image (3, H, W) in [0, 1] (default: the explanation's thumbnail,
                else white).
            concepts: filter index -> concept name, for the tables and the text.

        Returns:
            ``{"folder": ..., "files": [...]}``: where the files are (``summary.json`` holds the data).
        """
        return _installed_display().save(self, Path(folder), image, concepts)

    def _repr_png_(self) -> bytes | None:
        """Jupyter's picture: the maps in the 2-D colormap over the explained image, and the legend."""
        return None if _display is None else _display.png(self)

    def _repr_html_(self) -> str | None:
        """Jupyter's rich view: that picture inline and the top causes with their standard errors."""
        return None if _display is None else _display.html(self)


class Display(Protocol):
    """How explanations draw and save themselves (implemented by :mod:`suny.notebook`)."""

    def png(self, explanation: Explanation) -> bytes:
        """The picture of ``explanation`` as PNG bytes."""

    def html(self, explanation: Explanation) -> str:
        """An HTML fragment showing ``explanation``."""

    def save(
        self,
        explanation: Explanation,
        folder: Path,
        image: ImageLike | None,
        concepts: Mapping[int, str] | None,
    ) -> dict[str, Any]:
        """Write ``explanation``'s report into ``folder`` (see :meth:`Explanation.save`)."""


_display: Display | None = None


def set_display(display: Display | None) -> Display | None:
    """Install how explanations draw and save themselves (see the module docstring for why).

    Args:
        display: the renderer, or None to remove it (the Jupyter methods then return None).

    Returns:
        The renderer installed before.
    """
    global _display
    previous, _display = _display, display
    return previous


def _installed_display() -> Display:
    if _display is None:
        raise SunyError("no renderer is installed for explanations: import suny.notebook first")
    return _display


#: The longest side of an explanation's :attr:`Explanation.thumbnail`.
THUMBNAIL_SIDE = 224


def thumbnail(image: Tensor, side: int = THUMBNAIL_SIDE) -> np.ndarray:
    """A small uint8 RGB copy (h, w, 3) of an image, at most ``side`` pixels a side.

    The image is shrunk with antialiasing where it is larger.

    Args:
        image: (3, H, W) or (1, 3, H, W) in [0, 1].
        side: the longest side kept.

    Returns:
        The small copy, on the CPU.
    """
    picture = image.detach().reshape(1, *image.shape[-3:]).float()
    scale = side / max(picture.shape[-2:])
    if scale < 1:
        size = [max(1, round(n * scale)) for n in picture.shape[-2:]]
        picture = torch.nn.functional.interpolate(picture, size=size, mode="bilinear", antialias=True)
    rgb = (picture[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0)
    return rgb.cpu().numpy()


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
