"""One wrapper for every classifier: input in [0, 1], the model's own normalisation inside.

``ImageClassifier(x)`` returns logits for ``x`` of shape (B, 3, H, W) with values in [0, 1];
``normalise`` is ``(x - mean) / std`` with the constants that match the weights. The wrapper also
knows the preprocessing of its weights (resize the short side, centre crop), the class names, and
which of its modules can be explained (those that run once per forward pass and return a 4-D
feature map).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch
from PIL import Image
from torch import Tensor, nn
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from suny.errors import LayerError, ModelError, TargetError, name_choices
from suny.models.hooks import captured_output
from suny.models.outputs import logits_error
from suny.models.trace import LayerTrace
from suny.models.views import LayerView, ReshapeTransform, changes

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """How the weights expect an image: resize short side to ``resize``, centre crop ``crop``,
    then ``(x - mean) / std`` on [0, 1] values (the last step runs inside the wrapper)."""

    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: InterpolationMode = InterpolationMode.BILINEAR


#: PIL's resampling filters by number (as image processor configs give them).
PIL_RESAMPLE = {
    0: InterpolationMode.NEAREST,
    1: InterpolationMode.LANCZOS,
    2: InterpolationMode.BILINEAR,
    3: InterpolationMode.BICUBIC,
    4: InterpolationMode.BOX,
    5: InterpolationMode.HAMMING,
}


def interpolation_mode(value: object) -> InterpolationMode:
    """An interpolation given by name (``"bicubic"``, timm's configs) or PIL number (``3``,
    transformers' configs); bilinear when unknown."""
    if isinstance(value, int):
        return PIL_RESAMPLE.get(value, InterpolationMode.BILINEAR)
    try:
        return InterpolationMode(str(value).lower())
    except ValueError:
        return InterpolationMode.BILINEAR


def channel_triple(values: Any) -> tuple[float, float, float]:
    """Per-channel constants (a mean, a std) as three floats; one value given serves every channel."""
    numbers = [float(v) for v in (values if isinstance(values, (list, tuple)) else [values])]
    if len(numbers) == 1:
        numbers *= 3
    if len(numbers) != 3:
        raise ValueError(f"expected one or three per-channel values, got {values!r}")
    return (numbers[0], numbers[1], numbers[2])


class ImageClassifier(nn.Module):
    """A CNN classifier that takes [0, 1] images and returns logits.

    ``network`` must return logits (:func:`suny.models.wrap_model` adapts other outputs);
    ``default_layer`` None finds the last spatial post-activation layer; ``trace``: the layers of
    ``network`` already recorded at the preprocessing size (saves a forward pass);
    ``reshape_transform``: how the methods see a layer's output as feature maps (B, C, h, w), as
    pytorch-grad-cam's (a transformer's tokens; :mod:`suny.models.views`).
    """

    def __init__(
        self,
        network: nn.Module,
        preprocessing: Preprocessing,
        class_names: Sequence[str],
        default_layer: str | None = None,
        name: str = "model",
        *,
        trace: LayerTrace | None = None,
        reshape_transform: ReshapeTransform | None = None,
    ) -> None:
        super().__init__()
        self.network = network.eval()
        self.preprocessing = preprocessing
        self.class_names = list(class_names)
        self.name = name
        #: pytorch-grad-cam's reshape_transform, applied to the output of every explained layer.
        self.reshape_transform = reshape_transform
        self._views: dict[str, LayerView] = {}
        self.mean: Tensor
        self.std: Tensor
        place = next((p.device for p in network.parameters()), None)  # the network's device
        self.register_buffer("mean", torch.tensor(preprocessing.mean, device=place).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(preprocessing.std, device=place).view(1, 3, 1, 1))
        self._check_has_conv()
        if trace is not None:  # recorded by the caller at the preprocessing size: one pass saved
            self.__dict__["trace"] = trace
        #: The layer explained when none is named: the architecture's, else found by
        #: :meth:`LayerTrace.default_layer` (the last spatial post-activation layer).
        self.default_layer = default_layer or self.trace.default_layer()

    # ----------------------------------------------------------------------------- forward
    def normalise(self, images: Tensor) -> Tensor:
        """``(x - mean) / std``: from [0, 1] to the network's input space."""
        return (images - self.mean) / self.std

    def forward(self, images: Tensor) -> Tensor:
        """Logits for images in [0, 1] of shape (B, 3, H, W)."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
        logits = self.network(self.normalise(images))
        if not isinstance(logits, Tensor) or logits.dim() != 2:
            raise logits_error(self.name, logits)
        return logits

    @torch.no_grad()
    def forward_with_layer(self, images: Tensor, layer: str | None = None) -> tuple[Tensor, Tensor]:
        """(logits, a copy of ``layer``'s output as maps (B, C, h, w), :meth:`view`) for ``images`` in
        one forward pass, no gradients."""
        with captured_output(self.layer(layer)) as outputs:
            logits = self(images)
        return logits, self.view(layer).maps(outputs[0])

    @torch.no_grad()
    def probabilities(self, images: Tensor, batch_size: int = 32) -> Tensor:
        """Softmax probabilities (float32), computed in batches of ``batch_size``."""
        return torch.cat([self(chunk).float().softmax(dim=1) for chunk in torch.split(images, batch_size)])

    @property
    def device(self) -> torch.device:
        return self.mean.device

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    # ----------------------------------------------------------------------- preprocessing
    def preprocess(self, image: Image.Image) -> Tensor:
        """A PIL image to the (3, crop, crop) tensor in [0, 1] that the weights expect."""
        prep = self.preprocessing
        image = TF.resize(image, prep.resize, interpolation=prep.interpolation)
        image = TF.center_crop(image, [prep.crop, prep.crop])
        tensor: Tensor = TF.to_tensor(image)
        return tensor

    # --------------------------------------------------------------------------- classes
    def class_index(self, target: int | str) -> int:
        """A class given by index or by (case-insensitive, unambiguous) name to its index."""
        if isinstance(target, int) or re.fullmatch(r"-?[0-9]+", target):
            index = int(target)
            if not 0 <= index < self.num_classes:
                raise TargetError(
                    f"class index {index} is out of range: {self.name} has classes 0..{self.num_classes - 1}"
                )
            return index
        wanted = target.strip().lower()
        exact = [i for i, name in enumerate(self.class_names) if name.lower() == wanted]
        if exact:
            return exact[0]
        partial = [i for i, name in enumerate(self.class_names) if wanted in name.lower()]
        if len(partial) == 1:
            return partial[0]
        if not partial:
            raise TargetError(f"no class of {self.name} is named {target!r}")
        shown = ", ".join(f"{i}: {self.class_names[i]}" for i in partial[:8])
        raise TargetError(f"{target!r} matches {len(partial)} classes ({shown}); give an index")

    def class_name(self, index: int) -> str:
        return self.class_names[index]

    # ---------------------------------------------------------------------------- layers
    def _check_has_conv(self) -> None:
        if not any(isinstance(m, nn.Conv2d) for m in self.network.modules()):
            raise ModelError(
                f"{self.name} has no Conv2d layer: SUNY and the CAM baselines explain convolutional "
                "classifiers only"
            )

    @cached_property
    def trace(self) -> LayerTrace:
        """Every module call of one forward pass at the preprocessing size (see :mod:`suny.models.trace`)."""
        size = self.preprocessing.crop
        image = torch.zeros(1, 3, size, size, device=self.device)
        with preserved_mode(self):
            self.eval()
            return LayerTrace.record(self.network, lambda: self(image))

    @cached_property
    def _explainable(self) -> list[str]:
        return self.trace.explainable(self.reshape_transform)

    def layer_names(self) -> list[str]:
        """Names of the modules that can be explained (run once, return feature maps (B, C, H, W),
        through the reshape_transform where there is one), in the order they run."""
        return list(self._explainable)

    def view(self, name: str | None = None) -> LayerView:
        """How the methods see layer ``name``'s output (default: :attr:`default_layer`): through the
        reshape_transform where it changes that output, else as it is."""
        name = name or self.default_layer
        if name not in self._views:
            self.layer(name)
            transform = self.reshape_transform
            shape = self.trace.first(name).shape
            if transform is not None and shape is not None and not changes(transform, shape):
                transform = None
            self._views[name] = LayerView(name, transform)
        return self._views[name]

    def with_reshape(self, reshape_transform: ReshapeTransform | None) -> ImageClassifier:
        """This classifier (the same network, preprocessing, classes and layers) with another
        ``reshape_transform``."""
        return ImageClassifier(
            self.network,
            self.preprocessing,
            self.class_names,
            self.default_layer,
            self.name,
            trace=self.trace,
            reshape_transform=reshape_transform,
        )

    def conv_names(self) -> list[str]:
        """Names of the Conv2d modules, in the order they run (the layers SUNY-filter can prune)."""
        return self.trace.convolutions()

    def layer(self, name: str | None = None) -> nn.Module:
        """The module called ``name`` (default: :attr:`default_layer`); a clear error if it cannot be
        explained."""
        name = name or self.default_layer
        problem = self.trace.problem(name, self.reshape_transform) if name in self.trace.modules else None
        if problem is not None:
            raise LayerError(
                f"layer {name!r} of {self.name} {problem}. model.layer_names() ('suny layers MODEL') lists "
                "the layers that can be explained"
            )
        valid = self.layer_names()
        if name not in valid:
            choices = name_choices(name, valid, f"'suny layers {self.name}' (model.layer_names())")
            raise LayerError(
                f"{self.name} has no explainable layer {name!r}; {choices}{self._default_hint(name)}"
            )
        return self.network.get_submodule(name)

    def _default_hint(self, unknown: str) -> str:
        """`` (the default: NAME)``: the model's default layer, or the one tracing finds where the
        default is the ``unknown`` name itself (a model loaded with a bad ``layer``); empty if none."""
        if self.default_layer != unknown:
            return f" (the default: {self.default_layer})"
        try:
            return f" (the default: {self.trace.default_layer()})"
        except ModelError:
            return ""

    def filter_layer(self, name: str | None = None) -> str:
        """The convolution whose filters SUNY-filter prunes for layer ``name``: the layer itself if
        it is a Conv2d, else the last convolution that runs inside it and is not a second branch from
        one tensor (a residual block's projection shortcut, :meth:`LayerTrace.branches`), else (a
        layer with no convolution of its own, such as a ReLU) the last one that runs before it."""
        name = name or self.default_layer
        self.layer(name)
        order, convs = self.trace.order(), self.trace.convolutions()
        inside = [c for c in convs if c == name or c.startswith(name + ".")]
        before = [c for c in convs if order.index(c) < order.index(name)]
        branches = set(self.trace.branches(inside))
        chosen = [c for c in inside if c not in branches] or inside or before
        if not chosen:
            raise LayerError(
                f"no convolution runs at or before {name!r}; valid conv layers: {', '.join(convs)}"
            )
        return chosen[-1]


@contextmanager
def preserved_mode(module: nn.Module) -> Iterator[None]:
    """Restore the train/eval flag of every submodule on exit, errors included."""
    modes = {m: m.training for m in module.modules()}
    try:
        yield
    finally:
        for m, training in modes.items():
            m.training = training
