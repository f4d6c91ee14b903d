"""onnxruntime against PyTorch: latency of rk layers exported with ``torch.onnx.export``, per
sequence (T=100, batch 64) and per streaming step (batch 1, the state as explicit inputs and
outputs), interleaved in one process on the same threads. Each exported file is checked against
PyTorch first (max |diff| in the table).

    python benchmarks/onnx_latency.py [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from common import header, machine_info, publish, time_interleaved

import rnnkit as rk

LAYERS = {
    "LSTM (ONNX LSTM operator)": lambda I, H: rk.LSTM(I, H),
    "GRU (ONNX GRU operator)": lambda I, H: rk.GRU(I, H),
    "LSTM, peepholes (loop in ONNX)": lambda I, H: rk.LSTM(I, H, peephole=True),
    "GRU, layer norm (loop in ONNX)": lambda I, H: rk.GRU(I, H, layer_norm=True),
}


def session(path: str, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = threads
    return ort.InferenceSession(path, options)


def measure(name: str, shape: tuple[int, int, int, int], threads: int, folder: Path, quick: bool) -> dict[str, Any]:
    T, B, I, H = shape
    torch.manual_seed(0)
    layer = LAYERS[name](I, H).eval()
    x = torch.randn(T, B, I)
    rk.export_onnx(layer, folder / "sequence.onnx", steps=T)
    rk.export_onnx(layer, folder / "step.onnx", streaming=True)
    state = layer.initial_state(1)
    state = state if isinstance(state, tuple) else (state,)
    whole, step = session(str(folder / "sequence.onnx"), threads), session(str(folder / "step.onnx"), threads)
    x_np = x.numpy()
    one = torch.randn(1, I)
    step_feeds = {spec.name: value.numpy() for spec, value in zip(step.get_inputs(), (one, *state))}
    with torch.no_grad():
        expected = layer(x)[0]
        difference = float((torch.from_numpy(whole.run(None, {whole.get_inputs()[0].name: x_np})[0]) - expected)
                           .abs().max())
        calls = {"torch sequence": lambda: layer(x),
                 "onnxruntime sequence": lambda: whole.run(None, {whole.get_inputs()[0].name: x_np}),
                 "torch step": lambda: layer.step(one, state if len(state) > 1 else state[0]),
                 "onnxruntime step": lambda: step.run(None, step_feeds)}
        times = time_interleaved(calls, rounds=3 if quick else 5, min_seconds=0.1 if quick else 0.5)
    row = {"layer": name, "eager_path": str(layer.forward_path()), "max_abs_diff": difference,
           **{k: v * 1000 for k, v in times.items()}}
    print(f"  {name}: {row}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", type=int, nargs=4, default=[100, 64, 128, 256], metavar=("T", "B", "I", "H"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--name", default="onnx_latency")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shape = (6, 4, 3, 8) if args.quick else tuple(args.shape)
    info = machine_info()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        rows = [measure(name, shape, args.threads, Path(folder), args.quick) for name in LAYERS]
    minutes = (time.perf_counter() - started) / 60
    T, B, I, H = shape
    lines = ["# onnxruntime against PyTorch, rk layers exported with torch.onnx.export", "", header(info), "",
             (f"Command: `python benchmarks/onnx_latency.py --shape {T} {B} {I} {H} --threads {args.threads}"
             f"{' --quick' if args.quick else ''}`. Total {minutes:.1f} min. Both run on {args.threads} thread(s); "
             f"medians of interleaved calls, no autograd. Sequence: T={T}, batch {B}, I={I}, H={H}. Step: one step at "
             "batch 1 (PyTorch `layer.step`, onnxruntime the exported step with the state as inputs)."), "",
             ("| layer | PyTorch eager path | max abs diff | torch ms / sequence | onnxruntime ms / sequence | "
             "torch ms / step | onnxruntime ms / step |"), "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['layer']} | {r['eager_path']} | {r['max_abs_diff']:.1e} | {r['torch sequence']:.2f} | "
              f"{r['onnxruntime sequence']:.2f} | {r['torch step']:.3f} | {r['onnxruntime step']:.3f} |" for r in rows]
    publish(args.name, lines, info, rows, shape=list(shape))


if __name__ == "__main__":
    main()
