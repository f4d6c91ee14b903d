"""Memory saved for backward by each path (rk's kernels keep their inputs too, for the
double-backward path) against torch.nn, one forward at training time, counted by
``torch.autograd.graph.saved_tensors_hooks`` (each tensor's storage once).

    python benchmarks/saved_memory.py [--shape 100 64 128 256]
"""

from __future__ import annotations

import argparse

import torch
from common import header, machine_info, write_results

import rnnkit as rk

LAYERS = {
    "nn.GRU": lambda I, H: torch.nn.GRU(I, H),
    "rk.GRU": lambda I, H: rk.GRU(I, H),
    "nn.LSTM": lambda I, H: torch.nn.LSTM(I, H),
    "rk.LSTM": lambda I, H: rk.LSTM(I, H),
    "rk.LSTM, peepholes": lambda I, H: rk.LSTM(I, H, peephole=True),
    "rk.GRU, reset before (loop)": lambda I, H: rk.GRU(I, H, reset_after=False),
}


def saved_bytes(layer: torch.nn.Module, x: torch.Tensor) -> int:
    seen, total = set(), 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        key = t.untyped_storage().data_ptr()
        if key not in seen:
            seen.add(key)
            total += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        layer(x)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", type=int, nargs=4, default=[100, 64, 128, 256], metavar=("T", "B", "I", "H"))
    parser.add_argument("--name", default="saved_memory")
    args = parser.parse_args()
    T, B, I, H = args.shape
    info = machine_info()
    x = torch.randn(T, B, I, requires_grad=True)
    rows = []
    for name, make in LAYERS.items():
        layer = make(I, H)
        path = str(layer.forward_path()) if hasattr(layer, "forward_path") else "torch.nn"
        rows.append({"layer": name, "path": path, "mib": saved_bytes(layer, x) / 2**20})
    lines = ["# Memory saved for backward, one forward in training", "", header(info), "",
             (f"Command: `python benchmarks/saved_memory.py --shape {T} {B} {I} {H}`. (T, B, I, H) = "
              f"({T}, {B}, {I}, {H}), float32; every saved tensor's storage counted once."), "",
             "| layer | path | saved MiB |", "|---|---|---:|"]
    lines += [f"| {r['layer']} | {r['path']} | {r['mib']:.1f} |" for r in rows]
    write_results(args.name, "\n".join(lines), {"machine": info, "shape": args.shape, "rows": rows})
    print("\n".join(lines))


if __name__ == "__main__":
    main()
