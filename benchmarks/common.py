"""Helpers shared by the benchmarks: timing on any device. Every figure is printed with
:func:`suny.engine.hardware.describe_device` (the CPU's model and capability: these machines differ)."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(function: Callable[[], object], device: torch.device, repeats: int = 1) -> float:
    """Best wall time in seconds of ``repeats`` calls (after synchronising the device)."""
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        function()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best
