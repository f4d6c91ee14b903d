"""The per-step recurrent product alone, by every route rnnkit's kernel can take, beside a oneDNN
LSTM step at the same shape: what decides how fast the fused kernels run on a given CPU.

    python benchmarks/step_gemm.py [--threads 2] [--quick]

At each (B, H) and for the LSTM's (B, H) x (H, 4H) product (forward) and its transpose (backward):

- ``at::mm`` (``torch.mm``): the BLAS torch was built with (MKL in the x86 wheels);
- ``onednn``: ``torch.ops.mkldnn._linear_pointwise`` with the weight reordered once
  (``_reorder_linear_weight``), plus the copy into the kernel's buffer that the kernel pays;
- ``onednn, not reordered``: the same with the dense weight;
- what rnnkit's kernel chose for the shape (``rnnkit.functional.kernels.gemm_routes()``);
- a whole oneDNN LSTM step (``torch.nn.LSTM`` over 50 steps, divided by 50: its input product and
  gate math included): the time a kernel step competes with.

Median microseconds of interleaved samples (see ``common.time_interleaved``), and GFLOP/s.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from common import RESULTS, command_line, header, machine_info, publish, time_interleaved

import rnnkit as rk
from rnnkit.functional import kernels

SHAPES = [(64, 256), (64, 512), (16, 128), (1, 256), (64, 128), (256, 256)]
STEPS = 50  # the LSTM runs this many steps (its input product and gates included); the table divides


def measure(B: int, H: int, rounds: int, min_seconds: float) -> dict:
    torch.manual_seed(0)
    w = torch.randn(4 * H, H) / H**0.5  # W_hh (4H, H)
    h, d = torch.randn(B, H), torch.randn(B, 4 * H)
    out_f, out_b = torch.empty(B, 4 * H), torch.empty(B, H)
    w_t, w_back = w.t(), w.t().contiguous()  # forward: h @ W^T; backward: d @ W = linear(d, W^T)
    packed_f = torch.ops.mkldnn._reorder_linear_weight(w, B)
    packed_b = torch.ops.mkldnn._reorder_linear_weight(w_back, B)
    linear = torch.ops.mkldnn._linear_pointwise
    lstm = torch.nn.LSTM(H, H).eval()
    x = torch.randn(STEPS, B, H)
    calls = {
        "forward, at::mm": lambda: torch.mm(h, w_t, out=out_f),
        "forward, onednn": lambda: out_f.copy_(linear(h, packed_f, None, "none", [], "")),
        "forward, onednn not reordered": lambda: out_f.copy_(linear(h, w, None, "none", [], "")),
        "backward, at::mm": lambda: torch.mm(d, w, out=out_b),
        "backward, onednn": lambda: out_b.copy_(linear(d, packed_b, None, "none", [], "")),
        "oneDNN LSTM, per step": lambda: lstm(x),
    }
    with torch.no_grad():
        times = time_interleaved(calls, rounds, min_seconds)
    times["oneDNN LSTM, per step"] /= STEPS
    flops = 2 * B * H * 4 * H
    row = {"B": B, "H": H, "us": {k: v * 1e6 for k, v in times.items()},
           "gflops": {k: flops / v / 1e9 for k, v in times.items() if "LSTM" not in k}}
    layer = rk.LSTM(H, H, peephole=True)  # runs rnnkit's kernel, which measures its route for the shape
    with torch.no_grad():
        layer(torch.randn(3, B, H))
    row["kernel_route"] = [c for c in kernels.gemm_routes()["chosen"] if (c["batch"], c["in"], c["out"]) == (B, H, 4 * H)]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    parser.add_argument("--quick", action="store_true", help="short samples, for a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results folder (default: {RESULTS})")
    parser.add_argument("--name", default="step_gemm")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not kernels.available():
        sys.exit("rnnkit's kernels are not built here: nothing to compare")
    info = machine_info()
    rows = [measure(B, H, 2 if args.quick else 7, 0.01 if args.quick else 0.2) for B, H in SHAPES]
    names = list(rows[0]["us"])
    lines = ["# The per-step recurrent product: BLAS (at::mm) against oneDNN", "", header(info), "",
             command_line("step_gemm.py"), "",
             ("Median microseconds per call (GFLOP/s in brackets); the LSTM's recurrent product (B, H) x (H, 4H) "
              "forward and its transpose backward; the kernel's choice is what `gemm_routes()` measured for the "
              "forward product (the kernel keeps torch's thread handling: one thread below ~4 MFLOP a step)."), "",
             "| B, H | " + " | ".join(names) + " | kernel chose |", "|---|" + "---:|" * len(names) + "---|"]
    for r in rows:
        cells = [f"{r['us'][n]:.1f}" + (f" ({r['gflops'][n]:.0f})" if n in r["gflops"] else "") for n in names]
        chose = "; ".join(f"{c['route']} on {c['threads']} thread(s)" for c in r["kernel_route"]) or "-"
        lines.append(f"| {r['B']}, {r['H']} | " + " | ".join(cells) + f" | {chose} |")
    publish(args.name, lines, info, rows, args.out)


if __name__ == "__main__":
    main()
