"""From what a network returns to logits.

Every suny method reads logits (B, classes). Networks that return something else (transformers'
``ImageClassifierOutput``, a tuple of logits and auxiliary outputs, a dict) are wrapped in
:class:`LogitsOutput` with the callable that picks the logits out, as torch-cam's ``output_fn``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import attrgetter, itemgetter
from typing import Any

from torch import Tensor, nn

from suny.errors import ModelError

#: Turns a network's output into logits (B, classes).
OutputAdapter = Callable[[Any], Tensor]


def describe(output: Any) -> str:
    """A short description of a network output, for error messages."""
    if isinstance(output, Tensor):
        return f"a {output.dim()}-D {str(output.dtype).removeprefix('torch.')} tensor {tuple(output.shape)}"
    return f"a {type(output).__name__}"


def logits_error(name: str, output: Any) -> ModelError:
    """The error for a network whose output is not logits."""
    return ModelError(
        f"{name} returned {describe(output)}, not logits (a 2-D float tensor B x classes) nor a known "
        "output object (a tensor, a .logits attribute, a tuple or list whose first element is the logits, "
        "a dict with 'logits'); pass output= a callable that turns it into logits"
    )


def check_logits(name: str, output: Any) -> Tensor:
    """``output`` when it is logits (a 2-D floating-point tensor), else the clear error."""
    if isinstance(output, Tensor) and output.dim() == 2 and output.is_floating_point():
        return output
    raise logits_error(name, output)


def known_adapter(output: Any) -> OutputAdapter | None:
    """The adapter that takes the logits out of a known output object (None for a tensor or an
    unknown object)."""
    if isinstance(output, Tensor):
        return None
    if isinstance(getattr(output, "logits", None), Tensor):
        return attrgetter("logits")
    if isinstance(output, Mapping) and isinstance(output.get("logits"), Tensor):
        return itemgetter("logits")
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], Tensor):
        return itemgetter(0)
    return None


class LogitsOutput(nn.Module):
    """``model`` whose output goes through ``output``: a network that returns logits. It takes the
    images alone (one argument, which ``torch.fx`` can trace; ``*args`` it cannot)."""

    def __init__(self, model: nn.Module, output: OutputAdapter) -> None:
        super().__init__()
        self.model = model
        self.output = output

    def forward(self, images: Tensor) -> Tensor:
        return self.output(self.model(images))
