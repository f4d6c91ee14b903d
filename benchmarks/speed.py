"""Speed of rnnkit's paths beside torch.nn and the loops users write, one process, interleaved.

For each shape (T, B, I, H, layers) and each candidate: median forward and forward+backward
time over several samples (each at least ~50 ms of repeated calls), after warm-up, with the
candidates interleaved and their order rotated every round; GFLOP/s from the analytic count
(LSTM layer forward T*B*2*(I+H)*4H, GRU 3H, Elman 1H; forward+backward ~3x) and as a percent
of this machine's matrix-multiply rate measured in the same run; the ratio to torch.nn.
Also: minGRU's parallel scan against the sequential GRU at long T, and one streaming step.

    python benchmarks/speed.py [--quick] [--threads 2] [--out benchmarks/results]

Not measured here yet: Keras 3 (needs its own virtualenv), peak memory, and GPU rows.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

import rnnkit as rk
from rnnkit.benchmarking import header, machine_info, write_results

SHAPES = [(100, 64, 128, 256, 1), (100, 64, 512, 512, 2), (1000, 16, 32, 128, 1), (50, 1, 64, 256, 1)]
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def flops(kind: str, T: int, B: int, I: int, H: int, layers: int) -> float:
    total, width = 0.0, I
    for _ in range(layers):
        total += T * B * 2 * (width + H) * GATES[kind] * H
        width = H
    return total


def matmul_rate(seconds: float = 1.0) -> float:
    """This machine's float32 matrix-multiply rate (FLOP/s) on 1024-square products."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return count * 2 * 1024**3 / (time.perf_counter() - start)


class NaiveLSTM(nn.Module):
    """What a user writes first: the equations in a Python loop, one matmul per gate input."""

    def __init__(self, I: int, H: int) -> None:
        super().__init__()
        self.w = nn.Linear(I, 4 * H)
        self.u = nn.Linear(H, 4 * H, bias=False)
        self.H = H

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = c = x.new_zeros(x.shape[1], self.H)
        outputs = []
        for t in range(x.shape[0]):
            i, f, g, o = (self.w(x[t]) + self.u(h)).chunk(4, -1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs)


class CellLoop(nn.Module):
    """torch.nn.LSTMCell / GRUCell stacked and run in a Python loop."""

    def __init__(self, cell: type, I: int, H: int, layers: int) -> None:
        super().__init__()
        self.cells = nn.ModuleList(cell(I if k == 0 else H, H) for k in range(layers))
        self.lstm = cell is nn.LSTMCell

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for cell in self.cells:
            state, outputs = None, []
            for x_t in x.unbind(0):
                state = cell(x_t, state)
                outputs.append(state[0] if self.lstm else state)
            x = torch.stack(outputs)
        return x


def candidates(kind: str, I: int, H: int, layers: int) -> dict[str, nn.Module]:
    if kind == "lstm":
        return {
            "torch.nn.LSTM": nn.LSTM(I, H, layers),
            "rk.LSTM (fused)": rk.LSTM(I, H, layers),
            "rk.LSTM (loop)": rk.LSTM(I, H, layers, impl="loop"),
            "rk.LSTM weight_drop=0.5": rk.LSTM(I, H, layers, weight_drop=0.5),
            "rk.LSTM recurrent_dropout=0.25": rk.LSTM(I, H, layers, recurrent_dropout=0.25),
            "rk.LSTM zoneout=0.1": rk.LSTM(I, H, layers, zoneout=0.1),
            "rk.LSTM peephole": rk.LSTM(I, H, layers, peephole=True),
            "rk.LSTM layer_norm": rk.LSTM(I, H, layers, layer_norm=True),
            "torch.nn.LSTMCell loop": CellLoop(nn.LSTMCell, I, H, layers),
            "naive loop (autograd)": NaiveLSTM(I, H) if layers == 1 else None,
        }
    if kind == "gru":
        return {
            "torch.nn.GRU": nn.GRU(I, H, layers),
            "rk.GRU (fused)": rk.GRU(I, H, layers),
            "rk.GRU (loop)": rk.GRU(I, H, layers, impl="loop"),
            "rk.GRU reset_after=False": rk.GRU(I, H, layers, reset_after=False),
            "torch.nn.GRUCell loop": CellLoop(nn.GRUCell, I, H, layers),
        }
    return {
        "torch.nn.RNN": nn.RNN(I, H, layers),
        "rk.RNN (fused)": rk.RNN(I, H, layers),
        "rk.RNN (loop)": rk.RNN(I, H, layers, impl="loop"),
    }


