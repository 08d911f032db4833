"""One engine for every batch of forward passes whose inputs are built on the fly.

A caller describes ``count`` inputs by a function that builds any slice of them (masked images, the
points of a deletion curve, pruned activations for a network's tail) and says which class
probabilities it wants back; the engine runs the slices of ``batch_size`` inputs without gradients,
channels-last, under the precision's autocast, and counts the passes::

    engine = ForwardEngine.for_model(model, batch_size=64, precision="auto")
    p = engine.probabilities(len(masks), lambda s: image * masks[s], targets=target)

``compile=True`` runs the model through ``torch.compile`` with every batch padded to ``batch_size``
inputs, so that one fixed shape is compiled once (per model: the compiled model is shared by every
engine), and with the model's weights frozen into the compiled graph (inductor's ``freezing``:
constants folded, BatchNorms fused into their convolutions, convolution weights prepacked). A frozen
graph would go on computing with the old weights once they change, so :class:`FrozenForward` checks
them before every pass and runs the model itself once they have (the sanity check re-initialises
layers in place). Compiling takes about a minute per model and batch shape on a CPU; it pays off in
long runs only (``benchmarks/bench_compile.py``: eager, compiled, and compiled with frozen weights).
Engines made by :meth:`ForwardEngine.for_model` inside :func:`compiled_passes` compile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
from torch import Tensor

from suny.engine.precision import Precision, autocast, resolve_precision
from suny.ops import batched

BuildInputs = Callable[[slice], Tensor]


#: Maps a batch of inputs to logits.
Forward = Callable[[Tensor], Tensor]

_COMPILE: ContextVar[bool] = ContextVar("compile", default=False)
#: The attribute of a model that holds its :class:`FrozenForward` (on the model, not in a global
#: table: the compiled model refers to the model, so a table's entry would keep it alive forever,
#: while a reference cycle of the model's own is freed with it).
_FROZEN_FORWARD = "_suny_frozen_forward"


@contextmanager
def compiled_passes(enabled: bool = True) -> Iterator[None]:
    """Model engines made in the block compile their forward passes (see the module docstring)."""
    token = _COMPILE.set(enabled)
    try:
        yield
    finally:
        _COMPILE.reset(token)


def weights_state(model: torch.nn.Module) -> tuple[tuple[int, int, int], ...]:
    """Which tensors hold ``model``'s weights and buffers, where, and how often each was changed in
    place (identity, storage address, version counter): equal states mean unchanged weights."""
    tensors = [*model.parameters(), *model.buffers()]
    return tuple((id(tensor), tensor.data_ptr(), tensor._version) for tensor in tensors)


class FrozenForward:
    """``torch.compile(model)`` for fixed shapes with the weights the model has now frozen into the
    graph; once they change (in place, replaced or moved) the passes run the model itself."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.compiled = torch.compile(model, dynamic=False)
        self.frozen_state = weights_state(model)

    @property
    def current(self) -> bool:
        """Whether the model still has the weights the graph was (or will be) frozen with."""
        return weights_state(self.model) == self.frozen_state

    def __reduce__(self) -> tuple[Callable[[], None], tuple[()]]:
        """Pickled (``torch.save`` or ``copy.deepcopy`` of the model) as nothing: a copy compiles
        its own."""
        return _nothing, ()

    def __call__(self, inputs: Tensor) -> Tensor:
        if torch.is_grad_enabled():
            raise RuntimeError("frozen weights serve passes without gradients only")
        if not self.current:
            logits: Tensor = self.model(inputs)
            return logits
        from torch._inductor import config as inductor

        with inductor.patch(freezing=True):
            logits = self.compiled(inputs)
        return logits


def _nothing() -> None:
    return None


def compiled(model: torch.nn.Module) -> FrozenForward:
    """The :class:`FrozenForward` of ``model``, made once per model and freed with it."""
    frozen = model.__dict__.get(_FROZEN_FORWARD)
    if not isinstance(frozen, FrozenForward):
        frozen = model.__dict__[_FROZEN_FORWARD] = FrozenForward(model)
    return frozen


