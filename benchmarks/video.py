"""The video benchmark, frame prediction: the ConvLSTM encoder-forecaster against the FC-LSTM
and the two baselines on Moving MNIST (10 frames in, 10 out, test digits never seen in
training), every model trained for the same wall-clock budget on this machine.

Both models train with the preset ``video-prediction`` (the FC-LSTM changes only
``model.kind``), for ``--budget`` seconds each (``train.max_seconds``), early stopping and the
kept weights on the validation clips; the test clips are read once by each run's report, and
the baselines (last frame repeated, last two frames extrapolated) are scored on the same test
clips. Metrics as the field reports them: squared and absolute error per frame summed over its
64x64 pixels, and SSIM. The published anchors were trained far longer (on GPUs) and on the
published 10,000-clip test set; ours is 1,000 clips of held-out digits drawn by the same
recipe, so they are anchors, not a like-for-like comparison. Writes ``video.md``/``.json`` and
``video.png``/``video.gif`` (the ConvLSTM's test predictions).

    python benchmarks/video.py [--budget 1200] [--models convlstm fclstm] [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

from common import add_quality_arguments, header, run_cases, write_results
from rnnkit.config import load_source
from rnnkit.models.video import build_predictor
from rnnkit.tasks.core import run

CONFIG = "video-prediction"
MODELS = {"convlstm": "ConvLSTM encoder-forecaster", "fclstm": "FC-LSTM"}
# MSE per frame on Moving MNIST (64x64, 10 -> 10) as published
ANCHORS = [("FC-LSTM (Srivastava et al. 2015)", "118.3", "Wang et al. 2017, table 1"),
           ("ConvLSTM (Shi et al. 2015)", "103.3", "Wang et al. 2017, table 1"),
           ("PredRNN (Wang et al. 2017)", "56.8", "Wang et al. 2017, table 1"),
           ("ConvLSTM, OpenSTL re-run, 200 epochs on a GPU", "about 46", "OpenSTL (Tan et al. 2023)")]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_quality_arguments(parser, "video", seeds=1)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS), help="which models")
    parser.add_argument("--budget", type=float, default=1200.0, help="training seconds per model (default: 1200)")
    parser.add_argument("--config", default=CONFIG, help="a preset name or YAML file (default: video-prediction)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override the preset")


def run_model(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    overrides = ["train.progress=false", f"model.kind={kind}", f"train.max_seconds={args.budget}",
                 "train.steps=100000", *args.set]
    if args.quick:
        overrides += ["train.steps=6", "train.eval_every=3", "data.validation_clips=8", "data.test_clips=8"]
    config = run.resolve_config(load_source(args.config), overrides)
    started = time.perf_counter()
    run_dir, result = run.train(config, args.out / "runs" / f"video-{kind}", overwrite=True)
    report = result.report
    parameters = sum(p.numel() for p in build_predictor(1, (config.data.size,) * 2, config.model).parameters())
    row = {"model": kind, "steps": result.step, "seconds": round(time.perf_counter() - started, 1),
           "test": report["metrics"], "validation": result.best or result.last_eval, "run_dir": str(run_dir),
           "baselines": report.get("baselines", {}).get("metrics", {}), "parameters": parameters}
    print(f"  {kind}: {row['steps']} steps, test {report['metrics']}", flush=True)
    return row


def render(rows: list[dict[str, Any]], info: dict[str, Any], seconds: float, args: argparse.Namespace) -> str:
    lines = ["# Video frame prediction: Moving MNIST, 10 frames in, 10 out", "", header(info), "",
             (f"Command: `python benchmarks/video.py --budget {args.budget:g}{' --quick' if args.quick else ''}`. "
             f"Total time {seconds / 60:.1f} min. Each model trained for {args.budget:g} s of this machine "
             f"(`train.max_seconds`) with the preset `{Path(args.config).stem}`; the weights kept are those of the "
             "best validation MSE; the test clips (1,000 clips of held-out digits) are read once."), "",
             "| method | parameters | MSE per frame | MAE per frame | SSIM | training steps | seconds |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        m = row["test"]
        lines.append(f"| {MODELS[row['model']]} | {row['parameters']:,} | {m['test_mse']:.1f} | {m['test_mae']:.1f} | "
                     f"{m['test_ssim']:.3f} | {row['steps']} | {row['seconds']:.0f} |")
    for name, m in (rows[0]["baselines"] if rows else {}).items():
        lines.append(f"| {name} (baseline) | 0 | {m['test_mse']:.1f} | {m['test_mae']:.1f} | {m['test_ssim']:.3f} | - | - |")
    lines += ["", "Published MSE per frame (64x64, 10 -> 10), trained to the end on GPUs:", "",
              "| model | MSE per frame | source |", "|---|---:|---|",
              *[f"| {name} | {value} | {source} |" for name, value, source in ANCHORS]]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> None:
    rows, info, seconds = run_cases(args.models, lambda kind: run_model(kind, args), args.threads)
    markdown = render(rows, info, seconds, args)
    payload = {"machine": info, "seconds": round(seconds, 1), "budget_seconds": args.budget, "config": args.config,
               "overrides": args.set, "anchors": ANCHORS, "results": rows}
    md, js = write_results(args.name, markdown, payload, args.out)
    for row in rows:
        if row["model"] == "convlstm":
            for name, suffix in (("predictions.png", ".png"), ("prediction.gif", ".gif")):
                if (Path(row["run_dir"]) / name).exists():
                    shutil.copyfile(Path(row["run_dir"]) / name, args.out / f"{args.name}{suffix}")
    print(markdown)
    print(f"\nWrote {md} and {js}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    main(parser.parse_args())
