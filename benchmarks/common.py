"""Helpers shared by the benchmarks: timing on any device and a one-line device description."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable

import torch


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}, torch {torch.__version__})"
    return (
        f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads "
        f"(torch {torch.__version__})"
    )


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
