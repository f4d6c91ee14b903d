"""Helpers for the benchmark scripts: who measured, where and when, timing, and result tables.

The scripts in this folder import rnnkit (never the other way round) and this module, which
they find beside them when run as ``python benchmarks/<name>.py``.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from rnnkit.files import write_text
from rnnkit.tasks.bench.machine import cpu_model, cpu_vendor_and_isa, machine_info, time_interleaved

__all__ = ["RESULTS", "add_quality_arguments", "command_line", "cpu_model", "cpu_vendor_and_isa", "header",
           "machine_info", "matmul_rate", "peak_memory", "publish", "run_cases", "time_interleaved", "write_results"]


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
    return "Command: `" + shlex.join(["python", f"benchmarks/{script}", *sys.argv[1:]]) + "`"


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


IGNORED_SETTINGS = (("run_dir",), ("train", "progress"))  # where a run is and whether it drew a progress bar


def same_settings(held: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """``held`` (a run's recorded config, as ``to_dict``) trains as ``wanted`` does: equal but for
    :data:`IGNORED_SETTINGS`, and where ``wanted`` says "auto", any value (the run records what
    "auto" chose, e.g. the n-gram blocking)."""
    def compare(a: dict[str, Any], b: dict[str, Any], path: tuple[str, ...]) -> bool:
        keys = {k for k in a.keys() | b.keys() if (*path, k) not in IGNORED_SETTINGS}
        for key in keys:
            if key not in a or key not in b:
                return False
            if isinstance(a[key], dict) and isinstance(b[key], dict):
                if not compare(a[key], b[key], (*path, key)):
                    return False
            elif b[key] != "auto" and a[key] != b[key]:
                return False
        return True

    return compare(held, wanted, ())


def finished_run(run_dir: Path, config: Any, what: str, reported: bool = False) -> bool:
    """Whether ``run_dir`` holds a finished run of ``config`` from an earlier invocation, to reuse
    (with ``reported``: one whose report has been made); a run of another config there stops the
    benchmark (``what`` names the case) rather than being overwritten."""
    from rnnkit.config import to_dict
    from rnnkit.tasks.core import run

    summary = run_dir / "summary.json"
    if not summary.exists() or (reported and "report" not in json.loads(summary.read_text())):
        return False
    if not same_settings(to_dict(run.load_run_config(run_dir)), to_dict(config)):
        raise SystemExit(f"{run_dir} holds a run of another config than {what}: move it away, or give another --out")
    return True

