"""Parity table: rnnkit vs torch.nn, same state_dict, every output and gradient.

For each mode (Elman tanh/relu, LSTM, LSTM with projection, GRU), each rnnkit path (torch's
fused kernel, rnnkit's fused kernel on CPU, the readable loop) and equal vs variable lengths, the maximum absolute difference over
the 16 flag combinations bias x batch_first x bidirectional x num_layers(1, 2), in float64
and float32 (TF32 off). Runs on CPU, and also on CUDA when one is present.

    python benchmarks/parity.py [--out benchmarks/results] [--name parity]
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import torch

from rnnkit.functional import kernels
from common import header, machine_info, write_results
from rnnkit.testing import MODES, ParityCase, compare_with_torch, exact_float32

FLAG_PRODUCT = list(itertools.product([True, False], [False, True], [False, True], [1, 2]))


def measure(device: str, dtype: torch.dtype, impls: list[str]) -> list[dict]:
    rows = []
    for mode, impl, variable in itertools.product(MODES, impls, [False, True]):
        if impl == "rnnkit" and mode == "lstm_proj":
            continue  # rnnkit's kernel has no projection; that configuration runs torch's or the loop
        worst = {"output": 0.0, "final state": 0.0, "grad input/state": 0.0, "grad weights": 0.0}
        cases = []
        for bias, batch_first, bidirectional, num_layers in FLAG_PRODUCT:
            case = ParityCase(mode, bias, batch_first, bidirectional, num_layers, variable, impl)
            diffs = compare_with_torch(case, device, dtype)
            groups = {
                "output": [v for k, v in diffs.items() if k == "output"],
                "final state": [v for k, v in diffs.items() if k in ("h_n", "c_n")],
                "grad input/state": [v for k, v in diffs.items() if k in ("grad input", "grad h_0", "grad c_0")],
                "grad weights": [v for k, v in diffs.items() if k.startswith("grad ") and "_l" in k],
            }
            for key, values in groups.items():
                worst[key] = max(worst[key], *values)
            cases.append({"flags": dict(bias=bias, batch_first=batch_first, bidirectional=bidirectional,
                                        num_layers=num_layers), "diffs": diffs})
        rows.append({"device": device, "dtype": str(dtype).replace("torch.", ""), "mode": mode, "impl": impl,
                     "lengths": "variable" if variable else "equal", "configs": len(cases), **worst, "cases": cases})
    return rows


def markdown(rows: list[dict], info: dict, seconds: float) -> str:
    cols = ["output", "final state", "grad input/state", "grad weights"]
    lines = [
        "# Parity with torch.nn (max abs difference over bias x batch_first x bidirectional x num_layers)",
        "",
        header(info) + f"; took {seconds:.0f} s; TF32 off for float32",
        "",
        "| device | dtype | mode | rnnkit path | lengths | configs | " + " | ".join(cols) + " |",
        "|---|---|---|---|---|---:|" + "---:|" * len(cols),
    ]
    for r in rows:
        lines.append(
            f"| {r['device']} | {r['dtype']} | {r['mode']} | {r['impl']} | {r['lengths']} | {r['configs']} | "
            + " | ".join(f"{r[c]:.1e}" for c in cols) + " |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="results folder (default: benchmarks/results)")
    parser.add_argument("--name", default="parity", help="file name stem (default: parity)")
    args = parser.parse_args()
    torch.manual_seed(0)
    start = time.perf_counter()
    rows = []
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        impls = ["torch", "rnnkit", "loop"] if device == "cpu" and kernels.available() else ["torch", "loop"]
        rows += measure(device, torch.float64, impls)
        with exact_float32():  # cuDNN's default TF32 would be a different computation
            rows += measure(device, torch.float32, impls)
    seconds = time.perf_counter() - start
    info = machine_info()
    text = markdown(rows, info, seconds)
    paths = write_results(args.name, text, {"machine": info, "seconds": seconds, "rows": rows}, args.out)
    print(text)
    print(f"Wrote {paths[0]} and {paths[1]}")


if __name__ == "__main__":
    main()
