"""RISE (Petsiuk, Das and Saenko 2018)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from suny.baselines.common import Baseline
from suny.engine import Precision
from suny.errors import SunyError
from suny.models.wrapper import ImageClassifier
from suny.ops import batched, minmax
from suny.saliency import SaliencyResult, equal_runs


def grid_interpolation(cells: int, size: int, device: torch.device | None = None) -> Tensor:
    """The (size, cells) matrix of linear interpolation from ``cells`` values to ``size`` samples
    with half-pixel centres (source ``(o + 0.5) * cells / size - 0.5``) and mirror boundaries: the
    1-D form of ``skimage.transform.resize(order=1, mode="reflect", anti_aliasing=False)``."""
    source = (torch.arange(size, device=device, dtype=torch.float64) + 0.5) * cells / size - 0.5
    low = source.floor()
    fraction = (source - low).float()
    last = cells - 1

    def mirror(index: Tensor) -> Tensor:
        return (last - (last - index.abs()).abs()).long()

    matrix = torch.zeros(size, cells, device=device)
    rows = torch.arange(size, device=device)
    matrix.index_put_((rows, mirror(low)), 1 - fraction, accumulate=True)
    matrix.index_put_((rows, mirror(low + 1)), fraction, accumulate=True)
    return matrix


class RiseMasks:
    """RISE's random masks, as the official code makes them: an ``s x s`` grid of cells kept with
    probability ``p1``, upsampled linearly to ``(s + 1) * cell`` pixels per side
    (``cell = ceil(H / s)``), then cropped to H x W at a random shift in ``[0, cell)`` per axis.

    The grids and shifts are drawn on the device from ``generator`` (grids first, then row shifts,
    then column shifts); :meth:`masks` builds any slice of the masks there, so only ``batch_size``
    full-resolution masks exist at a time.
    """

    def __init__(
        self,
        count: int,
        size: Sequence[int],
        grid_size: int,
        p1: float,
        generator: torch.Generator,
    ) -> None:
        device = generator.device
        self.size = size
        self.grids = (
            torch.rand((count, grid_size, grid_size), generator=generator, device=device) < p1
        ).float()
        cells = [math.ceil(side / grid_size) for side in size]
        self.shifts = [torch.randint(0, cell, (count,), generator=generator, device=device) for cell in cells]
        self.interpolation = [grid_interpolation(grid_size, (grid_size + 1) * cell, device) for cell in cells]

    def __len__(self) -> int:
        return len(self.grids)

    def masks(self, index: slice) -> Tensor:
        """Masks ``index`` as (n, H, W) tensors in [0, 1]."""
        rows, cols = (
            matrix[shift[index, None] + torch.arange(side, device=shift.device)]
            for matrix, shift, side in zip(self.interpolation, self.shifts, self.size)
        )
        return rows @ self.grids[index] @ cols.transpose(1, 2)


def _masked(image: Tensor, masks: Tensor) -> Callable[[slice], Tensor]:
    """``image * mask`` for any slice of ``masks``."""
    return lambda chunk: image * masks[chunk, None]


class RISE(Baseline):
    """RISE: ``map = minmax(sum_i p_c(x * M_i) M_i / (N p1))`` over ``N = masks`` random masks
    (:class:`RiseMasks`, grid ``grid_size``, keep probability ``p1``), drawn from the method's
    seeded generator on the model's device; all images of a call share the same masks.

    Defaults ``masks=4000``, ``grid_size=7``, ``p1=0.5``: the cheapest N and coarsest grid of the
    official settings (N 4000-8000, s 7-10, p1 0.1-0.5, SPEC section 3). The mask multiplies the
    [0, 1] image (black substrate); the official code multiplies the normalised image.
    ``batch_size`` masks per pass, in ``precision``.
    """

    map_names = ("rise",)
    setting_names = ("masks", "grid_size", "p1")

    def __init__(
        self,
        model: ImageClassifier,
        layer: str | None = None,
        seed: int = 0,
        batch_size: int = 64,
        masks: int = 4000,
        grid_size: int = 7,
        p1: float = 0.5,
        precision: Precision = "float32",
    ) -> None:
        super().__init__(model, layer, seed, batch_size, precision)
        if masks < 1 or grid_size < 2 or not 0 < p1 <= 1:
            raise SunyError(
                f"RISE needs masks >= 1, grid_size >= 2 and 0 < p1 <= 1; got masks={masks}, "
                f"grid_size={grid_size}, p1={p1}"
            )
        self.masks = masks
        self.grid_size = grid_size
        self.p1 = p1

    def mask_set(self, size: Sequence[int]) -> RiseMasks:
        """The masks this method uses for images of ``size`` (the same for every call)."""
        return RiseMasks(self.masks, size, self.grid_size, self.p1, self.generator())

    def compute(self, images: Tensor, targets: Tensor) -> SaliencyResult:
        size = tuple(images.shape[-2:])
        mask_set = self.mask_set(size)
        saliency = images.new_zeros(len(images), size[0] * size[1])
        engine = self.engine()
        groups = equal_runs(images)  # the classes of one image share its masked passes
        for chunk in batched(len(mask_set), self.batch_size):
            masks = mask_set.masks(chunk)
            for rows in groups:
                image = images[rows[0]]
                scores = engine.probabilities(len(masks), _masked(image, masks), classes=targets[rows])
                saliency[rows] += scores.T @ masks.flatten(start_dim=1)
        saliency /= len(mask_set) * self.p1
        return SaliencyResult(maps=minmax(saliency.view(-1, *size)))
