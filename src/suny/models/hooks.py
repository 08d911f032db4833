"""Forward hooks that live exactly as long as a ``with`` block: registered on entry, removed on
exit, errors included. Every hook suny puts on a model goes through :func:`forward_hooks`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

#: ``hook(module, inputs, output)``; a non-None return value replaces the module's output.
ForwardHook = Callable[[nn.Module, tuple[Any, ...], Any], Any]


@contextmanager
def forward_hooks(hooks: Iterable[tuple[nn.Module, ForwardHook]]) -> Iterator[None]:
    """Register each ``(module, hook)`` pair for the block; every one is removed on exit."""
    handles: list[RemovableHandle] = []
    try:
        for module, hook in hooks:
            handles.append(module.register_forward_hook(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def captured_output(module: nn.Module, copy: bool = True) -> Iterator[list[Tensor]]:
    """Collect the outputs of ``module`` while the block runs.

    By default they are detached copies, since a later in-place operation (``ReLU(inplace=True)``)
    would otherwise change what was captured; ``copy=False`` keeps the tensors themselves (to take
    gradients with respect to them).
    """
    outputs: list[Tensor] = []

    def keep(_module: nn.Module, _inputs: tuple[Any, ...], output: Tensor) -> None:
        outputs.append(output.detach().clone() if copy else output)

    with forward_hooks([(module, keep)]):
        yield outputs


@contextmanager
def replaced_output(module: nn.Module, output: Tensor) -> Iterator[None]:
    """Make ``module`` return ``output`` (in place of what it computes) while the block runs."""
    with forward_hooks([(module, lambda _module, _inputs, _output: output)]):
        yield
