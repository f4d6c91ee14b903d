"""The video benchmark. Frame prediction: the ConvLSTM encoder-forecaster against the FC-LSTM
and the two baselines on Moving MNIST (10 frames in, 10 out, test digits never seen in
training), both models trained for the same number of steps of the same batches. Action
recognition: the LRCN and a ConvLSTM over time against the single-frame and frame-difference
CNNs on Moving MNIST motion patterns (7 classes, test digits held out), one budget each.
Captioning: the CNN + LSTM encoder with an attention decoder against the most frequent caption
and slot classifiers without a language model (templated captions of two moving digits).
Speed: rk.ConvLSTM's readable loop against torch.compile of it, forward + backward at T=10,
B=16, 64 channels, 64x64.

Both models train with the preset ``video-prediction`` (the FC-LSTM changes only
``model.kind``), for ``--steps`` steps each (budgets in steps, so a busy machine changes the
seconds, not the results; ``--max-seconds`` caps every run), early stopping and the
kept weights on the validation clips; the test clips are read once by each run's report, and
the baselines (last frame repeated, last two frames extrapolated) are scored on the same test
clips. Metrics as the field reports them: squared and absolute error per frame summed over its
64x64 pixels, and SSIM twice: of the frames as they are, and of the frames converted to 8 bits
first, as PredRNN's evaluation code computes the SSIM of the published tables. The published
anchors were trained far longer (on GPUs) and on the published 10,000-clip test set; ours is
1,000 clips of held-out digits drawn by the same recipe, so they are anchors, not a
like-for-like comparison. Writes ``video.md``/``.json``,
``video.png``/``video.gif`` (the ConvLSTM's test predictions) and ``video-confusion.png``.

``--variant NAME:KEY=VALUE;KEY=VALUE`` (repeatable) trains the ConvLSTM once per variant (the
preset with the variant's overrides on top of the case's) with its test part unread, chooses the
lowest validation MSE, and only then reads the chosen run's test part (``rnnkit report``); the
table lists every variant's validation scores. A variant's folder that already holds its run is
reused (a stopped benchmark continues).

    python benchmarks/video.py [--steps 3000] [--action-steps 2000] [--caption-steps 3000] [--cases ...] [--quick]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from common import (add_quality_arguments, command_line, finished_run, header, run_cases, time_interleaved,
                    write_results)
from rnnkit.config import load_source
from rnnkit.layers.conv import ConvLSTM
from rnnkit.models.video import ActionRecognizer, build_captioner, build_predictor
from rnnkit.tasks.core import run

CONFIG = "video-prediction"  # the presets
MODELS = {"convlstm": "ConvLSTM encoder-forecaster", "fclstm": "FC-LSTM"}
# MSE per frame on Moving MNIST (64x64, 10 -> 10) as published
ANCHORS = [("FC-LSTM (Srivastava et al. 2015)", "118.3", "Wang et al. 2017, table 1"),
           ("ConvLSTM (Shi et al. 2015)", "103.3", "Wang et al. 2017, table 1"),
           ("PredRNN (Wang et al. 2017)", "56.8", "Wang et al. 2017, table 1"),
           ("ConvLSTM, OpenSTL re-run, 200 epochs on a GPU", "about 46", "OpenSTL (Tan et al. 2023)")]


ACTION_CONFIG = "video-action"
ACTION_MODELS = {"lrcn": "LRCN (CNN per frame + LSTM)", "convlstm": "ConvLSTM over time"}
CAPTION_CONFIG = "video-caption"
CASES = [f"prediction:{m}" for m in MODELS] + [f"action:{m}" for m in ACTION_MODELS] + ["caption:seq2seq",
                                                                                        "speed:convlstm"]
FROM_RUNS = " (this table written from its run folders with --from-runs)"
QUICK = ["train.steps=6", "train.eval_every=3", "data.validation_clips=14", "data.test_clips=14"]  # --quick
SPEED_SHAPE = (10, 16, 64, 64)  # T, B, C (input and hidden channels), frame side: the ConvLSTM speed check


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_quality_arguments(parser, "video", seeds=1)
    parser.add_argument("--cases", nargs="+", choices=CASES, default=CASES, help="which task:model runs")
    parser.add_argument("--steps", type=int, default=3000, help="training steps per prediction model (default: 3000)")
    parser.add_argument("--action-steps", type=int, default=2000,
                        help="training steps per action model and baseline (default: 2000)")
    parser.add_argument("--caption-steps", type=int, default=3000,
                        help="training steps of the captioner and of its slot-classifier baseline (default: 3000)")
    parser.add_argument("--max-seconds", type=float, default=None, help="a cap on every run's training time")
    parser.add_argument("--from-runs", action="store_true",
                        help="write the table from the run folders an earlier call of this script trained "
                             "(OUT/runs/video-TASK-MODEL/summary.json), training nothing")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override the prediction preset")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE;KEY=VALUE",
                        help="prediction: a ConvLSTM variant (repeatable); each trains with its test part unread, the "
                             "lowest validation MSE is chosen, and only the chosen one's test part is read")


def parse_variant(text: str) -> tuple[str, list[str]]:
    name, _, overrides = text.partition(":")
    if not name or not overrides or not all("=" in o for o in overrides.split(";")):
        raise SystemExit(f"--variant {text!r}: expected NAME:KEY=VALUE;KEY=VALUE")
    return name, overrides.split(";")


def choose_variant(overrides: list[str], args: argparse.Namespace) -> tuple[Path, list[dict[str, Any]]]:
    """Train each ``--variant`` of the ConvLSTM with its test part unread (or reuse its finished
    run), choose the lowest validation MSE, then read the chosen run's test part once."""
    rows = []
    for name, extra in map(parse_variant, args.variant):
        config = run.resolve_config(load_source(CONFIG), [*overrides, *extra, *(QUICK if args.quick else [])])
        run_dir = args.out / "runs" / f"video-prediction-convlstm-{name}"
        if not finished_run(run_dir, config, f"variant {name!r}"):
            run.train(config, run_dir, overwrite=True, test=False)
        summary = json.loads((run_dir / "summary.json").read_text())
        rows.append({"name": name, "overrides": extra, "run_dir": str(run_dir), "steps": summary["step"],
                     "seconds": summary["seconds"], "validation": run.evaluate(run_dir),
                     "test_unread": run.test_unread(run_dir)})
        print(f"  variant {name}: validation {rows[-1]['validation']}", flush=True)
    chosen = min(rows, key=lambda r: r["validation"]["val_mse"])
    chosen["chosen"] = True
    if chosen["test_unread"]:
        run.report_run(chosen["run_dir"])
    elif not run.reported_after_training(chosen["run_dir"]):  # else: an earlier invocation's same choice read it
        raise SystemExit(f"{chosen['run_dir']}: its test part was read at the end of its training; a variant is "
                         "chosen before any test part is read (train it again in a new --out)")
    return Path(chosen["run_dir"]), rows


