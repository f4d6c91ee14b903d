"""Who measured, where and when, and the timer every speed figure of rnnkit comes from.

The CPU's model, vendor and vector extensions are part of a speed figure: the same kernel
gave different ratios on an Intel and an AMD CPU, so a table names the machine it ran on.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy
import torch

# The vector extensions a GEMM route may use (x86, then Arm), as /proc/cpuinfo spells them.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "asimd", "sve")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; the platform's word for it elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_vendor_and_isa() -> tuple[str, str]:
    """The CPU's vendor (``GenuineIntel``, ``AuthenticAMD``, ...) and the vector extensions of
    :data:`ISA_FLAGS` it has, from /proc/cpuinfo (``unknown`` elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.machine(), "unknown"
    fields = dict(line.split(":", 1) for line in text.splitlines()[:40] if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    return fields.get("vendor_id", platform.machine()), " ".join(f for f in ISA_FLAGS if f in flags) or "none listed"


def machine_info() -> dict[str, str | int]:
    """Date, CPU (model, vendor, extensions), cores, torch threads, versions, and the GPU if any."""
    vendor, isa = cpu_vendor_and_isa()
    info: dict[str, str | int] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "vendor": vendor,
        "isa": isa,
        "cores": os.cpu_count() or 0,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda or ""
        info["cudnn"] = str(torch.backends.cudnn.version())
    return info


def time_interleaved(calls: dict[str, Callable[[], Any]], rounds: int, min_seconds: float,
                     sync: Callable[[], None] = lambda: None) -> dict[str, float]:
    """Median seconds per call of each candidate: warmed up, interleaved, the order rotated each round.

    Each sample repeats a call until it lasts ``min_seconds``; a call slower than 0.5 s gets one
    warm-up call instead of two. ``sync`` (e.g. ``torch.cuda.synchronize``) ends every sample.
    Interleaving keeps the ratios between candidates honest on a machine whose speed drifts.
    """
    names = list(calls)
    repeats = {}
    for name in names:
        start = time.perf_counter()
        calls[name]()
        sync()
        first = time.perf_counter() - start
        if first < 0.5:
            calls[name]()
            sync()
        start = time.perf_counter()
        calls[name]()
        sync()
        repeats[name] = max(1, int(min_seconds / max(time.perf_counter() - start, 1e-6)))
    samples: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            start = time.perf_counter()
            for _ in range(repeats[name]):
                calls[name]()
            sync()
            samples[name].append((time.perf_counter() - start) / repeats[name])
    return {n: statistics.median(v) for n, v in samples.items()}
