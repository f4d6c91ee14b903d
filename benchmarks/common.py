"""Helpers for the benchmark scripts: who measured, where and when, timing, and result tables.

The scripts in this folder import rnnkit (never the other way round) and this module, which
they find beside them when run as ``python benchmarks/<name>.py``.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy
import torch

from rnnkit.files import write_text


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "asimd", "sve")


def cpu_vendor_and_isa() -> tuple[str, str]:
    """The CPU's vendor (``GenuineIntel``, ``AuthenticAMD``, ...) and the vector extensions a GEMM
    route may use, from /proc/cpuinfo (``unknown`` elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.machine(), "unknown"
    fields = dict(line.split(":", 1) for line in text.splitlines()[:40] if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    return fields.get("vendor_id", platform.machine()), " ".join(f for f in ISA_FLAGS if f in flags) or "none listed"


def machine_info() -> dict[str, str | int]:
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


RESULTS = Path(__file__).resolve().parent / "results"


def write_results(name: str, markdown: str, payload: dict, folder: Path | None = None) -> tuple[Path, Path]:
    """Write ``<name>.md`` and ``<name>.json`` under ``benchmarks/results`` (atomically)."""
    folder = folder or RESULTS
    paths = (folder / f"{name}.md", folder / f"{name}.json")
    write_text(paths[0], markdown.rstrip("\n") + "\n")
    write_text(paths[1], json.dumps(payload, indent=1) + "\n")
    return paths


def command_line(script: str) -> str:
    """``Command: `python benchmarks/SCRIPT ARGS` `` as this run was started, for a table's header."""
    return "Command: `" + " ".join([f"python benchmarks/{script}", *sys.argv[1:]]) + "`"


def publish(name: str, lines: list[str], info: dict, rows: list, folder: Path | None = None, **extra: Any) -> None:
    """Write the table (``lines``) and its data (the machine, the rows, the arguments, ``extra``), and
    print both."""
    paths = write_results(name, "\n".join(lines), {"machine": info, **extra, "rows": rows, "argv": sys.argv[1:]},
                          folder)
    print("\n".join(lines))
    print(f"wrote {paths[0]} and {paths[1]}")


def add_quality_arguments(parser: Any, name: str, seeds: int = 3) -> None:
    """The options every quality benchmark shares: seeds, a smoke mode, threads, where to write."""
    parser.add_argument("--seeds", type=int, default=seeds, help=f"training seeds per case (default: {seeds})")
    parser.add_argument("--quick", action="store_true", help="a few training steps per run, for a smoke run")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results folder (default: {RESULTS})")
    parser.add_argument("--name", default=name, help=f"file name stem (default: {name})")


def run_cases(cases: list[str], run_case: Callable[[str], Any], threads: int) -> tuple[list[Any], dict, float]:
    """Fix torch's threads, note the machine, run ``run_case`` on each case with a progress line.

    Returns the results, the machine info and the seconds the whole run took.
    """
    torch.set_num_threads(threads)
    info = machine_info()
    started = time.perf_counter()
    results = []
    for case in cases:
        print(f"{case} ...", flush=True)
        results.append(run_case(case))
    return results, info, time.perf_counter() - started


def header(info: dict) -> str:
    return "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items())


def matmul_rate(seconds: float = 1.0, size: int = 1024) -> float:
    """This machine's float32 matrix-multiply rate (FLOP/s) on ``size``-square products."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return count * 2 * size**3 / (time.perf_counter() - start)


def time_interleaved(calls: dict[str, Callable[[], Any]], rounds: int, min_seconds: float,
                     sync: Callable[[], None] = lambda: None) -> dict[str, float]:
    """Median seconds per call of each candidate: warmed up, interleaved, the order rotated each round.

    Each sample repeats a call until it lasts ``min_seconds``; a call slower than 0.5 s gets one
    warm-up call instead of two. ``sync`` (e.g. ``torch.cuda.synchronize``) ends every sample.
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


def peak_memory(fn: Callable[[], Any]) -> int:
    """Peak bytes of live tensors allocated during ``fn()`` on CPU (above what was live before),
    from ``torch.profiler``'s allocation events."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted(
        (e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"
    )
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak
