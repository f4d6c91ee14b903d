"""The speed benchmark: rnnkit's paths beside torch.nn, Keras 3 and the loops users write.

One process, candidates timed interleaved (medians of several samples, each >= 50 ms of
repeated calls, after warm-up), so ratios within the run hold even as the machine drifts:

* shapes (T, B, I, H, layers) (100,64,128,256,1), (100,64,512,512,2), (1000,16,32,128,1),
  (50,1,64,256,1); LSTM, GRU and Elman candidates: torch.nn, rnnkit's automatic path and each
  forced path, every regularizer and variant, torch.nn cells in a loop, a naive loop;
* forward and forward+backward: median ms, GFLOP/s (analytic count: a layer's forward is
  T*B*2*(I+H)*G*H with G = 4, 3, 1; forward+backward ~3x), percent of this machine's
  matrix-multiply rate measured in the same run, ratio to torch.nn, and peak memory of live
  tensors in a training step (``torch.profiler``);
* Keras 3 on JAX, from its own virtualenv, as a subprocess in the same run (same shapes;
  not interleaved with the torch candidates, so its ratios carry the machine's drift);
* parallel in time: minGRU/minLSTM (parallel scan) against the sequential GRU at long T;
* streaming: one step at B=1 (torch.nn.LSTMCell, ``rk.LSTM.step``, ``rk.Stream``);
* long sequences: T=10,000 training steps with and without checkpointing over time;
* the issue's targets, checked against the measured ratios.

    python benchmarks/speed.py [--quick] [--keras-python PATH] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

import rnnkit as rk
from common import RESULTS, header, machine_info, matmul_rate, peak_memory, time_interleaved, write_results
from rnnkit.functional import kernels
from rnnkit.layers.checkpoint import time_chunk_for_budget

SHAPES = [(100, 64, 128, 256, 1), (100, 64, 512, 512, 2), (1000, 16, 32, 128, 1), (50, 1, 64, 256, 1)]
QUICK_SHAPES = [(20, 4, 8, 16, 1), (30, 1, 8, 16, 2)]
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
KERAS_SCRIPT = Path(__file__).with_name("keras_speed.py")
DEFAULT_KERAS_PYTHON = Path("benchmarks/.venv-keras/bin/python")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="tiny shapes and few samples (a smoke run, ~1 min)")
    parser.add_argument("--rounds", type=int, default=5, help="samples per candidate (default: 5)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    parser.add_argument("--keras-python", type=Path, default=None,
                        help="Python of a virtualenv with Keras 3 and JAX (default: $RNNKIT_KERAS_PYTHON or "
                             "benchmarks/.venv-keras/bin/python, made by `make keras-venv`); missing: no Keras rows")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--name", default="speed", help="file name stem (default: speed)")
    parser.add_argument("--retable", type=Path, metavar="JSON",
                        help="no timing: rewrite the tables and the targets from a saved speed.json")


# -- candidates ------------------------------------------------------------------------------


def flops(kind: str, T: int, B: int, I: int, H: int, layers: int) -> float:
    total, width = 0.0, I
    for _ in range(layers):
        total += T * B * 2 * (width + H) * GATES[kind] * H
        width = H
    return total


class NaiveLSTM(nn.Module):
    """What a user writes first: the equations in a Python loop, autograd for the backward."""

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
    """The first entry is the reference (torch.nn) every ratio is taken against."""
    if kind == "lstm":
        found = {
            "torch.nn.LSTM": nn.LSTM(I, H, layers),
            "rk.LSTM (auto)": rk.LSTM(I, H, layers),
            "rk.LSTM impl=rnnkit": rk.LSTM(I, H, layers, impl="rnnkit"),
            "rk.LSTM impl=loop": rk.LSTM(I, H, layers, impl="loop"),
            "rk.LSTM weight_drop=0.5": rk.LSTM(I, H, layers, weight_drop=0.5),
            "rk.LSTM recurrent_dropout=0.25": rk.LSTM(I, H, layers, recurrent_dropout=0.25),
            "rk.LSTM zoneout=0.1": rk.LSTM(I, H, layers, zoneout=0.1),
            "rk.LSTM peephole": rk.LSTM(I, H, layers, peephole=True),
            "rk.LSTM layer_norm": rk.LSTM(I, H, layers, layer_norm=True),
            "torch.nn.LSTMCell loop": CellLoop(nn.LSTMCell, I, H, layers),
        }
        if layers == 1:
            found["naive loop (autograd)"] = NaiveLSTM(I, H)
        return found
    if kind == "gru":
        return {
            "torch.nn.GRU": nn.GRU(I, H, layers),
            "rk.GRU (auto)": rk.GRU(I, H, layers),
            "rk.GRU impl=torch": rk.GRU(I, H, layers, impl="torch"),
            "rk.GRU impl=loop": rk.GRU(I, H, layers, impl="loop"),
            "rk.GRU recurrent_dropout=0.25": rk.GRU(I, H, layers, recurrent_dropout=0.25),
            "rk.GRU reset_after=False": rk.GRU(I, H, layers, reset_after=False),
            "torch.nn.GRUCell loop": CellLoop(nn.GRUCell, I, H, layers),
        }
    return {
        "torch.nn.RNN": nn.RNN(I, H, layers),
        "rk.RNN (auto)": rk.RNN(I, H, layers),
        "rk.RNN impl=loop": rk.RNN(I, H, layers, impl="loop"),
    }


def run(module: nn.Module, x: torch.Tensor, backward: bool) -> None:
    out = module(x)
    out = out[0] if isinstance(out, tuple) else out
    if backward:
        out.sum().backward()


# -- sections --------------------------------------------------------------------------------


def measure_shapes(shapes: list, kinds: list[str], rounds: int, min_seconds: float, peak: float, device: str,
                   sync: Callable[[], None]) -> list[dict]:
    rows = []
    for kind in kinds:
        for T, B, I, H, layers in shapes:
            torch.manual_seed(0)
            modules = {n: m.to(device) for n, m in candidates(kind, I, H, layers).items()
                       if device == "cpu" or "impl=rnnkit" not in n}
            x = torch.randn(T, B, I, device=device)
            for mode, backward in (("forward", False), ("forward+backward", True)):
                for m in modules.values():
                    m.train(backward)
                context = torch.enable_grad if backward else torch.no_grad

                def call(m: nn.Module, backward: bool = backward, context: Callable = context) -> None:
                    with context():
                        run(m, x, backward)

                medians = time_interleaved({n: (lambda m=m: call(m)) for n, m in modules.items()}, rounds,
                                           min_seconds, sync)
                memory = {n: peak_memory(lambda m=m: call(m)) for n, m in modules.items()} \
                    if backward and device == "cpu" else {}
                work = flops(kind, T, B, I, H, layers) * (3 if backward else 1)
                reference = medians[next(iter(medians))]
                for name, seconds in medians.items():
                    module = modules[name]
                    path = module.forward_path() if hasattr(module, "forward_path") else None
                    rows.append({
                        "kind": kind, "shape": f"{T},{B},{I},{H},{layers}", "mode": mode, "impl": name, "path": path,
                        "ms": seconds * 1e3, "gflops": work / seconds / 1e9, "peak_pct": 100 * work / seconds / peak,
                        "vs_torch": seconds / reference, "memory_mb": memory.get(name, float("nan")) / 2**20,
                    })
                print(f"{kind} {T},{B},{I},{H},{layers} {mode}: " + ", ".join(
                    f"{n} {s * 1e3:.1f}ms" for n, s in medians.items()), flush=True)
    return rows


def measure_keras(python: Path | None, shapes: list, rounds: int, min_seconds: float,
                  torch_rows: list[dict], peak: float) -> tuple[list[dict], str]:
    """Keras rows from its own virtualenv; the note says what ran or why nothing did."""
    if python is None or not python.exists():
        return [], f"not measured: no Keras virtualenv ({python or DEFAULT_KERAS_PYTHON} missing; `make keras-venv`)"
    spec = json.dumps({"shapes": shapes, "rounds": rounds, "min_seconds": min_seconds})
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": os.environ.get("XLA_FLAGS", "")}
    result = subprocess.run([str(python), str(KERAS_SCRIPT), spec], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-1:] or ["no output"]
        return [], f"not measured: the Keras run failed ({tail[0]})"
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    rows = []
    for r in payload["rows"]:
        kind = "gru" if "GRU" in r["impl"] else "lstm"
        T, B, I, H, layers = (int(v) for v in r["shape"].split(","))
        ref = next(t for t in torch_rows if t["kind"] == kind and t["shape"] == r["shape"] and t["mode"] == r["mode"]
                   and t["impl"].startswith("torch.nn.") and "Cell" not in t["impl"])
        work = flops(kind, T, B, I, H, layers) * (3 if r["mode"] == "forward+backward" else 1)
        rows.append({"kind": kind, "shape": r["shape"], "mode": r["mode"], "impl": r["impl"], "ms": r["seconds"] * 1e3,
                     "gflops": work / r["seconds"] / 1e9, "peak_pct": 100 * work / r["seconds"] / peak,
                     "vs_torch": r["seconds"] * 1e3 / ref["ms"], "memory_mb": float("nan"),
                     "compile_s": r["compile_seconds"]})
    return rows, f"Keras {payload['keras']}, JAX {payload['jax']} (CPU), jitted, separate process in the same run"


def measure_parallel(lengths: list[int], rounds: int, min_seconds: float, device: str,
                     sync: Callable[[], None]) -> list[dict]:
    rows = []
    B, I, H = 16, 32, 128
    for T in lengths:
        torch.manual_seed(0)
        modules = {"torch.nn.GRU": nn.GRU(I, H), "rk.GRU (auto)": rk.GRU(I, H),
                   "rk.MinGRU (scan)": rk.MinGRU(I, H), "rk.MinLSTM (scan)": rk.MinLSTM(I, H)}
        modules = {n: m.to(device) for n, m in modules.items()}
        x = torch.randn(T, B, I, device=device)
        medians = time_interleaved({n: (lambda m=m: run(m, x, True)) for n, m in modules.items()}, rounds,
                                   min_seconds, sync)
        for name, seconds in medians.items():
            rows.append({"T": T, "impl": name, "ms": seconds * 1e3, "vs_gru": seconds / medians["torch.nn.GRU"]})
        print(f"parallel T={T}: " + ", ".join(f"{n} {s * 1e3:.1f}ms" for n, s in medians.items()), flush=True)
    return rows


def measure_streaming(rounds: int, min_seconds: float, device: str) -> list[dict]:
    torch.manual_seed(0)
    I = H = 256
    cell, layer = nn.LSTMCell(I, H).to(device).eval(), rk.LSTM(I, H).to(device).eval()
    x = torch.randn(1, I, device=device)
    state_cell = (torch.zeros(1, H, device=device), torch.zeros(1, H, device=device))
    state_layer = layer.initial_state(1)
    stream = rk.Stream(layer, 1)
    with torch.no_grad():
        medians = time_interleaved({
            "torch.nn.LSTMCell": lambda: cell(x, state_cell),
            "rk.LSTM.step(x, state)": lambda: layer.step(x, state_layer),
            "rk.Stream(rk.LSTM) step": lambda: stream(x),
        }, rounds * 3, min_seconds)
    return [{"impl": n, "us": s * 1e6, "vs_cell": s / medians["torch.nn.LSTMCell"]} for n, s in medians.items()]


def measure_long(T: int, budget_mib: int, device: str) -> list[dict]:
    """One training step (forward+backward) of an LSTM over T steps: time and peak memory."""
    B, I, H = 16, 32, 128
    torch.manual_seed(0)
    x = torch.randn(T, B, I, device=device)
    budget = budget_mib * 2**20
    chunk = time_chunk_for_budget(rk.LSTM(I, H), B, T, budget)
    configs = {
        "torch.nn.LSTM": nn.LSTM(I, H),
        "rk.LSTM (auto)": rk.LSTM(I, H),
        f"rk.LSTM time_chunk={chunk} (for a budget of {budget_mib} MiB)": rk.LSTM(I, H, time_chunk=chunk),
        "rk.LSTM time_chunk=100": rk.LSTM(I, H, time_chunk=100),
        "rk.LSTM zoneout=0.1": rk.LSTM(I, H, zoneout=0.1),
        f"rk.LSTM zoneout=0.1 time_chunk={chunk}": rk.LSTM(I, H, zoneout=0.1, time_chunk=chunk),
    }
    rows = []
    for name, module in configs.items():
        module.to(device)
        start = time.perf_counter()
        run(module, x, True)
        first = time.perf_counter() - start
        seconds = min(first, *(_timed(lambda: run(module, x, True)) for _ in range(2)))
        memory = peak_memory(lambda: run(module, x, True)) if device == "cpu" else float("nan")
        rows.append({"impl": name, "T": T, "seconds": seconds, "memory_mb": memory / 2**20})
        print(f"long T={T} {name}: {seconds:.2f}s, {memory / 2**20:.0f} MiB", flush=True)
    return rows


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# -- targets and tables ------------------------------------------------------------------------


def check_targets(rows: list[dict], streaming: list[dict], shapes: list[str]) -> list[dict]:
    """The issue's targets 1-3, each with the worst measured ratio and whether it holds."""
    def ratios(kind: str, impl_prefix: str, subset: list[str]) -> list[float]:
        return [r["vs_torch"] for r in rows if r["kind"] == kind and r["mode"] == "forward+backward"
                and r["impl"].startswith(impl_prefix) and r["shape"] in subset]

    first, last = shapes[:2], shapes[2:]
    checks = []

    def add(target: str, values: list[float], bound: float) -> None:
        if values:
            worst = max(values)
            checks.append({"target": target, "worst": worst, "bound": bound, "holds": worst <= bound})

    for kind, family in (("lstm", "LSTM"), ("gru", "GRU"), ("rnn", "RNN")):
        add(f"1. rk.{family} (auto) / torch.nn.{family}, every shape", ratios(kind, f"rk.{family} (auto", shapes), 1.05)
    for variant in ("recurrent_dropout", "zoneout", "peephole", "weight_drop"):
        add(f"2. rk.LSTM {variant}, first two shapes", ratios("lstm", f"rk.LSTM {variant}", first), 1.15)
        add(f"2. rk.LSTM {variant}, last two shapes", ratios("lstm", f"rk.LSTM {variant}", last), 1.5)
    add("2. rk.LSTM layer_norm, every shape", ratios("lstm", "rk.LSTM layer_norm", shapes), 1.5)
    add("2b. rk.GRU (auto) / torch.nn.GRU, every shape (1.5x faster)", ratios("gru", "rk.GRU (auto", shapes), 1 / 1.5)
    def stream(prefix: str) -> list[float]:
        return [r["vs_cell"] for r in streaming if r["impl"].startswith(prefix)]

    add("3. streaming step / torch.nn.LSTMCell, B=1", stream("rk.LSTM.step"), 1.3)
    add("3. rk.Stream step / torch.nn.LSTMCell, B=1", stream("rk.Stream"), 1.3)
    return checks


