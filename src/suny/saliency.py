"""The one interface every explanation method implements, and the registry of methods by name.

A method is built from the model wrapper (and a layer, for methods that have one) and called on a
batch of [0, 1] images with one target class per image. It returns maps at input resolution with
values in [0, 1], on the model's device, plus whatever extra the method produces (SUNY's
:class:`~suny.method.explanation.Explanation`, for instance)::

    method = create_method("gradcam", model, layer="layer4")
    result = method(images, targets)   # result.maps: (B, H, W) in [0, 1]
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from suny.errors import SunyError, TargetError
from suny.models.wrapper import ImageClassifier


@dataclass
class SaliencyResult:
    """Maps of shape (B, H, W) in [0, 1] and one extra object per image (or ``None``)."""

    maps: Tensor
    extras: list[Any] = field(default_factory=list)


class SaliencyMethod(ABC):
    """Base class: subclasses implement :meth:`explain` for checked inputs."""

    #: Registry name, set by :func:`register`.
    name: ClassVar[str] = ""
    #: Whether the method explains through a layer (``layer`` argument).
    uses_layer: ClassVar[bool] = False

    def __init__(self, model: ImageClassifier, layer: str | None = None, seed: int = 0) -> None:
        self.model = model
        self.layer = (layer or model.default_layer) if self.uses_layer else None
        if self.layer is not None:
            model.layer(self.layer)  # clear error listing the valid layers
        self.seed = seed

    def __call__(self, images: Tensor, targets: Tensor | list[int] | int) -> SaliencyResult:
        images, targets = self._check(images, targets)
        result = self.explain(images, targets)
        result.maps = result.maps.float().clamp(0.0, 1.0)
        return result

    @abstractmethod
    def explain(self, images: Tensor, targets: Tensor) -> SaliencyResult:
        """Maps for ``images`` (B, 3, H, W) in [0, 1] on the model's device and ``targets`` (B,)."""

    def generator(self) -> torch.Generator:
        """A fresh generator on the model's device seeded with :attr:`seed` (same seed, same map)."""
        generator = torch.Generator(device=self.model.device)
        generator.manual_seed(self.seed)
        return generator

    def _check(self, images: Tensor, targets: Tensor | list[int] | int) -> tuple[Tensor, Tensor]:
        if images.dim() == 3:
            images = images.unsqueeze(0)
        if images.dim() != 4 or images.shape[1] != 3:
            raise SunyError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
        device = self.model.device
        targets = torch.as_tensor(targets, dtype=torch.long).reshape(-1).to(device)
        if targets.numel() == 1 and images.shape[0] > 1:
            targets = targets.expand(images.shape[0])
        if targets.numel() != images.shape[0]:
            raise SunyError(f"{images.shape[0]} images but {targets.numel()} targets")
        bad = targets[(targets < 0) | (targets >= self.model.num_classes)]
        if bad.numel():
            raise TargetError(
                f"class index {int(bad[0])} is out of range: {self.model.name} has classes "
                f"0..{self.model.num_classes - 1}"
            )
        return images.to(device), targets


METHODS: dict[str, type[SaliencyMethod]] = {}


def register(name: str) -> Callable[[type[SaliencyMethod]], type[SaliencyMethod]]:
    """Class decorator: make a method available as ``create_method(name, ...)``."""

    def decorate(cls: type[SaliencyMethod]) -> type[SaliencyMethod]:
        cls.name = name
        METHODS[name] = cls
        return cls

    return decorate


def method_names() -> list[str]:
    """Registered method names (importing the packages that register them)."""
    import suny.baselines
    import suny.method  # noqa: F401  (registers the SUNY variants)

    return list(METHODS)


def create_method(name: str, model: ImageClassifier, **options: Any) -> SaliencyMethod:
    """The method registered as ``name``, built on ``model`` with ``options``."""
    names = method_names()
    if name not in METHODS:
        raise SunyError(f"unknown method {name!r}; known methods: {', '.join(names)}")
    return METHODS[name](model, **options)
