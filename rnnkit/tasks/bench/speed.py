"""``rnnkit bench speed``: rnnkit's recurrent layers against torch.nn on this machine.

The check the speed targets are judged by, runnable anywhere rnnkit is installed: the LSTM
variants that torch.nn cannot run (recurrent dropout, zoneout, peepholes, layer norm) and the
GRU, each timed forward + backward against ``torch.nn.LSTM`` / ``torch.nn.GRU`` at the same
shape, interleaved in one process (:func:`~rnnkit.tasks.bench.machine.time_interleaved`), with
the machine (CPU model, vendor, vector extensions), the per-step GEMM route the kernels chose and how
they shared the small steps among threads.
``benchmarks/speed.py`` is the long form (every path, forward alone, memory, Keras, streaming).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

import rnnkit as rk
from rnnkit.files import write_text
from rnnkit.functional import kernels
from rnnkit.tasks.bench.machine import machine_info, time_interleaved

# (T, B, I, H, layers): two wide shapes, a long one, batch 1 (the speed issues' shapes)
SHAPES: list[tuple[int, int, int, int, int]] = [(100, 64, 128, 256, 1), (100, 64, 512, 512, 2),
                                                 (1000, 16, 32, 128, 1), (50, 1, 64, 256, 1)]
QUICK_SHAPES: list[tuple[int, int, int, int, int]] = [(12, 8, 16, 32, 1), (20, 1, 8, 16, 1)]
WIDE = 2  # the first two shapes are the wide ones
VARIANTS: dict[str, dict[str, Any]] = {"recurrent_dropout=0.25": {"recurrent_dropout": 0.25},
                                       "zoneout=0.1": {"zoneout": 0.1}, "peephole": {"peephole": True},
                                       "layer_norm": {"layer_norm": True}}


@dataclass
class Target:
    """One target: the worst ratio measured for it and its bound."""

    name: str
    worst: float
    bound: float

    @property
    def holds(self) -> bool:
        return self.worst <= self.bound


def candidates(I: int, H: int, layers: int) -> dict[str, dict[str, nn.Module]]:
    """Per group, the reference (first, torch.nn) and the rnnkit layers timed against it."""
    lstm = {"torch.nn.LSTM": nn.LSTM(I, H, layers), "rk.LSTM (auto)": rk.LSTM(I, H, layers)}
    lstm.update({f"rk.LSTM {name}": rk.LSTM(I, H, layers, **kwargs) for name, kwargs in VARIANTS.items()})
    return {"lstm": lstm, "gru": {"torch.nn.GRU": nn.GRU(I, H, layers), "rk.GRU (auto)": rk.GRU(I, H, layers)}}


def check_targets(rows: Sequence[dict[str, Any]]) -> list[Target]:
    """The targets, from rows of ``{"shape": "T,B,I,H,layers", "name", "ratio"}`` (the ratio to
    the group's torch.nn layer), judged at the :data:`SHAPES` (rows of other shapes are not):
    ``rk.LSTM (auto)`` at most 1.05x; each variant at most 1.15x on the two wide shapes and 1.5x
    on the long and batch-1 ones; layer norm at most 1.5x on every shape; ``rk.GRU (auto)`` at
    most 0.67x ``torch.nn.GRU`` (1.5x faster) on every shape. A target with no row is left out."""
    keys = [",".join(map(str, s)) for s in SHAPES]
    wide, other = keys[:WIDE], keys[WIDE:]

    def ratios(name: str, subset: Sequence[str]) -> list[float]:
        return [r["ratio"] for r in rows if r["name"] == name and r["shape"] in subset]

    plan: list[tuple[str, str, Sequence[str], float]] = [("rk.LSTM (auto), every shape", "rk.LSTM (auto)", keys, 1.05)]
    for variant in VARIANTS:
        if variant == "layer_norm":
            plan.append(("rk.LSTM layer_norm, every shape", "rk.LSTM layer_norm", keys, 1.5))
            continue
        plan.append((f"rk.LSTM {variant}, wide shapes", f"rk.LSTM {variant}", wide, 1.15))
        plan.append((f"rk.LSTM {variant}, long and batch-1 shapes", f"rk.LSTM {variant}", other, 1.5))
    plan.append(("rk.GRU (auto) / torch.nn.GRU, every shape (1.5x faster)", "rk.GRU (auto)", keys, 1 / 1.5))
    return [Target(label, max(found), bound) for label, name, subset, bound in plan if (found := ratios(name, subset))]


@dataclass
class SpeedCheck:
    """What :func:`speed_check` measured: the machine, the GEMM routes the kernels chose, one
    row per shape and candidate (median ms of forward + backward, ratio to torch.nn, the path
    ``impl='auto'`` took), the targets, and the seconds it all took."""

    machine: dict[str, Any]
    device: str
    shapes: list[str]
    rows: list[dict[str, Any]]
    gemm_routes: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    step_splits: dict[str, Any] = field(default_factory=dict)

    @property
    def targets(self) -> list[Target]:
        return check_targets(self.rows)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "targets": [{**asdict(t), "holds": t.holds} for t in self.targets]}

    def markdown(self) -> str:
        m = self.machine
        lines = ["# rnnkit bench speed", "",
                 (f"Machine: {m['cpu']} ({m['vendor']}; {m['isa']}), {m['cores']} cores, {m['torch_threads']} torch "
                  f"thread(s), torch {m['torch']}, device {self.device}; {m['date']}; {self.seconds:.0f} s."), "",
                 "Per-step GEMM of rnnkit's kernels: " + (", ".join(
                     f"B={c['batch']} {c['in']}->{c['out']}: {c['route']}" for c in self.gemm_routes.get("chosen", []))
                     or "none ran") + f" (forced: {self.gemm_routes.get('forced', 'n/a')}).", "",
                 "Steps too small for the BLAS's threads, shared among threads by rnnkit's kernels: " + (", ".join(
                     f"{c['kernel']} B={c['batch']} H={c['hidden']} on {c['threads']}: "
                     + (f"{c['way']} {c['parts']}" if c["way"] != "none" else "one thread")
                     for c in self.step_splits.get("chosen", [])) or "none ran")
                 + f" (forced: {self.step_splits.get('forced', 'n/a')}).", "",
                 "Forward + backward, median ms (ratio to the torch.nn layer of the group; the path `auto` took).", "",
                 "| candidate | " + " | ".join(self.shapes) + " |", "|---|" + "---:|" * len(self.shapes)]
        for name in dict.fromkeys(r["name"] for r in self.rows):
            cells = []
            for shape in self.shapes:
                row = next((r for r in self.rows if r["name"] == name and r["shape"] == shape), None)
                path = f", {row['path']}" if row and row.get("path") else ""
                cells.append("-" if row is None else f"{row['ms']:.1f} ({row['ratio']:.2f}x{path})")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        targets = self.targets
        if not targets:
            return "\n".join([*lines, "", "Targets: not judged (they are set at the four standard shapes)."])
        lines += ["", "| target | worst | bound | holds |", "|---|---:|---:|---|"]
        lines += [f"| {t.name} | {t.worst:.2f} | {t.bound:.2f} | {'yes' if t.holds else 'no'} |" for t in targets]
        return "\n".join(lines)


def _forward_backward(module: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def call() -> None:
        out = module(x)[0]
        out.sum().backward()
    return call


def speed_check(shapes: Sequence[tuple[int, int, int, int, int]] | None = None, *, threads: int | None = 2,
                rounds: int = 5, min_seconds: float = 0.05, device: str = "cpu", quick: bool = False,
                report: Callable[[str], None] | None = print) -> SpeedCheck:
    """Time rnnkit's layers against torch.nn, forward + backward, at ``shapes`` ``(T, B, I, H,
    layers)`` (default :data:`SHAPES`; ``quick``: two tiny shapes, 2 short rounds: a smoke run).
    ``threads``: torch's thread count while measuring (restored after; None: leave it).
    ``report``: called with one line per shape and group as they finish (None: silent)."""
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device: expected 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda': this torch sees no CUDA device")
    if threads is not None and threads < 1:
        raise ValueError(f"threads: expected a positive number, got {threads}")
    if rounds < 1 or min_seconds <= 0:
        raise ValueError(f"rounds / min_seconds: expected >= 1 and > 0, got {rounds}, {min_seconds}")
    chosen = list(QUICK_SHAPES if quick and shapes is None else shapes or SHAPES)
    for shape in chosen:
        if len(shape) != 5 or any(not isinstance(v, int) or v < 1 for v in shape):
            raise ValueError(f"shapes: expected (T, B, I, H, layers) of positive ints, got {shape!r}")
    rounds, min_seconds = (2, 0.005) if quick else (rounds, min_seconds)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    started, rows = time.perf_counter(), []
    try:
        info = machine_info()
        for T, B, I, H, layers in chosen:
            key = f"{T},{B},{I},{H},{layers}"
            torch.manual_seed(0)
            x = torch.randn(T, B, I, device=device)
            for group, modules in candidates(I, H, layers).items():
                modules = {n: m.to(device).train() for n, m in modules.items()}
                medians = time_interleaved({n: _forward_backward(m, x) for n, m in modules.items()}, rounds,
                                           min_seconds, sync)
                reference = medians[next(iter(medians))]
                for name, seconds in medians.items():
                    path = str(modules[name].forward_path(x.device)) if "(auto)" in name else None
                    rows.append({"group": group, "shape": key, "name": name, "ms": seconds * 1e3,
                                 "ratio": seconds / reference, "path": path})
                if report is not None:
                    report(f"{group} {key}: " + ", ".join(f"{n} {s / reference:.2f}x" for n, s in medians.items()))
        routes = kernels.gemm_routes() if kernels.available() else {"forced": "n/a (no kernels)", "chosen": []}
        splits = kernels.step_splits() if kernels.available() else {"forced": "n/a (no kernels)", "chosen": []}
    finally:
        torch.set_num_threads(previous)
    return SpeedCheck(info, device, [",".join(map(str, s)) for s in chosen], rows, routes,
                      time.perf_counter() - started, splits)


def write_check(check: SpeedCheck, path: str) -> None:
    """The check as JSON (``.json``) or its markdown table (any other name), written atomically."""
    write_text(path, json.dumps(check.to_json(), indent=1) + "\n" if path.endswith(".json") else check.markdown() + "\n")