def run(module: nn.Module, x: torch.Tensor, backward: bool) -> None:
    out = module(x)
    out = out[0] if isinstance(out, tuple) else out
    if backward:
        out.sum().backward()


def time_interleaved(calls: dict[str, Callable[[], None]], rounds: int, min_seconds: float) -> dict[str, float]:
    """Median seconds per call of each candidate, interleaved and rotated each round."""
    names = list(calls)
    for name in names:  # warm up, and learn how many calls make one sample
        calls[name]()
        calls[name]()
    repeats = {}
    for name in names:
        start = time.perf_counter()
        calls[name]()
        repeats[name] = max(1, int(min_seconds / max(time.perf_counter() - start, 1e-6)))
    samples: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            start = time.perf_counter()
            for _ in range(repeats[name]):
                calls[name]()
            samples[name].append((time.perf_counter() - start) / repeats[name])
    return {n: statistics.median(v) for n, v in samples.items()}


def measure_shapes(shapes: list, rounds: int, min_seconds: float, peak: float) -> list[dict]:
    rows = []
    for kind in ("lstm", "gru", "rnn"):
        for T, B, I, H, layers in shapes:
            torch.manual_seed(0)
            modules = {n: m for n, m in candidates(kind, I, H, layers).items() if m is not None}
            x = torch.randn(T, B, I)
            for mode, backward in (("forward", False), ("forward+backward", True)):
                for m in modules.values():
                    m.train(backward)
                context = torch.enable_grad if backward else torch.no_grad

                def call(m: nn.Module = None) -> None:
                    with context():
                        run(m, x, backward)

                calls = {n: (lambda m=m: call(m)) for n, m in modules.items()}
                medians = time_interleaved(calls, rounds, min_seconds)
                work = flops(kind, T, B, I, H, layers) * (3 if backward else 1)
                reference = medians[next(iter(medians))]
                for name, seconds in medians.items():
                    rows.append({
                        "kind": kind, "shape": f"{T},{B},{I},{H},{layers}", "mode": mode, "impl": name,
                        "ms": seconds * 1e3, "gflops": work / seconds / 1e9, "peak_pct": 100 * work / seconds / peak,
                        "vs_torch": seconds / reference,
                    })
                print(f"{kind} {T},{B},{I},{H},{layers} {mode}: " + ", ".join(
                    f"{n} {s * 1e3:.1f}ms" for n, s in medians.items()), flush=True)
    return rows


def measure_parallel(lengths: list[int], rounds: int, min_seconds: float) -> list[dict]:
    rows = []
    B, I, H = 16, 32, 128
    for T in lengths:
        torch.manual_seed(0)
        modules = {"torch.nn.GRU": nn.GRU(I, H), "rk.MinGRU (scan)": rk.MinGRU(I, H), "rk.MinLSTM (scan)": rk.MinLSTM(I, H)}
        x = torch.randn(T, B, I)
        calls = {n: (lambda m=m: run(m, x, True)) for n, m in modules.items()}
        medians = time_interleaved(calls, rounds, min_seconds)
        for name, seconds in medians.items():
            rows.append({"T": T, "impl": name, "ms": seconds * 1e3, "vs_gru": seconds / medians["torch.nn.GRU"]})
        print(f"parallel T={T}: " + ", ".join(f"{n} {s * 1e3:.1f}ms" for n, s in medians.items()), flush=True)
    return rows


