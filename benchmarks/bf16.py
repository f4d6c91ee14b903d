"""bfloat16 on CPU: what the recurrent product and whole recurrent layers gain from it on this
machine, rnnkit's kernels with bfloat16 products beside oneDNN's bfloat16 LSTM.

    python benchmarks/bf16.py [--threads 2] [--quick]

1. The per-step recurrent product (B, H) x (H, 4H) alone: float32 ``at::mm``; bf16 ``at::mm``;
   bf16 through oneDNN with the weight reordered once (``mkldnn._linear_pointwise``), the two
   routes rnnkit's kernel measures for its bfloat16 products. GFLOP/s beside each median.
2. Whole layers, forward + backward at the speed benchmark's shapes: ``torch.nn.LSTM`` in
   float32 and under ``torch.autocast("cpu", torch.bfloat16)`` (oneDNN's bf16 LSTM), and
   ``rk.LSTM(peephole=True)`` and ``rk.LSTM(layer_norm=True)`` in float32 and under the same
   autocast, where rnnkit's kernel runs its products in bfloat16 and its gates and state in
   float32 (the path each took is printed), with the largest difference of each bf16 output
   from its float32 one.

Median of interleaved samples (``rnnkit.tasks.bench.time_interleaved``); the machine header
names the CPU's extensions (``avx512_bf16``, ``amx_bf16``: what makes bf16 fast or not).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from common import RESULTS, command_line, header, machine_info, publish, time_interleaved

import rnnkit as rk

PRODUCT_SHAPES = [(64, 256), (64, 512), (16, 128), (256, 512)]
LAYER_SHAPES = [(100, 64, 128, 256), (100, 64, 512, 512), (1000, 16, 32, 128)]
QUICK = ([(8, 32)], [(10, 4, 8, 16)])


def products(B: int, H: int, rounds: int, min_seconds: float) -> dict:
    torch.manual_seed(0)
    w = torch.randn(4 * H, H) / H**0.5
    h = torch.randn(B, H)
    w16, h16 = w.bfloat16(), h.bfloat16()
    packed = torch.ops.mkldnn._reorder_linear_weight(w16, B)
    linear = torch.ops.mkldnn._linear_pointwise
    calls = {"float32 at::mm": lambda: torch.mm(h, w.t()), "bf16 at::mm": lambda: torch.mm(h16, w16.t()),
             "bf16 oneDNN (reordered)": lambda: linear(h16, packed, None, "none", [], "")}
    with torch.no_grad():
        times = time_interleaved(calls, rounds, min_seconds)
    flops = 2 * B * H * 4 * H
    return {"B": B, "H": H, "us": {k: v * 1e6 for k, v in times.items()},
            "gflops": {k: flops / v / 1e9 for k, v in times.items()}}


def layers(T: int, B: int, I: int, H: int, rounds: int, min_seconds: float) -> dict:
    torch.manual_seed(0)
    x = torch.randn(T, B, I)
    modules = {"torch.nn.LSTM": torch.nn.LSTM(I, H), "rk.LSTM peephole": rk.LSTM(I, H, peephole=True),
               "rk.LSTM layer_norm": rk.LSTM(I, H, layer_norm=True)}
    calls, outputs, paths = {}, {}, {}
    for name, module in modules.items():
        for precision in ("float32", "bf16 autocast"):
            def call(m=module, bf16=precision != "float32"):
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    out = m(x)[0]
                out.float().sum().backward()
                return out
            calls[f"{name}, {precision}"] = call
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision != "float32"):
                outputs[f"{name}, {precision}"] = module(x)[0].detach().float()
                if hasattr(module, "forward_path"):
                    paths[f"{name}, {precision}"] = str(module.forward_path(x.device, x.dtype if precision == "float32"
                                                                            else torch.bfloat16))
    times = time_interleaved(calls, rounds, min_seconds)
    diff = {name: float((outputs[f"{name}, bf16 autocast"] - outputs[f"{name}, float32"]).abs().max())
            for name in modules}
    # the readable loop under the same autocast: how far rounding alone moves each rk layer's output
    loop_diff = {}
    for name, module in modules.items():
        if hasattr(module, "impl"):
            module.impl = "loop"
            with torch.autocast("cpu", dtype=torch.bfloat16), torch.no_grad():
                loop_out = module(x)[0].float()
            module.impl = "auto"
            loop_diff[name] = float((loop_out - outputs[f"{name}, float32"]).abs().max())
    return {"shape": f"{T},{B},{I},{H}", "ms": {k: v * 1e3 for k, v in times.items()}, "paths": paths,
            "bf16_max_diff": diff, "bf16_loop_max_diff": loop_diff}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    parser.add_argument("--quick", action="store_true", help="tiny shapes, short samples: a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results folder (default: {RESULTS})")
    parser.add_argument("--name", default="bf16")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    info = machine_info()
    rounds, seconds = (2, 0.01) if args.quick else (5, 0.2)
    product_shapes, layer_shapes = QUICK if args.quick else (PRODUCT_SHAPES, LAYER_SHAPES)
    product_rows = [products(B, H, rounds, seconds) for B, H in product_shapes]
    layer_rows = [layers(*shape, rounds, seconds) for shape in layer_shapes]
    names = list(product_rows[0]["us"])
    lines = ["# bfloat16 on CPU: the recurrent product and whole LSTM layers", "", header(info), "",
             command_line("bf16.py"), "", "## The per-step product (B, H) x (H, 4H)", "",
             "Median microseconds per call (GFLOP/s).", "",
             "| B, H | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    lines += [f"| {r['B']}, {r['H']} | " + " | ".join(f"{r['us'][n]:.1f} ({r['gflops'][n]:.0f})" for n in names) + " |"
              for r in product_rows]
    columns = list(layer_rows[0]["ms"])
    lines += ["", "## Whole layers, forward + backward", "",
              ("Median ms (ratio to torch.nn.LSTM in float32); the paths the rk.LSTMs took; the largest "
               "|bf16 - float32| of each layer's output (nn / rk peephole / rk layer_norm), and the same for the "
               "rk layers' readable loop under the same autocast: what bf16 rounding alone does to them, untrained "
               "(a layer-normalized LSTM at its initial weights amplifies it)."), "",
              "| T,B,I,H | " + " | ".join(columns) + " | rk.LSTM paths (float32 / bf16) | max diff nn / rk / rk LN "
              "| loop's max diff rk / rk LN |",
              "|---|" + "---:|" * len(columns) + "---|---|---|"]
    for r in layer_rows:
        base = r["ms"]["torch.nn.LSTM, float32"]
        cells = [f"{r['ms'][c]:.1f} ({r['ms'][c] / base:.2f}x)" for c in columns]
        paths = ", ".join(" / ".join(r["paths"].get(f"{m}, {p}", "-") for p in ("float32", "bf16 autocast"))
                          for m in ("rk.LSTM peephole", "rk.LSTM layer_norm"))
        diffs = " / ".join(f"{v:.3f}" for v in r["bf16_max_diff"].values())
        loop = " / ".join(f"{v:.3f}" for v in r["bf16_loop_max_diff"].values())
        lines.append(f"| {r['shape']} | " + " | ".join(cells) + f" | {paths} | {diffs} | {loop} |")
    publish(args.name, lines, info, {"products": product_rows, "layers": layer_rows}, args.out)


if __name__ == "__main__":
    main()
