"""Does ``torch.compile`` make the readable loop faster? The variants that no fused kernel runs
(the reset-before GRU, the GRU with layer norm, the LSTM with a projection and peepholes), and two
that rnnkit's kernel runs (the peephole LSTM, the GRU) for scale: eager against compiled,
forward + backward, interleaved in one process, with the compile time of the first call.

    python benchmarks/compile_loop.py [--shape 50 32 64 128] [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
from common import header, machine_info, publish, time_interleaved

import rnnkit as rk

VARIANTS = {
    "GRU, reset before (loop)": lambda I, H: rk.GRU(I, H, reset_after=False),
    "GRU, layer norm (loop)": lambda I, H: rk.GRU(I, H, layer_norm=True),
    "LSTM, projection + peepholes (loop)": lambda I, H: rk.LSTM(I, H, proj_size=H // 2, peephole=True),
    "LSTM, peepholes (loop, forced)": lambda I, H: rk.LSTM(I, H, peephole=True, impl="loop"),
    "LSTM, peepholes (rnnkit's kernel)": lambda I, H: rk.LSTM(I, H, peephole=True),
    "GRU (rnnkit's kernel)": lambda I, H: rk.GRU(I, H),
}


def measure(name: str, shape: tuple[int, int, int, int], quick: bool) -> dict[str, Any]:
    T, B, I, H = shape
    torch.manual_seed(0)
    layer = VARIANTS[name](I, H)
    x = torch.randn(T, B, I, requires_grad=True)
    torch._dynamo.reset()
    compiled = torch.compile(layer)

    def step(module: torch.nn.Module) -> None:
        output, _ = module(x)
        output.sum().backward()

    started = time.perf_counter()
    step(compiled)
    compile_seconds = time.perf_counter() - started
    times = time_interleaved({"eager": lambda: step(layer), "compiled": lambda: step(compiled)},
                             rounds=3 if quick else 5, min_seconds=0.2 if quick else 1.0)
    row = {"variant": name, "path": str(layer.forward_path()), "eager_ms": times["eager"] * 1000,
           "compiled_ms": times["compiled"] * 1000, "speedup": times["eager"] / times["compiled"],
           "compile_seconds": round(compile_seconds, 1)}
    print(f"  {name}: eager {row['eager_ms']:.1f} ms, compiled {row['compiled_ms']:.1f} ms "
          f"({row['speedup']:.2f}x), compile {compile_seconds:.0f} s", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", type=int, nargs=4, default=[50, 32, 64, 128], metavar=("T", "B", "I", "H"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a small shape, few rounds: a smoke run")
    parser.add_argument("--name", default="compile_loop")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shape = (6, 2, 3, 4) if args.quick else tuple(args.shape)
    info = machine_info()
    started = time.perf_counter()
    rows = [measure(name, shape, args.quick) for name in VARIANTS]
    minutes = (time.perf_counter() - started) / 60
    lines = ["# torch.compile of the readable loop, forward + backward", "", header(info), "",
             (f"Command: `python benchmarks/compile_loop.py --shape {' '.join(map(str, shape))} --threads {args.threads}"
             f"{' --quick' if args.quick else ''}`. Total {minutes:.1f} min. Shape (T, B, I, H) = {shape}; medians of "
             "interleaved calls after the first (compiling) call."), "",
             "| variant | eager path | eager ms | compiled ms | speed-up | compile s |", "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {r['variant']} | {r['path']} | {r['eager_ms']:.1f} | {r['compiled_ms']:.1f} | {r['speedup']:.2f}x | "
              f"{r['compile_seconds']:.0f} |" for r in rows]
    publish(args.name, lines, info, rows, shape=list(shape))


if __name__ == "__main__":
    main()