def measure_streaming(rounds: int, min_seconds: float) -> list[dict]:
    torch.manual_seed(0)
    I, H = 256, 256
    cell, layer = nn.LSTMCell(I, H).eval(), rk.LSTM(I, H).eval()
    x = torch.randn(1, I)
    state_cell = (torch.zeros(1, H), torch.zeros(1, H))
    state_layer = layer.initial_state(1)
    with torch.no_grad():
        medians = time_interleaved({"torch.nn.LSTMCell": lambda: cell(x, state_cell),
                                    "rk.LSTM.step": lambda: layer.step(x, state_layer)}, rounds, min_seconds)
    return [{"impl": n, "us": s * 1e6, "vs_cell": s / medians["torch.nn.LSTMCell"]} for n, s in medians.items()]


def markdown(rows: list[dict], parallel: list[dict], streaming: list[dict], info: dict, peak: float, seconds: float) -> str:
    lines = ["# Speed: rnnkit beside torch.nn and hand-written loops (CPU)", "",
             header(info) + f"; matmul rate {peak / 1e9:.0f} GFLOP/s (measured in this run); whole run {seconds / 60:.1f} min",
             "", "Median ms per call (float32). `vs torch` is the ratio to the first row of each group (torch.nn).", ""]
    shapes = sorted({r["shape"] for r in rows}, key=lambda s: [int(v) for v in s.split(",")])
    for kind in ("lstm", "gru", "rnn"):
        for mode in ("forward+backward", "forward"):
            subset = [r for r in rows if r["kind"] == kind and r["mode"] == mode]
            if not subset:
                continue
            lines += [f"## {kind.upper()} {mode} (T,B,I,H,layers)", "",
                      "| implementation | " + " | ".join(shapes) + " |", "|---|" + "---:|" * len(shapes)]
            for impl in dict.fromkeys(r["impl"] for r in subset):
                cells = []
                for shape in shapes:
                    match = [r for r in subset if r["impl"] == impl and r["shape"] == shape]
                    cells.append(f"{match[0]['ms']:.1f} ({match[0]['vs_torch']:.2f}x, {match[0]['peak_pct']:.0f}%)"
                                 if match else "-")
                lines.append(f"| {impl} | " + " | ".join(cells) + " |")
            lines.append("")
    lines += ["Cells: ms (ratio to torch.nn, percent of the matmul rate).", "",
              "## Parallel in time: forward+backward ms, B=16, I=32, H=128", "",
              "| T | " + " | ".join(dict.fromkeys(r["impl"] for r in parallel)) + " |",
              "|---:|" + "---:|" * len(dict.fromkeys(r["impl"] for r in parallel))]
    for T in dict.fromkeys(r["T"] for r in parallel):
        lines.append(f"| {T} | " + " | ".join(f"{r['ms']:.1f} ({r['vs_gru']:.2f}x)" for r in parallel if r["T"] == T) + " |")
    lines += ["", "## Streaming: one step, B=1, I=H=256 (microseconds)", "", "| implementation | us | vs LSTMCell |",
              "|---|---:|---:|"]
    lines += [f"| {r['impl']} | {r['us']:.1f} | {r['vs_cell']:.2f}x |" for r in streaming]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small shapes and few samples (a smoke run)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    parser.add_argument("--rounds", type=int, default=5, help="samples per candidate (default: 5)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--name", default="speed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    peak = matmul_rate()
    if args.quick:
        shapes, lengths, rounds, min_seconds = [(20, 4, 8, 16, 1)], [64], 2, 0.01
    else:
        shapes, lengths, rounds, min_seconds = SHAPES, [256, 1024, 4096], args.rounds, 0.05
    rows = measure_shapes(shapes, rounds, min_seconds, peak)
    parallel = measure_parallel(lengths, rounds, min_seconds)
    streaming = measure_streaming(rounds, min_seconds)
    seconds = time.perf_counter() - started
    info = machine_info()
    text = markdown(rows, parallel, streaming, info, peak, seconds)
    write_results(args.name, text, {"machine": info, "matmul_gflops": peak / 1e9, "seconds": seconds,
                                    "rows": rows, "parallel": parallel, "streaming": streaming}, args.out)
    print(text)


if __name__ == "__main__":
    main()
