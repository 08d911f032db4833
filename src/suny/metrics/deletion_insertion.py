"""Deletion and insertion curves and their AUCs (Petsiuk et al. 2018, the RISE protocol).

Pixels are ranked by descending saliency, one ranking per map. Ties keep raster order (row-major
pixel index), so a constant or all-zero map changes pixels from the top-left corner, row by row.
Point ``i`` of a curve has the first ``n_i = min(i * step, H * W)`` pixels of the ranking changed,
for ``i = 0 .. ceil(H * W / step)`` (225 points at 224x224 with ``step = 224``):

- deletion: ``x`` with those pixels replaced by the substrate (default: the model's mean colour,
  i.e. zeros in its normalised input space);
- insertion: the blurred copy (default: Gaussian, kernel 11, sigma 5) with those pixels set back to
  ``x``.

The score of a point is the softmax probability of the target class. AUC is the trapezoid rule
over ``n_i / (H * W)`` in [0, 1] (the same as RISE's ``(sum - ends / 2) / (T - 1)`` when ``step``
divides ``H * W``). Overall = insertion AUC - deletion AUC. Every point of every curve goes
through the forward engine in batches of ``batch_size`` on the model's device.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from suny.engine import ForwardEngine, Precision
from suny.models.wrapper import ImageClassifier
from suny.ops import gaussian_blur

#: The SPEC's defaults: 224 pixels per step, insertion blur kernel 11 with sigma 5.
DEFAULT_STEP = 224
BLUR_KERNEL = 11
BLUR_SIGMA = 5.0


def default_blur(images: Tensor) -> Tensor:
    """The insertion start of the RISE protocol: ``gaussian_blur(x, 11, 5)``."""
    return gaussian_blur(images, BLUR_KERNEL, BLUR_SIGMA)


@dataclass
class Curve:
    """Scores (B, T) of B images at the T points ``fractions`` (T,) of changed pixels."""

    fractions: Tensor
    scores: Tensor
    forward_passes: int

    @property
    def auc(self) -> Tensor:
        """(B,) area under each curve, trapezoid rule on [0, 1]."""
        return torch.trapezoid(self.scores, self.fractions, dim=-1)

    def mean(self) -> Tensor:
        """(T,) the mean curve over the images."""
        return self.scores.mean(dim=0)


def overall_auc(insertion_auc: Tensor, deletion_auc: Tensor) -> Tensor:
    """Overall = insertion AUC - deletion AUC (higher is better): the one definition that the
    per-image scores and the report use."""
    return insertion_auc - deletion_auc


@dataclass
class DeletionInsertion:
    """Both curves of the same maps; ``overall = insertion AUC - deletion AUC`` per image."""

    deletion: Curve
    insertion: Curve

    @property
    def overall(self) -> Tensor:
        return overall_auc(self.insertion.auc, self.deletion.auc)

    @property
    def forward_passes(self) -> int:
        return self.deletion.forward_passes + self.insertion.forward_passes


def pixel_ranking(maps: Tensor) -> Tensor:
    """(B, H*W) pixel indices by descending saliency; ties keep raster (row-major) order."""
    return torch.argsort(maps.flatten(start_dim=1), dim=1, descending=True, stable=True)


def changed_counts(num_pixels: int, step: int) -> Tensor:
    """``n_i = min(i * step, num_pixels)`` for ``i = 0 .. ceil(num_pixels / step)``."""
    if step < 1:
        raise ValueError(f"step must be at least 1 pixel, got {step}")
    points = math.ceil(num_pixels / step) + 1
    return (torch.arange(points) * step).clamp_max(num_pixels)


def curve_fractions(num_pixels: int, step: int) -> Tensor:
    """``n_i / num_pixels``: the x-axis of every curve (:func:`changed_counts`)."""
    return changed_counts(num_pixels, step).float() / num_pixels


@torch.no_grad()
def replacement_curve(
    model: ImageClassifier,
    start: Tensor,
    finish: Tensor,
    maps: Tensor,
    targets: Tensor,
    step: int = DEFAULT_STEP,
    batch_size: int = 64,
    precision: Precision = "float32",
) -> Curve:
    """The curve from ``start`` (B, 3, H, W) to ``finish``: point i takes the first ``n_i`` pixels of
    each map's ranking from ``finish`` and the rest from ``start``; score = ``p_target``.

    The (image, point) pairs of all images run together through the forward engine, ``batch_size``
    per pass, in ``precision``.
    """
    device = model.device
    start, finish = start.to(device), finish.to(device)
    batch, _, height, width = start.shape
    if maps.shape != (batch, height, width):
        raise ValueError(
            f"maps must have shape {(batch, height, width)} to match the images, got {tuple(maps.shape)}"
        )
    targets = torch.as_tensor(targets, dtype=torch.long, device=device).reshape(-1)
    if targets.numel() != batch:
        raise ValueError(f"{batch} images but {targets.numel()} targets")
    counts = changed_counts(height * width, step).to(device)
    points = counts.numel()
    # rank[b, p] = position of pixel p in map b's ranking; point i changes pixels with rank < n_i.
    order = pixel_ranking(maps.to(device))
    positions = torch.arange(height * width, device=device).expand(batch, -1)
    rank = torch.empty_like(order).scatter_(1, order, positions).view(batch, 1, height, width)
    pairs = torch.arange(batch * points, device=device)
    image_of, point_of = pairs // points, pairs % points

    def inputs(chunk: slice) -> Tensor:
        image, point = image_of[chunk], point_of[chunk]
        changed = rank[image] < counts[point].view(-1, 1, 1, 1)
        return torch.where(changed, finish[image], start[image])

    engine = ForwardEngine.for_model(model, batch_size, precision)
    scores = engine.probabilities(batch * points, inputs, targets=targets[image_of])
    fractions = curve_fractions(height * width, step).to(device)
    return Curve(fractions, scores.view(batch, points), batch * points)


def deletion_curve(
    model: ImageClassifier,
    images: Tensor,
    maps: Tensor,
    targets: Tensor,
    step: int = DEFAULT_STEP,
    substrate: Tensor | None = None,
    batch_size: int = 64,
    precision: Precision = "float32",
) -> Curve:
    """Deletion: replace the most salient pixels first by ``substrate`` (anything that broadcasts to
    ``images`` in [0, 1] space; default the model's mean colour, zero after normalisation)."""
    images = images.to(model.device)
    if substrate is None:
        substrate = model.mean
    finish = substrate.to(images).expand_as(images)
    return replacement_curve(model, images, finish, maps, targets, step, batch_size, precision)


def insertion_curve(
    model: ImageClassifier,
    images: Tensor,
    maps: Tensor,
    targets: Tensor,
    step: int = DEFAULT_STEP,
    blur: Callable[[Tensor], Tensor] = default_blur,
    batch_size: int = 64,
    precision: Precision = "float32",
) -> Curve:
    """Insertion: start from ``blur(images)`` and put the most salient original pixels back first."""
    images = images.to(model.device)
    return replacement_curve(model, blur(images), images, maps, targets, step, batch_size, precision)


def deletion_insertion(
    model: ImageClassifier,
    images: Tensor,
    maps: Tensor,
    targets: Tensor,
    step: int = DEFAULT_STEP,
    substrate: Tensor | None = None,
    blur: Callable[[Tensor], Tensor] = default_blur,
    batch_size: int = 64,
    precision: Precision = "float32",
) -> DeletionInsertion:
    """Both curves of ``maps`` (B, H, W) for ``images`` (B, 3, H, W) in [0, 1] and ``targets`` (B,)."""
    return DeletionInsertion(
        deletion_curve(model, images, maps, targets, step, substrate, batch_size, precision),
        insertion_curve(model, images, maps, targets, step, blur, batch_size, precision),
    )


def plot_curves(fractions: Tensor, curves: Mapping[str, Tensor], path: str | Path, title: str = "") -> None:
    """Save curves (name -> (T,) scores at ``fractions``), AUCs in the legend, as an image."""
    from matplotlib.figure import Figure

    from suny.visualisation.series import series_style

    figure = Figure(figsize=(5.5, 4), layout="constrained")
    axes = figure.subplots()
    x = fractions.detach().cpu().float()
    for index, (name, curve) in enumerate(curves.items()):
        y = curve.detach().cpu().float()
        axes.plot(x, y, label=f"{name} (AUC {float(torch.trapezoid(y, x)):.3f})", **series_style(index))
    axes.set(xlabel="fraction of pixels changed", ylabel="p(target)", xlim=(0, 1), ylim=(0, 1))
    axes.set_title(title)
    axes.legend()
    figure.savefig(path, dpi=120)
