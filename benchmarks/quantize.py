"""Dynamic int8 quantization (``rk.quantize_dynamic``) on two trained models: the character
language model (preset ``lm-shakespeare``) and a forecaster (preset ``forecast-airline``).

Each preset trains once (a shortened budget by default, stated in the table); then the same
trained weights are reported twice, in float and with int8 weights: the task's own test metric
(its report, the test part read once per model), the size of the weights, and the latency of a
forward pass (the language model: a 100-character chunk at batch 16, and one character at batch
1 as generation runs it; the forecaster: one window at batch 1 and a batch of 64), interleaved
in one process. Nothing is chosen on the test part: quantization has no setting here.

    python benchmarks/quantize.py [--lm-steps 600] [--forecast-steps 0 (the preset's)] [--threads 2]
"""

from __future__ import annotations

import argparse
import io
import shutil
import time
from typing import Any

import torch
from common import add_quality_arguments, header, machine_info, time_interleaved, write_results

import rnnkit as rk
from rnnkit.config import load_source
from rnnkit.tasks.core import registry, run

CASES = {"language": ("lm-shakespeare", "test_bpc", "bits per character"),
         "forecast": ("forecast-airline", "test_mase", "MASE")}


def weight_bytes(model: torch.nn.Module) -> int:
    """Bytes of the model's weights as torch serializes them (int8 packed weights included)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)  # in memory, to measure: never written or loaded
    return buffer.getbuffer().nbytes


def latency_calls(case: str, model: torch.nn.Module, config: Any) -> dict[str, Any]:
    if case == "language":
        vocab = model.embedding.num_embeddings
        chunk = torch.randint(0, vocab, (100, 16))
        one = torch.randint(0, vocab, (1, 1))
        return {"100 chars x 16": lambda: model(chunk, None), "1 char x 1": lambda: model(one, None)}
    W, K, I = config.data.window, model.K, model.encoder.input_size

    def forecast(B: int) -> Any:
        history, covariates, last = torch.randn(W, B, I), torch.randn(K, B, model.C), torch.randn(B, model.S)
        return lambda: model(history, covariates, last)

    return {"1 window": forecast(1), "64 windows": forecast(64)}


def run_case(case: str, args: argparse.Namespace) -> dict[str, Any]:
    preset, metric, label = CASES[case]
    steps = args.lm_steps if case == "language" else args.forecast_steps
    overrides = ["train.progress=false", *([f"train.steps={steps}", f"train.eval_every={max(1, steps // 4)}",
                                           f"train.checkpoint_every={max(1, steps // 4)}"] if steps else [])]
    if args.quick:
        overrides += ["train.steps=4", "train.eval_every=2"]
    config = run.resolve_config(load_source(preset), overrides)
    run_dir = args.out / "runs" / f"quantize-{case}"
    started = time.perf_counter()
    run_dir, result = run.train(config, run_dir, overwrite=True, baselines=False)
    trained_seconds = time.perf_counter() - started
    _, job = run.load_trained(run_dir, config.task)
    entry = registry.get(config.task)
    float_model = job.model.eval()
    int8_model = rk.quantize_dynamic(float_model)
    rows = {}
    for name, model in (("float32", float_model), ("int8 weights", int8_model)):
        job.model = model
        folder = args.out / "runs" / f"quantize-{case}-{name.split()[0]}"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(run_dir, folder)
        report = entry.report(job, folder)  # the test part, read once for this model
        rows[name] = {"metric": report["metrics"][metric], "bytes": weight_bytes(model)}
    calls = latency_calls(case, float_model, config)
    if calls:
        timed = {}
        with torch.no_grad():
            for shape in calls:
                pair = {name: latency_calls(case, model, config)[shape]
                        for name, model in (("float32", float_model), ("int8 weights", int8_model))}
                times = time_interleaved(pair, rounds=5, min_seconds=0.2 if args.quick else 0.5)
                timed[shape] = times
        for name in rows:
            rows[name]["latency_ms"] = {shape: times[name] * 1000 for shape, times in timed.items()}
    print(f"  {case}: {rows}", flush=True)
    return {"case": case, "preset": preset, "metric": metric, "label": label, "steps": result.step,
            "train_seconds": round(trained_seconds, 1), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_quality_arguments(parser, "quantize", seeds=1)
    parser.add_argument("--lm-steps", type=int, default=600, help="training steps of the language model (default 600)")
    parser.add_argument("--forecast-steps", type=int, default=0, help="training steps of the forecaster (0: the preset's)")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    info = machine_info()
    started = time.perf_counter()
    results = []
    for case in args.cases:
        print(f"{case} ...", flush=True)
        results.append(run_case(case, args))
    minutes = (time.perf_counter() - started) / 60
    lines = ["# Dynamic int8 quantization: the same trained weights in float32 and with int8 weights", "",
             header(info), "",
             (f"Command: `python benchmarks/quantize.py --lm-steps {args.lm_steps} --forecast-steps {args.forecast_steps} "
             f"--threads {args.threads} --cases {' '.join(args.cases)}{' --quick' if args.quick else ''}`. "
             f"Total time {minutes:.1f} min. Each model trained once (steps below), its kept weights chosen on "
             "validation; `rk.quantize_dynamic` then gives the int8 model. Test metrics from each task's report "
             "(the test part read once per model); latency: median of interleaved calls, no_grad."), ""]
    for r in results:
        shapes = list(next(iter(r["rows"].values())).get("latency_ms", {}))
        lines += [f"## {r['case']}: preset `{r['preset']}`, {r['steps']} steps", "",
                  "| weights | test " + r["label"] + " | weights (KiB) | " + " | ".join(f"ms, {s}" for s in shapes) + " |",
                  "|---|---:|---:|" + "---:|" * len(shapes)]
        for name, row in r["rows"].items():
            lines.append(f"| {name} | {row['metric']:.4f} | {row['bytes'] / 1024:,.0f} | "
                         + " | ".join(f"{row['latency_ms'][s]:.2f}" for s in shapes) + " |")
        lines.append("")
    write_results(args.name, "\n".join(lines), {"machine": info, "results": results}, args.out)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