def measure_speed(args: argparse.Namespace) -> dict[str, Any]:
    """rk.ConvLSTM forward + backward (3x3 kernels, one layer): the readable loop eager against
    ``torch.compile`` of the same layer, interleaved medians."""
    T, B, C, side = (4, 2, 8, 16) if args.quick else SPEED_SHAPE
    device = "cuda" if torch.cuda.is_available() else "cpu"
    layer = ConvLSTM(C, C, 3).to(device)
    x = torch.randn(T, B, C, side, side, device=device, requires_grad=True)
    compiled = torch.compile(layer)

    def step(module: torch.nn.Module) -> None:
        output, _ = module(x)
        output.sum().backward()

    started = time.perf_counter()
    step(compiled)  # compiles
    compile_seconds = time.perf_counter() - started
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    times = time_interleaved({"loop": lambda: step(layer), "compiled": lambda: step(compiled)},
                             rounds=3, min_seconds=0.2 if args.quick else 1.0, sync=sync)
    row = {"case": "speed:convlstm", "task": "speed", "shape": [T, B, C, side], "device": device,
           "loop_seconds": times["loop"], "compiled_seconds": times["compiled"],
           "compile_seconds": round(compile_seconds, 1)}
    print(f"  speed: loop {times['loop'] * 1000:.0f} ms, compiled {times['compiled'] * 1000:.0f} ms", flush=True)
    return row


