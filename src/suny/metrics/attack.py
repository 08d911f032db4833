"""Saliency attack: add Gaussian noise through the map's salient part and see whether the class flips.

The "true map" keeps the map where its min-max normalised value reaches the threshold tau and is 0
elsewhere: ``t = map * [minmax(map) >= tau]`` (tau = 0.5 by default; tau = 0 keeps the whole map,
the literal reading of the paper, under which every dense map has size ~1 and the score is the flip
rate, which the paper's Table 2 rules out). Then ``x' = x + noise * t`` with ``noise ~ N(0,
variance)`` (variance 0.03, std ~0.173), not clipped to [0, 1]. The noise of an image depends only on
the seed and the image's key (its id), never on the method, the batch or the order, so every method
is attacked with the same draw. ``flip = argmax p(x) != argmax p(x')``; ``size`` = fraction of the
pixels where ``t`` is non-zero; over a set, ``Attack_score = flip rate / mean size`` (higher is
better: few pixels, many flips).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from suny.engine import ForwardEngine, Precision
from suny.models.wrapper import ImageClassifier
from suny.ops import minmax

#: The SPEC's noise variance and default threshold of the true map.
NOISE_VARIANCE = 0.03
THRESHOLD = 0.5


def image_seed(seed: int, key: str) -> int:
    """A 63-bit seed from the run's ``seed`` and an image key, stable across runs and platforms."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def attack_noise(
    keys: Sequence[str],
    shape: Sequence[int],
    seed: int = 0,
    variance: float = NOISE_VARIANCE,
) -> Tensor:
    """(len(keys), *shape) noise ~ N(0, variance), one draw per key from :func:`image_seed`.

    Drawn on the CPU so that the same seed gives the same noise on every device.
    """
    generator = torch.Generator()
    draws = []
    for key in keys:
        generator.manual_seed(image_seed(seed, key))
        draws.append(torch.randn(shape, generator=generator))
    return torch.stack(draws) * math.sqrt(variance)


@dataclass
class AttackResult:
    """Per image: class before and after, whether it flipped, and the attack size."""

    original: Tensor
    attacked: Tensor
    sizes: Tensor

    @property
    def flips(self) -> Tensor:
        return self.original != self.attacked


def true_maps(maps: Tensor, threshold: float = THRESHOLD) -> Tensor:
    """``t = map * [minmax(map) >= threshold]`` for maps (B, H, W)."""
    return maps * (minmax(maps) >= threshold)


def saliency_attack(
    model: ImageClassifier,
    images: Tensor,
    maps: Tensor,
    noise: Tensor,
    batch_size: int = 64,
    threshold: float = THRESHOLD,
    precision: Precision = "float32",
    original: Tensor | None = None,
) -> AttackResult:
    """Attack ``images`` (B, 3, H, W) in [0, 1] with ``noise`` (B, 3, H, W) through the true maps of
    ``maps`` (B, H, W): ``x' = x + noise * t``. ``original``: the classes of ``images`` when known
    (else predicted here); the passes run through the forward engine."""
    device = model.device
    images, maps, noise = images.to(device), maps.to(device), noise.to(device)
    if maps.shape != (images.shape[0], *images.shape[2:]) or noise.shape != images.shape:
        raise ValueError(
            f"images {tuple(images.shape)}, maps {tuple(maps.shape)} and noise "
            f"{tuple(noise.shape)} do not match: expected (B, 3, H, W), (B, H, W), (B, 3, H, W)"
        )
    attack = true_maps(maps, threshold)
    engine = ForwardEngine.for_model(model, batch_size, precision)
    if original is None:
        original = engine.predictions(len(images), images.__getitem__)
    attacked = engine.predictions(len(images), lambda s: images[s] + noise[s] * attack[s, None])
    sizes = (attack != 0).flatten(start_dim=1).float().mean(dim=1)
    return AttackResult(original.to(device), attacked, sizes)


def attack_score(flips: Tensor, sizes: Tensor) -> float:
    """``mean(flips) / mean(sizes)`` over a set; NaN when every map is all zero (no attack)."""
    mean_size = float(sizes.float().mean())
    return float(flips.float().mean()) / mean_size if mean_size > 0 else math.nan
