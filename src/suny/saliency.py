"""The one interface every explanation method implements (the registry by name is
:mod:`suny.registry`).

A method is built from the model wrapper (and a layer, for methods that have one) and called on a
batch of [0, 1] images with one target class per image. It returns maps at input resolution with
values in [0, 1], on the model's device, plus whatever extra the method produces (SUNY's
:class:`~suny.method.explanation.Explanation`, for instance)::

    method = create_method("gradcam", model, layer="layer4")
    result = method(images, targets)   # result.maps: (B, H, W) in [0, 1]

A method declares the maps one call returns in :attr:`SaliencyMethod.map_names`, under the
registry names that select them: SUNY-feature returns ``suny`` (the combined map), ``suny-n`` and
``suny-s`` from one explanation, so ``create_method("suny-n", ...)`` is the same explainer whose
``maps`` are the necessity maps, and an evaluation of all three explains once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from suny.engine import ForwardEngine, Precision, resolve_precision
from suny.errors import SunyError, TargetError
from suny.models.wrapper import ImageClassifier


def equal_runs(values: Tensor, rows: Sequence[int] | None = None) -> list[list[int]]:
    """``rows`` of ``values`` (default: all) in runs of consecutive equal rows. Called on a batch of
    images, the runs are the classes of one image, which share the interventions that do not depend
    on the class (masked inputs, SUNY's singletons): a method explains each run at once."""
    groups: list[list[int]] = []
    for row in range(len(values)) if rows is None else rows:
        if groups and torch.equal(values[groups[-1][0]], values[row]):
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


@dataclass
class SaliencyResult:
    """Maps of shape (B, H, W) in [0, 1], one extra object per image (or none), and every map the
    call produced by name (:attr:`SaliencyMethod.map_names`; ``maps`` is one of them)."""

    maps: Tensor
    extras: list[Any] = field(default_factory=list)
    outputs: dict[str, Tensor] = field(default_factory=dict)


class SaliencyMethod(ABC):
    """Base class: subclasses implement :meth:`explain` for checked inputs.

    Args:
        model: the classifier to explain.
        layer: the layer of a method that explains through one (default: the model's default
            layer); ignored by the others.
        seed: seed of the method's randomness (same seed, same maps).
        batch_size: inputs per forward pass (default: :attr:`default_batch_size` on the device).
        precision: of the method's batched forward passes (:mod:`suny.engine.precision`).
    """

    #: Registry names of the maps one call returns; the first is the method's own map.
    map_names: ClassVar[tuple[str, ...]] = ()
    #: Whether the method explains through a layer (``layer`` argument).
    uses_layer: ClassVar[bool] = False
    #: The method's own options that decide its maps (beyond layer, seed, batch size, precision).
    setting_names: ClassVar[tuple[str, ...]] = ()
    #: Map name -> the settings that do not decide that map (:meth:`settings_of`).
    ignored_settings: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    def __init__(
        self,
        model: ImageClassifier,
        layer: str | None = None,
        seed: int = 0,
        batch_size: int | None = None,
        precision: Precision = "float32",
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise SunyError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model
        self.batch_size = batch_size or self.default_batch_size(model.device)
        self.precision = resolve_precision(precision, model.device)
        self.layer = (layer or model.default_layer) if self.uses_layer else None
        if self.layer is not None:
            model.layer(self.layer)  # clear error listing the valid layers
        self.seed = seed
        self._output = self.map_names[0]

    @staticmethod
    def default_batch_size(device: torch.device) -> int:
        """Inputs per forward pass when the caller does not say."""
        return 64

    @property
    def settings(self) -> dict[str, Any]:
        """The method's own options as this instance uses them, defaults resolved
        (:attr:`setting_names`). A results store hashes them, so a changed default is another
        configuration, never mistaken for the stored one."""
        return {name: getattr(self, name) for name in self.setting_names}

    def settings_of(self, map_name: str) -> dict[str, Any]:
        """The :attr:`settings` that decide the map ``map_name`` (one of :attr:`map_names`): all but
        its :attr:`ignored_settings`. A store hashes these per map, so changing a setting that a map
        ignores never recomputes that map."""
        ignored = self.ignored_settings.get(self._known_map(map_name), ())
        return {name: value for name, value in self.settings.items() if name not in ignored}

    def engine(self) -> ForwardEngine:
        """A forward engine for this method's batched passes."""
        return ForwardEngine.for_model(self.model, self.batch_size, self.precision)

    @property
    def output(self) -> str:
        """Which of :attr:`map_names` a call's ``maps`` holds (default: the first)."""
        return self._output

    @output.setter
    def output(self, name: str) -> None:
        self._output = self._known_map(name)

    def _known_map(self, name: str) -> str:
        if name not in self.map_names:
            raise SunyError(f"{type(self).__name__} returns {', '.join(self.map_names)}, not {name!r}")
        return name

    def __call__(self, images: Tensor, targets: Tensor | list[int] | int) -> SaliencyResult:
        """Maps of ``images`` (B, 3, H, W) or (3, H, W) in [0, 1] for ``targets`` (one class per
        image, or one for all).

        Returns:
            The result, with ``maps`` the :attr:`output` map and ``outputs`` every declared map,
            all float32 in [0, 1].
        """
        images, targets = self._check(images, targets)
        result = self.explain(images, targets)
        produced = result.outputs or {self.map_names[0]: result.maps}
        outputs = {name: produced[name].float().clamp(0.0, 1.0) for name in self.map_names}
        return SaliencyResult(outputs[self.output], result.extras, outputs)

    @abstractmethod
    def explain(self, images: Tensor, targets: Tensor) -> SaliencyResult:
        """Maps for ``images`` (B, 3, H, W) in [0, 1] on the model's device and ``targets`` (B,):
        ``maps`` for a method with one map, else ``outputs`` with every name of :attr:`map_names`."""

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