class ForwardEngine:
    """Batched, gradient-free forward passes of ``forward`` on ``device``.

    Args:
        forward: maps a batch of inputs to logits (the model, or the tail of a network).
        device: where the inputs are built and the passes run.
        batch_size: inputs per forward pass.
        precision: see :mod:`suny.engine.precision` (resolved once, here).
        compile: run ``forward`` (a model) through ``torch.compile`` on fixed-size batches, with its
            weights frozen (see the module docstring).
        progress: called with the number of inputs after every pass (a progress bar's ``update``).
    """

    def __init__(
        self,
        forward: Forward,
        device: torch.device,
        batch_size: int = 64,
        precision: Precision | str = "float32",
        compile: bool = False,
        progress: Callable[[int], object] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.device = device
        self.batch_size = batch_size
        self.precision = resolve_precision(precision, device)
        self.compiled = compile
        if compile and not isinstance(forward, torch.nn.Module):
            raise ValueError("only a model's forward passes compile")
        self.forward: Forward = (
            compiled(forward) if isinstance(forward, torch.nn.Module) and compile else forward
        )
        self.progress = progress
        self.passes = 0

    @classmethod
    def for_model(
        cls,
        model: torch.nn.Module,
        batch_size: int = 64,
        precision: Precision | str = "float32",
        compile: bool = False,
        progress: Callable[[int], object] | None = None,
    ) -> ForwardEngine:
        """An engine for ``model`` (an :class:`~suny.models.ImageClassifier`) on its own device; it
        compiles when asked to or inside :func:`compiled_passes`."""
        device = getattr(model, "device", None)
        if not isinstance(device, torch.device):
            device = next(iter([*model.parameters(), *model.buffers()])).device
        return cls(model, device, batch_size, precision, compile or _COMPILE.get(), progress)

    @torch.no_grad()
    def logits(self, inputs: Tensor) -> Tensor:
        """Logits (float32) of one batch of ``inputs``."""
        count = inputs.shape[0]
        if inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        if self.compiled and count < self.batch_size:
            padding = inputs[-1:].expand(self.batch_size - count, *inputs.shape[1:])
            inputs = torch.cat([inputs, padding])
        with autocast(self.device, self.precision):
            logits = self.forward(inputs)[:count].float()
        self.passes += count
        if self.progress is not None:
            self.progress(count)
        return logits

    def probabilities(
        self,
        count: int,
        build: BuildInputs,
        targets: Tensor | int | None = None,
        classes: Tensor | None = None,
    ) -> Tensor:
        """Softmax probabilities of the ``count`` inputs that ``build(slice)`` makes.

        Args:
            count: number of inputs.
            build: the inputs of any slice of ``range(count)``.
            targets: one class per input (``count``,) or one class for all: returns (count,).
            classes: the classes to keep for every input (C,): returns (count, C).

        Returns:
            float32 probabilities on the engine's device; every class (count, num_classes) when
            neither ``targets`` nor ``classes`` is given.
        """
        if targets is not None and classes is not None:
            raise ValueError("give targets or classes, not both")
        per_input = None
        if targets is not None:
            per_input = torch.as_tensor(targets, device=self.device).reshape(-1).expand(count)
        parts = []
        for chunk in batched(count, self.batch_size):
            probabilities = self.logits(build(chunk)).softmax(dim=1)
            if per_input is not None:
                parts.append(probabilities.gather(1, per_input[chunk, None])[:, 0])
            elif classes is not None:
                parts.append(probabilities[:, classes.to(self.device)])
            else:
                parts.append(probabilities)
        if parts:
            return torch.cat(parts)
        if per_input is not None:
            return torch.zeros(0, device=self.device)
        return torch.zeros(0, 0 if classes is None else len(classes), device=self.device)

    def predictions(self, count: int, build: BuildInputs) -> Tensor:
        """The argmax class (count,) of each input."""
        parts = [self.logits(build(chunk)).argmax(dim=1) for chunk in batched(count, self.batch_size)]
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long, device=self.device)
