"""Which modules of a network can be explained, found by one recorded forward pass.

Every module call is recorded with its output's shape and storage, in the order the calls finish.
A layer is explainable when it runs once per forward pass and returns feature maps (B, C, H, W);
the default layer is the last post-activation one among them (an activation, or a block whose
output is the output of an activation inside it), and otherwise the last spatial layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import torch
from torch import Tensor, nn

from suny.errors import ModelError
from suny.models.hooks import ForwardHook, forward_hooks
from suny.models.views import ReshapeTransform, seen_shape

#: Activation modules by type; others (timm's GELU, transformers' GELUActivation, ...) by class name.
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU)
ACTIVATION_NAMES = re.compile(r"relu|gelu|silu|swish|mish", re.IGNORECASE)


def is_activation(module: nn.Module) -> bool:
    """Whether ``module`` is an elementwise activation (ReLU, ReLU6, SiLU, GELU, Hardswish, ...)."""
    return isinstance(module, (*ACTIVATIONS, nn.Mish, nn.Hardswish)) or bool(
        ACTIVATION_NAMES.search(type(module).__name__)
    )


@dataclass(frozen=True)
class Call:
    """One finished module call: its output's type, shape and storage (None when not a tensor),
    whether it returned its input itself (Identity, Dropout in eval mode), and its first input's
    storage and shape (None when not a tensor)."""

    name: str
    returns: str
    shape: tuple[int, ...] | None
    storage: int | None
    passthrough: bool
    source: tuple[int, tuple[int, ...]] | None = None

    @classmethod
    def of(cls, name: str, inputs: tuple[Any, ...], output: Any) -> Call:
        """The call of module ``name`` that took ``inputs`` and returned ``output``."""
        tensor = output if isinstance(output, Tensor) else None
        shape = None if tensor is None else tuple(tensor.shape)
        storage = None if tensor is None else tensor.data_ptr()
        first = inputs[0] if inputs and isinstance(inputs[0], Tensor) else None
        source = None if first is None else (first.data_ptr(), tuple(first.shape))
        return cls(name, type(output).__name__, shape, storage, bool(inputs) and output is inputs[0], source)


@dataclass(frozen=True)
class LayerTrace:
    """The calls of one forward pass of ``modules`` (name -> module), in the order they finished."""

    modules: dict[str, nn.Module]
    calls: tuple[Call, ...]

    @classmethod
    def record(cls, network: nn.Module, run: Any) -> LayerTrace:
        """Record the module calls of ``network`` while ``run()`` runs a forward pass."""
        modules = {name: module for name, module in network.named_modules() if name}
        calls: list[Call] = []
        read: list[Any] = []  # the convolutions' inputs, kept so that no other tensor reuses their memory

        def hook(name: str) -> ForwardHook:
            def record(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
                calls.append(Call.of(name, inputs, output))
                if isinstance(module, nn.Conv2d):
                    read.append(inputs[:1])

            return record

        with forward_hooks((module, hook(name)) for name, module in modules.items()), torch.no_grad():
            run()
        return cls(modules, tuple(calls))

    def nested(self, prefix: str, root: nn.Module, inputs: tuple[Any, ...], output: Any) -> LayerTrace:
        """This trace of ``root`` as seen from a module that holds it as ``prefix`` (and called it
        with ``inputs``, getting ``output``)."""
        modules = {prefix: root} | {f"{prefix}.{name}": module for name, module in self.modules.items()}
        calls = [replace(call, name=f"{prefix}.{call.name}") for call in self.calls]
        return LayerTrace(modules, (*calls, Call.of(prefix, inputs, output)))

    @cached_property
    def _counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for call in self.calls:
            counts[call.name] = counts.get(call.name, 0) + 1
        return counts

    @cached_property
    def _first(self) -> dict[str, int]:
        """Module name -> the index of its first call."""
        first: dict[str, int] = {}
        for index, call in enumerate(self.calls):
            first.setdefault(call.name, index)
        return first

    def counts(self) -> dict[str, int]:
        """Module name -> how many times it ran, in order of first finish."""
        return dict(self._counts)

    def first(self, name: str) -> Call:
        """The first call of module ``name``."""
        return self.calls[self._first[name]]

    def order(self) -> list[str]:
        """Every module that ran, in order of first finish."""
        return list(self.counts())

    def explainable(self, transform: ReshapeTransform | None = None) -> list[str]:
        """The modules that run once and return feature maps (B, C, H, W) (through ``transform``
        where given), in run order."""
        return [
            name
            for name, count in self._counts.items()
            if count == 1 and self.problem(name, transform) is None
        ]

    def convolutions(self) -> list[str]:
        """The Conv2d modules that run once, in run order."""
        once = [name for name, count in self._counts.items() if count == 1]
        return [name for name in once if isinstance(self.modules[name], nn.Conv2d)]

    def branches(self, convolutions: list[str]) -> list[str]:
        """Those of ``convolutions`` (in run order) that read what an earlier one of them read: the
        second and later branches from one tensor, such as a residual block's projection shortcut
        (which runs after the block's own convolutions in torchvision's and transformers' ResNets)."""
        sources = [self.first(name).source for name in convolutions]
        return [
            name
            for index, (name, source) in enumerate(zip(convolutions, sources))
            if source is not None and source in sources[:index]
        ]

    def problem(self, name: str, transform: ReshapeTransform | None = None) -> str | None:
        """Why module ``name`` cannot be explained (None when it can), in words; with a
        ``transform`` (a reshape_transform), its output is judged as the transform sees it."""
        runs = self._counts.get(name, 0)
        if runs != 1:
            return (
                "does not run in a forward pass"
                if runs == 0
                else f"runs {runs} times per forward pass (one module used in several places); "
                "explain a layer that runs once"
            )
        call = self.first(name)
        shape = call.shape
        needed = "SUNY and the CAMs need feature maps (B, C, H, W)"
        if shape is None:
            return f"returns a {call.returns}, not a tensor: {needed}"
        if transform is not None:
            seen = seen_shape(transform, shape)
            if isinstance(seen, str):
                return f"returns {shape}, which the reshape_transform cannot take ({seen})"
            shape, needed = seen, f"{needed} from the reshape_transform"
        if len(shape) == 3:
            return (
                f"returns a 3-D tensor {shape}, not feature maps: {needed}. For tokens (B, tokens, dim), "
                "as a ViT's, give a reshape_transform that makes them a grid, as pytorch-grad-cam's "
                "(SunyCAM(..., reshape_transform=f), wrap_model(..., reshape_transform=f); f = lambda x: "
                "x[:, -h * w:].reshape(len(x), h, w, x.shape[2]).permute(0, 3, 1, 2))"
            )
        if len(shape) != 4:
            return (
                f"returns a {len(shape)}-D tensor {shape}, not feature maps: {needed}; explain a layer "
                "before the global pooling"
            )
        if shape[1] == shape[2] != shape[3]:  # at a square input, channels-first maps are square
            return (
                f"returns channels-last maps (B, H, W, C) {shape}: {needed}; give a reshape_transform "
                "that permutes them (lambda x: x.permute(0, 3, 1, 2)), as a Swin's"
            )
        if shape[2] != shape[3]:
            return (
                f"returns {shape}, not square maps at a square input (attention heads (B, heads, tokens, "
                f"dim)?): {needed}"
            )
        return None

    def post_activation(self, name: str) -> bool:
        """Whether the output of ``name`` is the output of an activation: ``name`` is one, or a
        block whose output is the output of an activation inside it."""
        if is_activation(self.modules[name]):
            return True
        end = self._first[name]
        result = (self.calls[end].storage, self.calls[end].shape)
        # From the last call inside the block back: wrappers of the same tensor and identities may
        # follow the activation; any other computation means the output is not the activation's
        # (even where it reuses the memory of an activation output freed before).
        for call in reversed(self.calls[:end]):
            if not call.name.startswith(name + "."):
                continue
            same = (call.storage, call.shape) == result
            if same and is_activation(self.modules[call.name]):
                return True
            if not (same or call.passthrough):
                return False
        return False

    def default_layer(self) -> str:
        """The last spatial post-activation layer; else the last spatial layer (before the global
        pooling) that is not an identity."""
        spatial = [
            name
            for name in self.explainable()
            if (shape := self.first(name).shape) is not None and shape[2] == shape[3] > 1
        ]
        chosen = [n for n in spatial if self.post_activation(n)] or [
            n for n in spatial if not self.first(n).passthrough
        ]
        if not chosen:
            raise ModelError(
                "no layer of the network returns feature maps (B, C, H, W) larger than 1 x 1: SUNY and "
                "the CAMs explain convolutional feature maps"
            )
        return chosen[-1]
