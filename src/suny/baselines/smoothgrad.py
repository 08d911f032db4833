"""Pixel SmoothGrad (Smilkov et al. 2017): an extra row of the report, not the paper's "SmoothGrad"
row (that one is Smooth Grad-CAM++, :class:`~suny.baselines.cam.SmoothGradCAMPlusPlus`)."""

from __future__ import annotations

import torch
from torch import Tensor

from suny.baselines.common import Baseline, checked_noise, input_noise
from suny.engine import Precision, autocast
from suny.models.wrapper import ImageClassifier
from suny.ops import batched, minmax
from suny.saliency import SaliencyResult


class SmoothGrad(Baseline):
    """Pixel SmoothGrad: ``map = minmax(max_channels (1/n) sum_i |d y_c(x + e_i) / dx|)`` with ``y_c``
    the target's logit and ``e_i ~ N(0, sigma^2)``, ``sigma = noise * (max(x) - min(x))`` per image.

    ``n = samples`` (50) and ``noise`` (0.15) as in the paper. The absolute value is taken per
    sample before averaging, as captum's ``NoiseTunnel(Saliency())`` does. Each image's noise is
    ``sigma * torch.randn((n, 3, H, W))`` from a generator freshly seeded with ``seed``, so an
    image's map does not depend on the other images of the call, and on the CPU the draw equals
    captum's after ``torch.manual_seed(seed)`` for that image alone. ``batch_size`` noisy copies
    run per forward/backward pass, in ``precision``.
    """

    map_names = ("smoothgrad",)
    setting_names = ("samples", "noise")

    def __init__(
        self,
        model: ImageClassifier,
        layer: str | None = None,
        seed: int = 0,
        batch_size: int = 64,
        precision: Precision = "float32",
        samples: int = 50,
        noise: float = 0.15,
    ) -> None:
        super().__init__(model, layer, seed, batch_size, precision)
        self.samples, self.noise = checked_noise(samples, noise)

    def compute(self, images: Tensor, targets: Tensor) -> SaliencyResult:
        maps = []
        for image, target in zip(images, targets):
            noise = input_noise(image, self.samples, self.noise, self.generator())
            total = torch.zeros_like(image)
            for chunk in batched(self.samples, self.batch_size):
                noisy = (image + noise[chunk]).requires_grad_(True)
                with torch.enable_grad(), autocast(self.model.device, self.precision):
                    score = self.model(noisy)[:, target].float().sum()
                    (gradient,) = torch.autograd.grad(score, noisy)
                total += gradient.abs().sum(dim=0)
            maps.append((total / self.samples).amax(dim=0))
        return SaliencyResult(maps=minmax(torch.stack(maps)))
