"""The forward engine: every batch of interventions (masked images, pruned tails, curve points)
runs through it, in one precision and memory layout."""

from suny.engine.forward import ForwardEngine, compiled_passes
from suny.engine.precision import PRECISIONS, Precision, autocast, has_native_bfloat16, resolve_precision

__all__ = [
    "PRECISIONS",
    "ForwardEngine",
    "Precision",
    "autocast",
    "compiled_passes",
    "has_native_bfloat16",
    "resolve_precision",
]
