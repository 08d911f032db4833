"""Small explanation helpers for the tests: fast options per registered method, a minimal
Grad-CAM, and a map that ignores the model."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from suny.models.hooks import captured_output
from suny.models.wrapper import ImageClassifier
from suny.ops import minmax, upsample
from suny.registry import create_method
from suny.saliency import SaliencyMethod, SaliencyResult

_SUNY_FAST = {"set_size": 2, "permutations": 2}
#: Small settings, by registry name, so that every method runs in well under a second on the
#: toys; a name not listed (a method registered later) runs with its defaults.
FAST: dict[str, dict[str, Any]] = {
    "rise": {"masks": 64, "grid_size": 4},
    "smoothgrad": {"samples": 6},
    "smoothgradcam++": {"samples": 4},
    "suny": _SUNY_FAST,
    "suny-n": _SUNY_FAST,
    "suny-s": _SUNY_FAST,
    "suny-filter": _SUNY_FAST,
}


def make(name: str, model: ImageClassifier, **options: Any) -> SaliencyMethod:
    """The method registered as ``name`` with its :data:`FAST` settings and ``options``."""
    return create_method(name, model, **{**FAST.get(name, {}), **options})


def gradcam(model: ImageClassifier):
    """A minimal Grad-CAM at the model's default layer (a method factory for the sanity check)."""

    def explain(images: Tensor, targets: Tensor) -> SaliencyResult:
        targets = torch.as_tensor(targets).view(-1, 1)
        with captured_output(model.layer(), copy=False) as outputs, torch.enable_grad():
            score = model(images).gather(1, targets).sum()
            activations = outputs[0]
            (gradients,) = torch.autograd.grad(score, activations)
        weights = gradients.mean(dim=(2, 3), keepdim=True)
        cam = (weights * activations).sum(dim=1, keepdim=True).relu()
        return SaliencyResult(minmax(upsample(cam, tuple(images.shape[-2:]))).squeeze(1).detach())

    return explain


def centre_bump(images: Tensor) -> Tensor:
    """A centred bump for every image of ``images`` (B, 3, H, H), the same for every image and
    class: (B, H, H) in [0, 1] on the images' device."""
    axis = torch.linspace(-1, 1, images.shape[-1], device=images.device)
    bump = 1 - (axis.view(-1, 1) ** 2 + axis.view(1, -1) ** 2).clamp(max=1)
    return bump.expand(images.shape[0], -1, -1)
