"""Small steps shared among threads, on and off: what rnnkit's kernels gain from running a step
too small for the BLAS's own threads on every thread (``rnnkit.functional.kernels.set_step_split``).

    python benchmarks/step_split.py [--threads 2] [--quick]

At the speed table's long shape (T=1000, B=16, I=32, H=128) and its batch-1 shape (T=50, B=1,
I=64, H=256), forward + backward of the LSTM on rnnkit's kernel (plain, peepholes, zoneout, layer
norm) and the GRU, each with the sharing off (``"none"``: one thread per step), forced by rows and
(LSTM) by units, and automatic, beside ``torch.nn.LSTM`` / ``torch.nn.GRU``, interleaved in one
process (median of interleaved samples, see ``common.time_interleaved``). The table gives the
ratio to the torch.nn layer and the way ``"auto"`` took (``kernels.step_splits()``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from common import RESULTS, command_line, header, machine_info, publish, time_interleaved

import rnnkit as rk
from rnnkit.functional import kernels

SHAPES = [(1000, 16, 32, 128), (50, 1, 64, 256)]
MODES = ["none", "rows", "units", "auto"]
LAYERS = {"plain": {}, "peephole": {"peephole": True}, "zoneout=0.1": {"zoneout": 0.1},
          "layer_norm": {"layer_norm": True}}


def measure(T: int, B: int, I: int, H: int, threads: int, rounds: int, min_seconds: float) -> dict:
    torch.manual_seed(0)
    x = torch.randn(T, B, I)
    layers = {f"rk.LSTM {name}": rk.LSTM(I, H, impl="rnnkit", **kw) for name, kw in LAYERS.items()}
    layers["rk.GRU"] = rk.GRU(I, H, impl="rnnkit")
    references = {"torch.nn.LSTM": torch.nn.LSTM(I, H), "torch.nn.GRU": torch.nn.GRU(I, H)}

    def call(module: torch.nn.Module, mode: str | None) -> None:
        if mode is not None:
            kernels.set_step_split(mode, threads)
        module(x)[0].sum().backward()

    calls = {name: (lambda m=m: call(m, None)) for name, m in references.items()}
    for name, layer in layers.items():
        for mode in MODES:
            if mode == "units" and (name == "rk.GRU" or "layer_norm" in name):
                continue  # the GRU and the layer-normalized LSTM have no units way
            if mode == "rows" and B < threads:
                continue  # fewer rows than threads: no blocks to share
            calls[f"{name}|{mode}"] = lambda m=layer, mode=mode: call(m, mode)
    try:
        times = time_interleaved(calls, rounds, min_seconds)
        kernels.set_step_split("auto")
        for layer in layers.values():  # what auto takes at this shape
            layer(x)
        ways = {(c["kernel"], c["way"], c["parts"]) for c in kernels.step_splits()["chosen"]
                if (c["batch"], c["hidden"], c["threads"]) == (B, H, threads)}
    finally:
        kernels.set_step_split("auto")
    ratios = {}
    for key, seconds in times.items():
        name, _, mode = key.partition("|")
        if mode:
            reference = times["torch.nn.GRU" if name == "rk.GRU" else "torch.nn.LSTM"]
            ratios.setdefault(name, {})[mode] = seconds / reference
    return {"shape": f"{T},{B},{I},{H}", "ms": {k: v * 1e3 for k, v in times.items()}, "ratios": ratios,
            "auto": sorted(f"{k}: {w} {p}" for k, w, p in ways)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads, and the parts forced (default: 2)")
    parser.add_argument("--quick", action="store_true", help="short samples, for a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results folder (default: {RESULTS})")
    parser.add_argument("--name", default="step_split")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not kernels.available():
        sys.exit("rnnkit's kernels are not built here: nothing to compare")
    info = machine_info()
    shapes = [(20, 4, 8, 64), (10, 1, 8, 64)] if args.quick else SHAPES
    rows = [measure(*shape, args.threads, 2 if args.quick else 7, 0.01 if args.quick else 0.2) for shape in shapes]
    lines = ["# Small steps shared among threads, on and off", "", header(info), "", command_line("step_split.py"), "",
             ("Forward + backward on rnnkit's kernel, ratio to torch.nn.LSTM (the GRU: to torch.nn.GRU), median of "
              f"interleaved samples on {args.threads} threads. none: one thread per step (as before the sharing); "
              "rows: each thread runs the whole sequence for its block of the batch; units: the LSTM's hidden units "
              "sliced, one fork and join per step; auto: the kernels' rule. '-': the way does not apply.")]
    for r in rows:
        lines += ["", f"## T,B,I,H = {r['shape']} (auto took: {'; '.join(r['auto']) or 'nothing recorded'})", "",
                  "| layer | " + " | ".join(MODES) + " |", "|---|" + "---:|" * len(MODES)]
        for name, by_mode in r["ratios"].items():
            lines.append(f"| {name} | " + " | ".join(f"{by_mode[m]:.2f}x" if m in by_mode else "-" for m in MODES)
                         + " |")
    publish(args.name, lines, info, rows, args.out)


if __name__ == "__main__":
    main()
