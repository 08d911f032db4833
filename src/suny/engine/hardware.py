"""A one-line description of the device a figure was measured on: the GPU, or the CPU's model and
what it offers torch (vector capability, AMX, AVX512-BF16, native bfloat16) with the thread count.
These machines differ several-fold in speed, so every timing the project prints or stores says
where it was taken."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

from suny.engine.precision import cpu_has_native_bfloat16

#: The CPU flags that decide bfloat16 speed, in the order they are listed.
BFLOAT16_FLAGS = ("amx_bf16", "amx_tile", "avx512_bf16")


def _cpuinfo_field(name: str) -> str | None:
    """The value of the first ``name`` line of /proc/cpuinfo (None off Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (the platform's processor string elsewhere)."""
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def cpu_capability() -> str:
    """What the CPU offers torch: its vector capability, AMX, AVX512-BF16, native bfloat16."""
    flags = set((_cpuinfo_field("flags") or "").split())
    extras = [name for name in BFLOAT16_FLAGS if name in flags]
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
