"""Numeric precision of the batched forward passes: float32, or bfloat16/float16 autocast.

``"auto"`` takes bfloat16 where the hardware computes it natively (CUDA, and CPUs with AMX or
AVX512-BF16, as ``torch.ops.mkldnn._is_mkldnn_bf16_supported()`` reports) and float32 elsewhere.
bfloat16 asked for on a CPU without native support runs in float32 after one warning line: emulated
bfloat16 would be many times slower than float32.
"""

from __future__ import annotations

import warnings
from contextlib import AbstractContextManager, nullcontext
from functools import cache
from typing import Literal

import torch

from suny.errors import OptionError

Precision = Literal["auto", "float32", "bfloat16", "float16"]
PRECISIONS: tuple[Precision, ...] = ("auto", "float32", "bfloat16", "float16")


@cache
def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AMX or AVX512-BF16), as oneDNN reports it."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def has_native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively (every CUDA device torch supports does)."""
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bfloat16())


@cache
def _warn_emulated(precision: str, device_type: str) -> None:
    warnings.warn(
        f"{precision} is not native on this {device_type.upper()} (no AMX or AVX512-BF16): "
        "running in float32",
        RuntimeWarning,
        stacklevel=3,
    )


def resolve_precision(
    precision: Precision | str, device: torch.device
) -> Literal["float32", "bfloat16", "float16"]:
    """The precision that runs on ``device``: ``auto`` as the module says; a reduced precision the
    device does not compute natively falls back to float32 with one warning."""
    if precision not in PRECISIONS:
        raise OptionError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bfloat16" if has_native_bfloat16(device) else "float32"
    if precision == "bfloat16" and not has_native_bfloat16(device):
        _warn_emulated(precision, device.type)
        return "float32"
    if precision == "float16" and device.type != "cuda":
        _warn_emulated(precision, device.type)
        return "float32"
    return precision


def autocast(device: torch.device, precision: Precision | str) -> AbstractContextManager[object]:
    """Autocast for ``precision`` on ``device`` (resolved first); a no-op for float32."""
    resolved = resolve_precision(precision, device)
    if resolved == "float32":
        return nullcontext()
    dtype = torch.bfloat16 if resolved == "bfloat16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)