def run_case(case: str, args: argparse.Namespace) -> dict[str, Any]:
    if case == "speed:convlstm":
        return measure_speed(args)
    task, kind = case.split(":")
    prediction = task == "prediction"
    steps = {"prediction": args.steps, "action": args.action_steps, "caption": args.caption_steps}[task]
    every = max(1, steps // 8)  # about 8 evaluations a run
    overrides = ["train.progress=false", f"train.steps={steps}", f"train.eval_every={every}",
                 f"train.checkpoint_every={every}",
                 f"train.max_seconds={'null' if args.max_seconds is None else args.max_seconds}",
                 *([f"model.kind={kind}"] if task != "caption" else []), *(args.set if prediction else [])]
    if args.quick:
        overrides += QUICK
    preset = {"prediction": CONFIG, "action": ACTION_CONFIG, "caption": CAPTION_CONFIG}[task]
    config = run.resolve_config(load_source(preset), overrides)
    started = time.perf_counter()
    run_dir = args.out / "runs" / f"video-{task}-{kind}"
    variants = None
    if prediction and kind == "convlstm" and args.variant and not args.from_runs:
        run_dir, variants = choose_variant(overrides, args)
    if args.from_runs or variants is not None:  # a table from run folders' summaries (trained here or before)
        summary = json.loads((run_dir / "summary.json").read_text())
        config = run.load_run_config(run_dir)
        result = argparse.Namespace(step=summary["step"], report=summary["report"], best=summary.get("best"),
                                    last_eval=summary.get("last_eval"))
        started -= summary["seconds"]
    else:
        first_action = task == "action" and case == next(c for c in args.cases if c.startswith("action:"))
        run_dir, result = run.train(config, run_dir, overwrite=True,
                                    baselines=task != "action" or first_action)  # the action baselines train: once
    report = result.report
    model = build_predictor(1, (config.data.size,) * 2, config.model) if prediction else \
        ActionRecognizer(1, 7, config.model) if task == "action" else \
        build_captioner(1, len(json.loads((run_dir / "vocab.json").read_text())["tokens"]), config.model)
    if variants is not None:
        started = time.perf_counter() - sum(v["seconds"] for v in variants)
    row = {"case": case, "task": task, "model": kind, "steps": result.step,
           "seconds": round(time.perf_counter() - started, 1), "test": report["metrics"],
           "validation": result.best or result.last_eval, "run_dir": str(run_dir),
           "baselines": report.get("baselines", {}).get("metrics", {}),
           "parameters": sum(p.numel() for p in model.parameters()), "test_clips": config.data.test_clips,
           "validation_clips": config.data.validation_clips,
           "max_steps": config.train.steps, "max_seconds": config.train.max_seconds,
           "batch_size": config.train.batch_size}
    if variants is not None:
        row["variants"] = variants
    # a run trained further with `rnnkit resume` (train.steps raised) keeps its earlier legs' summaries
    earlier = sorted((json.loads(f.read_text()) for f in Path(run_dir).glob("summary-step*.json")),
                     key=lambda e: e["step"])
    if earlier:
        row["resumed_from"] = [e["step"] for e in earlier]
        row["seconds"] = round(row["seconds"] + sum(e["seconds"] for e in earlier), 1)
    print(f"  {case}: {row['steps']} steps, test {report['metrics']}", flush=True)
    return row


def resumed_note(rows: list[dict[str, Any]]) -> str:
    notes = [f" The run was trained to {', then '.join(map(str, r['resumed_from']))} steps (each leg with its report, "
             f"kept as summary-stepN.json), then resumed to {r['steps']} with `rnnkit resume` after train.steps was "
             "raised, because its validation curve was still rising; its seconds add every leg's."
             for r in rows if r.get("resumed_from")]
    return "".join(notes)


def ssim_8bit(metrics: dict[str, float], part: str) -> str:
    """The SSIM of 8-bit frames, or '-' in a run reported before rnnkit measured it."""
    value = metrics.get(f"{part}_ssim_8bit")
    return "-" if value is None else f"{value:.3f}"


def budget_sentence(rows: list[dict[str, Any]]) -> str:
    """The prediction models' training budget: one number of steps for all, or each model's own
    (runs trained by separate calls for the same time, say), with the cap in seconds if any."""
    budgets = {r["max_steps"] for r in rows}
    if len(budgets) == 1:
        steps = f"Each model trained for up to {rows[0]['max_steps']} steps"
    else:
        steps = "Each model trained for up to its own number of steps (" + \
            ", ".join(f"{MODELS[r['model']]} {r['max_steps']}" for r in rows) + ")"
    caps = {r.get("max_seconds") for r in rows}
    cap = f", capped at {caps.pop():.0f} seconds of training each" if len(caps) == 1 and None not in caps else ""
    return f"{steps} of {rows[0]['batch_size']} clips{cap}"


def render(rows: list[dict[str, Any]], info: dict[str, Any], seconds: float, args: argparse.Namespace) -> str:
    lines = ["# Video: frame prediction, action recognition and captioning on Moving MNIST", "", header(info), "",
             (f"{command_line('video.py')}{FROM_RUNS if args.from_runs else ''}. "
              f"Total time {seconds / 60:.1f} min. The weights "
              "kept are those of the best validation metric; each test part (held-out digits) is read once, by "
              "each run's report.")]
    predicted = [r for r in rows if r["task"] == "prediction"]
    if predicted:
        lines += ["", "## Frame prediction: 10 frames in, 10 out", "",
                  (f"{budget_sentence(predicted)} (early stopping may end it sooner) "
                   f"with the preset `{CONFIG}` (the FC-LSTM changes only `model.kind`); "
                   f"{predicted[0]['test_clips']:,} test clips."), "",
                  "| method | parameters | MSE per frame | MAE per frame | SSIM | SSIM, 8-bit frames | training steps | seconds |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for row in predicted:
            m = row["test"]
            lines.append(f"| {MODELS[row['model']]} | {row['parameters']:,} | {m['test_mse']:.1f} | "
                         f"{m['test_mae']:.1f} | {m['test_ssim']:.3f} | {ssim_8bit(m, 'test')} | {row['steps']} | "
                         f"{row['seconds']:.0f} |")
        for name, m in predicted[0]["baselines"].items():
            lines.append(f"| {name} (baseline) | 0 | {m['test_mse']:.1f} | {m['test_mae']:.1f} | "
                         f"{m['test_ssim']:.3f} | {ssim_8bit(m, 'test')} | - | - |")
        variants = next((r["variants"] for r in predicted if r.get("variants")), None)
        if variants:
            lines += ["", ("The ConvLSTM row is the variant with the lowest validation MSE; each variant trained with "
                           "its test part unread, and only the chosen one's was read (its seconds above add every "
                           f"variant's training). The variants, on the {predicted[0]['validation_clips']:,} validation clips:"), "",
                      "| variant | overrides | validation MSE | validation SSIM | SSIM, 8-bit frames | steps | seconds |",
                      "|---|---|---:|---:|---:|---:|---:|"]
            for v in variants:
                mark = " (chosen)" if v.get("chosen") else ""
                lines.append(f"| {v['name']}{mark} | `{'; '.join(v['overrides'])}` | {v['validation']['val_mse']:.1f} | "
                             f"{v['validation']['val_ssim']:.3f} | {ssim_8bit(v['validation'], 'val')} | "
                             f"{v['steps']} | {v['seconds']:.0f} |")
        lines += ["", ("Published MSE per frame (64x64, 10 -> 10), trained to the end on GPUs, on the published "
                  "10,000-clip test set:"), "", "| model | MSE per frame | source |", "|---|---:|---|",
                  *[f"| {name} | {value} | {source} |" for name, value, source in ANCHORS]]
    actions = [r for r in rows if r["task"] == "action"]
    if actions:
        lines += ["", "## Action recognition: 7 motion patterns, one digit, 20 frames", "",
                  (f"Each model, and each baseline, trained for up to {actions[0]['max_steps']} steps of "
                   f"{actions[0]['batch_size']} clips with the preset "
                   f"`{ACTION_CONFIG}` (only `model.kind` changes); {actions[0]['test_clips']:,} test clips, the "
                   "patterns in equal numbers."), "",
                  "| method | parameters | accuracy | macro F1 | training steps | seconds |",
                  "|---|---:|---:|---:|---:|---:|"]
        for row in actions:
            m = row["test"]
            lines.append(f"| {ACTION_MODELS[row['model']]} | {row['parameters']:,} | {m['test_accuracy']:.3f} | "
                         f"{m['test_macro_f1']:.3f} | {row['steps']} | {row['seconds']:.0f} |")
        for name, m in next((r["baselines"] for r in actions if r["baselines"]), {}).items():
            lines.append(f"| {name} (baseline) | - | {m['test_accuracy']:.3f} | {m['test_macro_f1']:.3f} | - | - |")
    captions = [r for r in rows if r["task"] == "caption"]
    if captions:
        lines += ["", "## Captioning: two digits, each with its own motion, 20 frames", "",
                  (f"The captioner{', and the slot-classifier baseline,' if captions[0]['baselines'] else ''} "
                   f"trained for up to {captions[0]['max_steps']} steps "
                   f"with the preset `{CAPTION_CONFIG}`; {captions[0]['test_clips']:,} test clips, beam search. The "
                   "text is templated (\"the digit 3 is moving left and right while the digit 7 is moving up and "
                   "down\"): the slot accuracies, read back from each caption, say what the model saw."
                   + resumed_note(captions)), "",
                  "| method | BLEU | exact match | digit 1 | motion 1 | digit 2 | motion 2 | slots | steps | seconds |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

        def cells(m: dict[str, float]) -> str:
            return " | ".join(f"{m.get('test_' + k, float('nan')):.3f}" for k in
                              ("digit_1", "motion_1", "digit_2", "motion_2", "slot_accuracy"))

        for row in captions:
            m = row["test"]
            lines.append(f"| CNN + LSTM encoder, attention decoder | {m['test_bleu']:.1f} | {m['test_exact']:.3f} | "
                         f"{cells(m)} | {row['steps']} | {row['seconds']:.0f} |")
            for name, b in row["baselines"].items():
                lines.append(f"| {name} (baseline) | {b['test_bleu']:.1f} | {b['test_exact']:.3f} | {cells(b)} | - "
                             "| - |")
    speed = [r for r in rows if r["task"] == "speed"]
    if speed:
        r = speed[0]
        T, B, C, side = r["shape"]
        lines += ["", "## ConvLSTM speed: the readable loop against torch.compile", "",
                  (f"`rk.ConvLSTM({C}, {C}, kernel_size=3)` forward + backward at T={T}, B={B}, {C} channels, "
                   f"{side}x{side}, on {r['device']}: median of interleaved samples. The convolutions are PyTorch's "
                   "(oneDNN on CPU, cuDNN on GPU) on both paths; compile fuses the gate arithmetic around them."), "",
                  "| path | ms per forward + backward | vs the loop |", "|---|---:|---:|",
                  f"| readable loop (eager) | {r['loop_seconds'] * 1000:.0f} | 1.00 |",
                  (f"| torch.compile (first call {r['compile_seconds']:.0f} s) | {r['compiled_seconds'] * 1000:.0f} | "
                  f"{r['loop_seconds'] / r['compiled_seconds']:.2f} |")]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> None:
    rows, info, seconds = run_cases(args.cases, lambda case: run_case(case, args), args.threads)
    markdown = render(rows, info, seconds, args)
    payload = {"machine": info, "seconds": round(seconds, 1), "steps": args.steps, "action_steps": args.action_steps,
               "caption_steps": args.caption_steps, "max_seconds": args.max_seconds,
               "overrides": args.set, "anchors": ANCHORS, "results": rows}
    md, js = write_results(args.name, markdown, payload, args.out)
    copies = {"prediction:convlstm": (("predictions.png", ".png"), ("prediction.gif", ".gif")),
              "action:lrcn": (("confusion.png", "-confusion.png"),),
              "caption:seq2seq": (("attention.png", "-attention.png"),)}
    for row in rows:
        for name, suffix in copies.get(row["case"], ()):
            if (Path(row["run_dir"]) / name).exists():
                shutil.copyfile(Path(row["run_dir"]) / name, args.out / f"{args.name}{suffix}")
    print(markdown)
    print(f"\nWrote {md} and {js}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    main(parser.parse_args())