def markdown(result: dict) -> str:
    info, rows = result["machine"], result["rows"]
    lines = ["# Speed: rnnkit beside torch.nn, Keras 3 and hand-written loops", "",
             header(info) + f"; matmul rate {result['matmul_gflops']:.0f} GFLOP/s (measured in this run); "
             f"device {result['device']}; whole run {result['seconds'] / 60:.1f} min", "",
             f"Keras: {result['keras_note']}.", "",
             "rnnkit's kernel, per-step recurrent product (`rnnkit.functional.kernels.gemm_routes()`, measured "
             "once per shape in this run): " + (", ".join(
                 f"B={c['batch']} {c['in']}->{c['out']} on {c['threads']} thread(s): {c['route']}"
                 for c in result.get("gemm_routes", {}).get("chosen", [])) or "none ran") + ".", "",
             "Cells: median ms per call, float32 (ratio to torch.nn, the first row of each table; percent of "
             "the matmul rate). Forward+backward tables add the peak memory of live tensors in MiB; "
             "`(auto)` rows add the path `impl='auto'` chose for that shape.", ""]
    shapes = sorted({r["shape"] for r in rows}, key=lambda s: [int(v) for v in s.split(",")])
    shapes = [s for s in (f"{T},{B},{I},{H},{L}" for T, B, I, H, L in result["shapes"]) if s in shapes]
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
                    if not match:
                        cells.append("-")
                        continue
                    r = match[0]
                    measured = mode == "forward+backward" and r["memory_mb"] == r["memory_mb"]  # NaN: not measured
                    memory = f", {r['memory_mb']:.0f} MiB" if measured else ""
                    path = f", {r['path']}" if "(auto)" in impl and r.get("path") else ""
                    cells.append(f"{r['ms']:.1f} ({r['vs_torch']:.2f}x, {r['peak_pct']:.0f}%{memory}{path})")
                lines.append(f"| {impl} | " + " | ".join(cells) + " |")
            lines.append("")
    keras_compile = [r for r in rows if "compile_s" in r]
    if keras_compile:
        lines += ["Keras first calls (jit compile, not in the medians): " + ", ".join(
            f"{r['impl']} {r['shape']} {r['mode']} {r['compile_s']:.1f} s" for r in keras_compile
            if r["mode"] == "forward+backward"), ""]
    parallel = result["parallel"]
    impls = list(dict.fromkeys(r["impl"] for r in parallel))
    lines += ["## Parallel in time: forward+backward ms, B=16, I=32, H=128 (ratio to torch.nn.GRU)", "",
              "| T | " + " | ".join(impls) + " |", "|---:|" + "---:|" * len(impls)]
    for T in dict.fromkeys(r["T"] for r in parallel):
        lines.append(f"| {T} | " + " | ".join(f"{r['ms']:.1f} ({r['vs_gru']:.2f}x)" for r in parallel if r["T"] == T) + " |")
    lines += ["", "## Streaming: one step, B=1, I=H=256 (microseconds)", "", "| implementation | us | vs LSTMCell |",
              "|---|---:|---:|"]
    lines += [f"| {r['impl']} | {r['us']:.1f} | {r['vs_cell']:.2f}x |" for r in result["streaming"]]
    long = result["long"]
    if long:
        lines += ["", f"## Long sequences: one training step, T={long[0]['T']}, B=16, I=32, H=128 (LSTM)", "",
                  "| implementation | seconds | peak MiB |", "|---|---:|---:|"]
        lines += [f"| {r['impl']} | {r['seconds']:.2f} | {r['memory_mb']:.0f} |" for r in long]
    lines += ["", "## Targets (issue 4), from the forward+backward ratios above", "",
              "| target | worst measured | bound | holds |", "|---|---:|---:|---|"]
    lines += [f"| {c['target']} | {c['worst']:.2f} | {c['bound']:.2f} | {'yes' if c['holds'] else 'no'} |"
              for c in result["targets"]]
    lines += ["", f"GPU rows: {result['gpu_note']}."]
    return "\n".join(lines) + "\n"


