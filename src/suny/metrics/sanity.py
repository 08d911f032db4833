"""Sanity check by cascading randomisation (Adebayo et al. 2018).

Starting from the logits, the model's parameterised layers are re-initialised one more at each
step, and the method explains the same images for the same classes again after every step. The
similarity of each new map to the original map is reported per step and image: Spearman's rank
correlation (average ranks for ties) and SSIM (scikit-image, ``data_range=1``). A method passes
when the similarity falls as more layers are randomised.

A real model has hundreds of layers, so the cascade works on *groups* of modules: by default the
parameterised top-level children of the network, with containers (``Sequential``, ``ModuleList``)
opened one level, so ResNet's ``layer4.1``, EfficientNet's ``_blocks.15`` or VGG's ``features.28``
is one step. ``steps`` merges consecutive groups to cap the number of explanations.

Re-initialisation uses each module's own ``reset_parameters`` (PyTorch's default initialisation;
BatchNorm goes back to the identity with fresh running statistics); a module with parameters but
no ``reset_parameters`` gets N(0, 0.01^2). It runs under a forked RNG seeded with ``seed`` so
the global random state is untouched. Every changed tensor is copied beforehand and written back
in place afterwards, errors included, so the model's weights are restored exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from suny.models.hooks import forward_hooks
from suny.models.wrapper import ImageClassifier, preserved_mode
from suny.registry import create_method
from suny.saliency import SaliencyResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: A saliency method by registry name, or a factory building it on a model.
MethodFactory = Callable[[ImageClassifier], Callable[[Tensor, Tensor], SaliencyResult]]
CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def randomisation_groups(model: ImageClassifier) -> list[str]:
    """Default cascade, logits first: the network's top-level children (containers opened one
    level) that have parameters and run in a forward pass, in reverse order of running."""
    candidates: dict[str, nn.Module] = {}
    for name, child in model.network.named_children():
        inner = child.named_children() if isinstance(child, CONTAINERS) else [("", child)]
        for sub_name, module in inner:
            if any(True for _ in module.parameters()):
                candidates[f"{name}.{sub_name}" if sub_name else name] = module
    order: list[str] = []
    hooks = ((module, lambda *_, name=name: order.append(name)) for name, module in candidates.items())
    size = model.preprocessing.crop
    with forward_hooks(hooks), torch.no_grad():
        model(torch.zeros(1, 3, size, size, device=model.device))
    return list(reversed(dict.fromkeys(order)))


def merge_groups(groups: Sequence[str | Sequence[str]], steps: int | None) -> list[list[str]]:
    """The groups (names, top first) as ``steps`` consecutive runs of near-equal length (all of
    them, one per step, when ``steps`` is None)."""
    lists = [[group] if isinstance(group, str) else list(group) for group in groups]
    if steps is None or steps >= len(lists):
        return lists
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    bounds = np.linspace(0, len(lists), steps + 1).round().astype(int)
    return [list(chain.from_iterable(lists[a:b])) for a, b in pairwise(bounds)]


def reinitialise(module: nn.Module) -> None:
    """Re-initialise every parameter under ``module`` (see the module docstring)."""
    for sub in module.modules():
        reset = getattr(sub, "reset_parameters", None)
        if callable(reset):
            reset()
        else:
            for parameter in sub.parameters(recurse=False):
                with torch.no_grad():
                    nn.init.normal_(parameter, std=0.01)


def average_ranks(values: Tensor) -> Tensor:
    """Ranks 1..N of each row of ``values`` (B, N), ties given their mean rank (as scipy's)."""
    ordered, order = values.sort(dim=-1, stable=True)
    ranks = torch.empty_like(values, dtype=torch.float64)
    for row in range(ordered.shape[0]):
        _, inverse, counts = torch.unique_consecutive(ordered[row], return_inverse=True, return_counts=True)
        ends = counts.cumsum(0).double()
        ranks[row, order[row]] = (ends - (counts - 1) / 2)[inverse]
    return ranks


def spearman(a: Tensor, b: Tensor) -> Tensor:
    """(B,) Spearman rank correlation of maps ``a`` and ``b`` (B, ...), as scipy's, and never NaN:
    a constant map (an explanation that found nothing, such as SUNY's on a randomised network) has
    no order, so it shares none with a map that has one (0) and the same, none, with another
    constant map (1); scipy leaves both undefined, which would drop those images from the check."""
    ranks = [average_ranks(x.flatten(start_dim=1).cpu()) for x in (a, b)]
    centred = [r - r.mean(dim=1, keepdim=True) for r in ranks]
    covariance = (centred[0] * centred[1]).sum(dim=1)
    spreads = [c.square().sum(dim=1) for c in centred]
    constant = [spread == 0 for spread in spreads]
    correlation = covariance / (spreads[0] * spreads[1]).sqrt().clamp(min=torch.finfo(torch.float64).tiny)
    correlation = torch.where(constant[0] | constant[1], (constant[0] & constant[1]).double(), correlation)
    return correlation.float()


def ssim(a: Tensor, b: Tensor) -> Tensor:
    """(B,) SSIM of maps ``a`` and ``b`` (B, H, W) in [0, 1] (scikit-image, ``data_range=1``)."""
    from skimage.metrics import structural_similarity

    pairs = zip(a.detach().cpu().double().numpy(), b.detach().cpu().double().numpy())
    values = [structural_similarity(x, y, data_range=1.0) for x, y in pairs]  # type: ignore[no-untyped-call]
    return torch.tensor(values, dtype=torch.float32)


@dataclass
class SanityResult:
    """``maps[s]`` (B, H, W) after step ``s`` randomised ``layers[s]`` (and every step before);
    ``spearman``/``ssim`` (S, B) compare them with ``original`` (B, H, W)."""

    layers: list[list[str]]
    original: Tensor
    maps: Tensor
    spearman: Tensor
    ssim: Tensor

    def select(self, columns: slice) -> SanityResult:
        """The same cascade for the images ``columns`` of the batch only."""
        return SanityResult(
            self.layers,
            self.original[columns],
            self.maps[:, columns],
            self.spearman[:, columns],
            self.ssim[:, columns],
        )

    @property
    def labels(self) -> list[str]:
        """One short name per step: the group, or its first and last module."""
        return [group[0] if len(group) == 1 else f"{group[0]}..{group[-1]}" for group in self.layers]

    def figure(self, index: int = 0, image: Tensor | None = None, columns: int = 8) -> Figure:
        """Paper Figure 4 for image ``index``: (the image,) the original map, then one map per
        step with its Spearman and SSIM to the original."""
        from matplotlib.figure import Figure

        panels: list[tuple[str, np.ndarray, Any]] = []
        if image is not None:
            panels.append(("image", image.detach().cpu().permute(1, 2, 0).numpy(), None))
        panels.append(("original", self.original[index].cpu().numpy(), "jet"))
        for step, label in enumerate(self.labels):
            title = (
                f"{label}\nr={float(self.spearman[step, index]):.2f} ssim={float(self.ssim[step, index]):.2f}"
            )
            panels.append((title, self.maps[step, index].cpu().numpy(), "jet"))
        cols = min(columns, len(panels))
        rows = -(-len(panels) // cols)
        figure = Figure(figsize=(1.9 * cols, 2.1 * rows), layout="constrained")
        axes = figure.subplots(rows, cols, squeeze=False).ravel()
        for ax, (title, data, cmap) in zip(axes, panels):
            ax.imshow(data.clip(0, 1), cmap=cmap, vmin=0, vmax=1)
            ax.set_title(title, fontsize=7)
        for ax in axes:
            ax.axis("off")
        figure.suptitle("cascading randomisation, logits first", fontsize=9)
        return figure

    def save_figure(self, path: str | Path, index: int = 0, image: Tensor | None = None) -> None:
        self.figure(index, image).savefig(path, dpi=110)


def cascading_randomisation(
    model: ImageClassifier,
    method: str | MethodFactory,
    images: Tensor,
    targets: Tensor,
    layers: Sequence[str | Sequence[str]] | None = None,
    steps: int | None = None,
    seed: int = 0,
    method_options: Mapping[str, Any] | None = None,
) -> SanityResult:
    """Explain ``images`` (B, 3, H, W) for ``targets`` (B,), then again after each cumulative
    randomisation step; the method (a registry name built with ``method_options``, or a factory)
    is re-created on the randomised model at every step. ``layers``: module groups of
    ``model.network``, logits first (default :func:`randomisation_groups`); ``steps``: merge them
    into that many steps; ``seed``: of the re-initialisation."""
    options = dict(method_options or {})
    build: MethodFactory = (
        (lambda m: create_method(method, m, **options)) if isinstance(method, str) else method
    )
    cascade = merge_groups(randomisation_groups(model) if layers is None else layers, steps)
    network = model.network
    for group in cascade:
        for name in group:
            network.get_submodule(name)  # a clear AttributeError for an unknown name
    original = build(model)(images, targets).maps.detach()
    saved: dict[str, Tensor] = {}
    maps = []
    rng_devices = [model.device] if model.device.type == "cuda" else []
    try:
        with preserved_mode(model):
            for step, group in enumerate(cascade):
                for name in group:
                    module = network.get_submodule(name)
                    for key, tensor in module.state_dict(prefix=f"{name}.").items():
                        saved.setdefault(key, tensor.detach().clone())
                    with torch.random.fork_rng(devices=rng_devices):
                        torch.manual_seed(seed + step)
                        reinitialise(module)
                maps.append(build(model)(images, targets).maps.detach())
    finally:
        network.load_state_dict(saved, strict=False)  # copies in place: same tensors as before
    stacked = torch.stack(maps)
    return SanityResult(
        layers=cascade,
        original=original,
        maps=stacked,
        spearman=torch.stack([spearman(original, m) for m in stacked]),
        ssim=torch.stack([ssim(original, m) for m in stacked]),
    )
