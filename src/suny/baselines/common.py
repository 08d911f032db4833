"""What the baselines share: the base class (eval mode, batch size, precision of the masked passes),
a layer's activations and gradients, and the target-class probabilities of masked inputs.

Every forward pass here restores the model's train/eval flags and removes its hooks on exit,
errors included. Gradients are taken with :func:`torch.autograd.grad` with respect to activations
or inputs, so no ``.grad`` is ever left on the model's parameters, whether or not they require
gradients.
"""

from __future__ import annotations

from abc import abstractmethod

import torch
from torch import Tensor, nn

from suny.engine import ForwardEngine
from suny.errors import SunyError
from suny.models.hooks import forward_hooks
from suny.models.wrapper import ImageClassifier, preserved_mode
from suny.ops import minmax, upsample
from suny.saliency import SaliencyMethod, SaliencyResult, equal_runs


class Baseline(SaliencyMethod):
    """A baseline explanation method: runs in eval mode, ``batch_size`` inputs per forward pass.

    ``batch_size`` counts images for the gradient passes and masked (or noisy) inputs for the
    perturbation passes. ``precision`` is that of the perturbation passes (the masked inputs of
    Score-CAM, Group-CAM and RISE and CexCNN's pruned passes, through the
    :class:`~suny.engine.ForwardEngine`; pixel SmoothGrad's noisy passes); Grad-CAM and Grad-CAM++
    take one float32 pass per image, Smooth Grad-CAM++ float32 passes of its noisy copies.
    """

    def explain(self, images: Tensor, targets: Tensor) -> SaliencyResult:
        with preserved_mode(self.model):
            self.model.eval()
            return self.compute(images, targets)

    @abstractmethod
    def compute(self, images: Tensor, targets: Tensor) -> SaliencyResult:
        """:meth:`explain` with the model in eval mode."""


def _tapped_forward(
    model: ImageClassifier, module: nn.Module, images: Tensor, graph: bool
) -> tuple[Tensor, Tensor]:
    """Logits of ``images`` and the output of ``module`` (a detached copy, so later in-place
    operations such as ``ReLU(inplace=True)`` cannot change it).

    With ``graph``, the autograd graph is recorded from ``module``'s output on (that output is a
    leaf that requires grad), not through the layers before it.
    """
    captured: list[Tensor] = []

    def tap(_module: nn.Module, _inputs: object, output: Tensor) -> Tensor:
        activation = output.detach()
        if graph:
            torch.set_grad_enabled(True)  # undone when the enclosing no_grad block exits
            activation.requires_grad_(True)
        captured.append(activation)
        return activation.clone()

    with forward_hooks([(module, tap)]), torch.no_grad():
        logits = model(images)
    return logits, captured[0]


def checked_noise(samples: int, noise: float) -> tuple[int, float]:
    """``(samples, noise)`` of a noise-averaging method, or a clear error: at least one sample, a
    noise level of at least 0."""
    if samples < 1:
        raise SunyError(f"samples must be at least 1, got {samples}")
    if not noise >= 0:
        raise SunyError(f"noise must be at least 0 (a fraction of the image's range), got {noise}")
    return samples, noise


def input_noise(image: Tensor, samples: int, noise: float, generator: torch.Generator) -> Tensor:
    """``samples`` draws ``e_i ~ N(0, sigma^2)`` of ``image``'s shape (3, H, W), ``sigma = noise *
    (max(image) - min(image))`` (SmoothGrad's noise level, a fraction of the image's range): one
    ``torch.randn((samples, 3, H, W))`` from ``generator`` times sigma, (samples, 3, H, W)."""
    sigma = noise * (image.max() - image.min())
    draws = torch.randn((samples, *image.shape), generator=generator, device=image.device)
    return draws * sigma


def activations_and_gradients(
    model: ImageClassifier, layer: str | None, images: Tensor, targets: Tensor
) -> tuple[Tensor, Tensor]:
    """``A = R(O)`` (B, K, h, w) and ``R(dy_c / dO)``, where ``O`` is the output of ``layer``, ``R``
    its view as maps (``model.view(layer)``: the identity, or a reshape_transform, applied to the
    gradient too, as pytorch-grad-cam does) and ``y_c`` the logit of each image's target class."""
    view = model.view(layer)
    logits, outputs = _tapped_forward(model, model.layer(layer), images, graph=True)
    with torch.enable_grad():
        score = logits.gather(1, targets[:, None]).sum()
    (gradients,) = torch.autograd.grad(score, outputs, allow_unused=True, materialize_grads=True)
    return view.maps(outputs.detach()), view.maps(gradients)


def mask_scores(
    engine: ForwardEngine,
    maps: Tensor,
    images: Tensor,
    targets: Tensor,
    substrate: Tensor | None = None,
) -> Tensor:
    """``s[b, k] = p_c(x_b * M_bk + substrate_b * (1 - M_bk))`` with ``M_bk = minmax(upsample(
    maps[b, k]))`` at input resolution (substrate 0 by default), (B, K).

    Constant maps are skipped (``s = 0``), as the official Score-CAM and Group-CAM code does. Rows
    with the same image and maps (the classes of one image, for Score-CAM) share their masked
    inputs: each runs once through ``engine`` for all their classes.
    """
    size = tuple(images.shape[-2:])
    scores = torch.zeros(maps.shape[:2], device=maps.device)
    for rows in equal_runs(images):
        for group in equal_runs(maps, rows):
            first = group[0]
            flat = maps[first].flatten(start_dim=1)
            (varying,) = (flat.amax(dim=-1) > flat.amin(dim=-1)).nonzero(as_tuple=True)
            masks = maps[first, varying][:, None]
            x = images[first]
            base = None if substrate is None else substrate[first]

            def masked(
                chunk: slice, masks: Tensor = masks, x: Tensor = x, base: Tensor | None = base
            ) -> Tensor:
                weights = minmax(upsample(masks[chunk], size))
                return x * weights if base is None else torch.lerp(base, x, weights)

            probabilities = engine.probabilities(len(varying), masked, classes=targets[group])
            scores[torch.tensor(group, device=maps.device)[:, None], varying[None, :]] = probabilities.T
    return scores