def retable(path: Path, out: Path, name: str) -> dict:
    """Rewrite ``<name>.md``/``.json`` from a saved result: the same measurements, tables and
    targets recomputed by this version of the code."""
    result = json.loads(path.read_text())
    shapes = [f"{T},{B},{I},{H},{L}" for T, B, I, H, L in result["shapes"]]
    torch_rows = [r for r in result["rows"] if "compile_s" not in r]
    result["targets"] = check_targets(torch_rows, result["streaming"], shapes)
    text = markdown(result)
    write_results(name, text, result, out)
    print(text)
    return result


def main(args: argparse.Namespace) -> dict:
    if getattr(args, "retable", None) is not None:
        return retable(args.retable, args.out, args.name)
    torch.set_num_threads(args.threads)
    device = args.device
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    started = time.perf_counter()
    if device == "cpu":
        kernels.available()  # build the kernels (once) before any timing
    peak = matmul_rate()
    if args.quick:
        shapes, lengths, rounds, min_seconds, long_T, budget = QUICK_SHAPES, [64, 256], 2, 0.01, 500, 32
    else:
        shapes, lengths, rounds, min_seconds, long_T, budget = SHAPES, [256, 1024, 4096], args.rounds, 0.05, 10_000, 256
    rows = measure_shapes(shapes, ["lstm", "gru", "rnn"], rounds, min_seconds, peak, device, sync)
    python = args.keras_python or Path(os.environ.get("RNNKIT_KERAS_PYTHON", DEFAULT_KERAS_PYTHON))
    keras_rows, keras_note = (measure_keras(python, [list(s) for s in shapes], rounds, min_seconds, rows, peak)
                              if device == "cpu" else ([], "not measured on GPU"))
    parallel = measure_parallel(lengths, rounds, min_seconds, device, sync)
    streaming = measure_streaming(rounds, min_seconds, device)
    long = measure_long(long_T, budget, device)
    shape_keys = [f"{T},{B},{I},{H},{L}" for T, B, I, H, L in shapes]
    gpu_note = ("measured in this run" if device.startswith("cuda") else
                "not measured in this run (no GPU here); `python benchmarks/speed.py --device cuda` on a GPU machine")
    routes = kernels.gemm_routes() if kernels.available() else {"forced": "none", "chosen": []}
    result = {
        "machine": machine_info(), "device": device, "matmul_gflops": peak / 1e9, "shapes": shapes,
        "gemm_routes": routes,
        "rows": rows + keras_rows, "keras_note": keras_note, "parallel": parallel, "streaming": streaming,
        "long": long, "targets": check_targets(rows, streaming, shape_keys), "gpu_note": gpu_note,
    }
    result["seconds"] = time.perf_counter() - started
    text = markdown(result)
    paths = write_results(args.name, text, result, args.out)
    print(text)
    print(f"Wrote {paths[0]} and {paths[1]}", file=sys.stderr)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    main(parser.parse_args())
