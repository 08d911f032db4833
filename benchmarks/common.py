"""Helpers shared by the benchmarks: timing on any device and a one-line description of the device,
with the CPU's model and capability (every figure is printed with it: these machines differ)."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

from suny.engine.precision import cpu_has_native_bfloat16


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (the platform's processor string elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_capability() -> str:
    """What the CPU offers torch: its vector capability, AMX, AVX512-BF16, native bfloat16."""
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    extras = [name for name in ("amx_bf16", "amx_tile", "avx512_bf16") if name in flags]
    native = "native bf16" if cpu_has_native_bfloat16() else "no native bf16"
    return f"{torch.backends.cpu.get_cpu_capability()}, {' '.join(extras) or 'no AMX/AVX512-BF16'}, {native}"


def describe_device(device: torch.device) -> str:
    """One line: the GPU, or the CPU with its capability and threads, and torch's version."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}, torch {torch.__version__})"
    threads = torch.get_num_threads()
    return (
        f"CPU {cpu_model()} [{cpu_capability()}], {threads} thread{'s' * (threads != 1)} "
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
