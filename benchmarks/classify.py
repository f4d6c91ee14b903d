"""The classification benchmark: rnnkit's recurrent classifier against 1-nearest-neighbour DTW.

One preset for every UEA/UCR set (``classify-basicmotions``, only ``data.name`` changes: no
per-set tuning), chosen on validation: each candidate of :data:`CANDIDATES` (overrides of the
preset) trains once (seed 0) on every set's training part, a stratified quarter of the official
training set held out, and the candidate with the best mean validation accuracy over the sets
wins; no test file is read for this. The winner then trains with several seeds and its test
accuracy is read once per run by the task's report; aeon's 1-NN classifier with full-window
dynamic time warping (dependent DTW for several channels, on the raw series, as in the UEA/UCR
archive's benchmarks) runs on the same official split (it needs no validation part: it has no
setting to choose). Writes ``classify.md``/``.json`` and ``classify.png``.

    python benchmarks/classify.py [--sets GunPoint OSULeaf] [--seeds 3] [--candidates ...] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common import add_quality_arguments, header, run_cases, write_results
from rnnkit.config import load_source
from rnnkit.data.datasets import load_classification
from rnnkit.tasks.classify import baselines
from rnnkit.tasks.core import registry, run
from rnnkit.tasks.core.metrics import classification_scores
from rnnkit.tasks.core.plotting import pyplot, save_figure
from rnnkit.training import fit

CONFIG = "classify-basicmotions"
SETS = ("BasicMotions", "JapaneseVowels", "GunPoint", "ArrowHead", "ItalyPowerDemand", "OSULeaf")
# candidate presets: overrides of the preset, compared on validation accuracy
CANDIDATES = {
    "cosine 600": ["train.early_stopping.metric=", "train.early_stopping.restore_best=false"],  # the final weights
    "cosine 600, early stopping": [],  # the preset as it ships (chosen on 2026-12-03: benchmarks/results/classify.md)
    "constant 300, no dropout": ["train.steps=300", "train.schedule.name=constant", "model.head_dropout=0.0",
                                 "train.early_stopping.metric=", "train.early_stopping.restore_best=false"],
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_quality_arguments(parser, "classify")
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS), help="which data sets")
    parser.add_argument("--config", default=CONFIG, help="a preset name or YAML file: preset every set trains with")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override the preset, e.g. --set model.recurrent.cell=lstm")
    parser.add_argument("--candidates", nargs="*", choices=list(CANDIDATES), default=list(CANDIDATES),
                        help="the candidates to choose among on validation (none: the preset as it is)")


def validation_accuracy(name: str, overrides: list[str], args: argparse.Namespace) -> float:
    """Seed 0 of the preset with ``overrides`` on set ``name``: the validation accuracy of the
    weights it keeps (trained and evaluated without a report: the test file stays unread)."""
    config = run.resolve_config(load_source(args.config), base_overrides(name, args) + overrides + ["train.seed=0"])
    torch.manual_seed(0)
    job = registry.get("classify").build(config)
    fit(job.model, job.step_fn, job.batches, config.train, evaluate=job.evaluate)
    job.model.eval()
    with torch.no_grad():
        return job.evaluate(job.model)["val_accuracy"]


def select(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The candidate with the best mean validation accuracy over the sets, and every score."""
    if len(args.candidates) <= 1:
        chosen = args.candidates[0] if args.candidates else "cosine 600, early stopping"
        return chosen, {}
    scores: dict[str, Any] = {}
    for candidate in args.candidates:
        per_set = {name: validation_accuracy(name, CANDIDATES[candidate], args) for name in args.sets}
        scores[candidate] = {"mean": statistics.fmean(per_set.values()), "sets": per_set}
        print(f"  candidate {candidate!r}: mean validation accuracy {scores[candidate]['mean']:.3f} "
              + " ".join(f"{k} {v:.2f}" for k, v in per_set.items()), flush=True)
    return max(scores, key=lambda c: scores[c]["mean"]), scores


def base_overrides(name: str, args: argparse.Namespace) -> list[str]:
    overrides = ["train.progress=false", f"data.name={name}"] + list(args.set)
    return overrides + (["train.steps=10", "train.eval_every=5"] if args.quick else [])


def one_nn_dtw(name: str) -> dict[str, Any]:
    """aeon's 1-NN DTW (full window) on the official split: accuracy, macro F1, seconds."""
    train, test = load_classification(name, "train"), load_classification(name, "test")
    started = time.perf_counter()
    predicted = baselines.one_nn_dtw(train, test.sequences)
    scores = classification_scores(test.labels, predicted, sorted(set(train.labels)))
    return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"],
            "seconds": round(time.perf_counter() - started, 1)}


def run_set(name: str, args: argparse.Namespace, chosen: list[str]) -> dict[str, Any]:
    config = run.resolve_config(load_source(args.config), base_overrides(name, args) + chosen)
    runs = []
    for seed in range(args.seeds):
        config.train.seed = seed
        started = time.perf_counter()
        _, result = run.train(config, args.out / "runs" / f"classify-{name}-seed{seed}")
        metrics = result.report["metrics"]
        runs.append({"seed": seed, "accuracy": metrics["test_accuracy"], "macro_f1": metrics["test_macro_f1"],
                     "seconds": round(time.perf_counter() - started, 1), "steps": result.step})
        print(f"  {name} rnnkit seed {seed}: accuracy {runs[-1]['accuracy']:.3f} ({runs[-1]['seconds']:.0f}s)",
              flush=True)
    dtw = one_nn_dtw(name)
    print(f"  {name} 1-NN DTW: accuracy {dtw['accuracy']:.3f} ({dtw['seconds']:.0f}s)", flush=True)
    train, test = load_classification(name, "train"), load_classification(name, "test")
    accuracies = [r["accuracy"] for r in runs]
    return {
        "set": name, "train": len(train), "test": len(test), "channels": train.num_channels,
        "length": f"{train.lengths.min()}-{train.lengths.max()}" if train.lengths.min() != train.lengths.max()
        else str(train.lengths.max()),
        "classes": len(set(train.labels)), "runs": runs,
        "rnnkit": {"accuracy": statistics.fmean(accuracies),
                   "accuracy_sd": statistics.stdev(accuracies) if len(runs) > 1 else 0.0,
                   "macro_f1": statistics.fmean(r["macro_f1"] for r in runs),
                   "seconds": statistics.fmean(r["seconds"] for r in runs)},
        "dtw": dtw,
    }


def render(results: list[dict[str, Any]], info: dict[str, Any], seconds: float, args: argparse.Namespace,
           model: str, chosen: str, selection: dict[str, Any]) -> str:
    lines = [
        "# Sequence classification: rnnkit vs 1-NN DTW on UEA/UCR sets", "", header(info), "",
        f"Total time {seconds / 60:.1f} min (the selection included). Official train/test splits; rnnkit trains on "
        f"three quarters of the official training set and holds a stratified quarter out for validation. One "
        f"preset for every set ({model}; `{Path(args.config).stem}` with only data.name changed), chosen on "
        f"validation as below; mean (sd) over {args.seeds} seeds of the test accuracy, read once per run by the "
        f"report. 1-NN DTW: aeon, full warping window, dependent DTW on the raw series, the whole official "
        f"training set (it has no setting to choose).", ""]
    if selection:
        lines += ["Candidates, mean validation accuracy over the sets (seed 0; the test files unread):", "",
                  "| candidate | mean | " + " | ".join(args.sets) + " |",
                  "|---|---:|" + "---:|" * len(args.sets)]
        for candidate, row in selection.items():
            mark = " (chosen)" if candidate == chosen else ""
            lines.append(f"| {candidate}{mark} | {row['mean']:.3f} | "
                         + " | ".join(f"{row['sets'][s]:.3f}" for s in args.sets) + " |")
        lines.append("")
    lines += [
        "| set | train/test | channels x length | classes | rnnkit accuracy | 1-NN DTW accuracy | rnnkit macro F1 | "
        "DTW macro F1 | rnnkit s/seed | DTW s | rnnkit > DTW |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    wins = ties = 0
    for r in results:
        ours, dtw = r["rnnkit"], r["dtw"]
        win = ours["accuracy"] > dtw["accuracy"]
        tie = ours["accuracy"] == dtw["accuracy"]
        wins += win
        ties += tie
        lines.append(
            f"| {r['set']} | {r['train']}/{r['test']} | {r['channels']} x {r['length']} | {r['classes']} | "
            f"{ours['accuracy']:.3f} ({ours['accuracy_sd']:.3f}) | {dtw['accuracy']:.3f} | {ours['macro_f1']:.3f} | "
            f"{dtw['macro_f1']:.3f} | {ours['seconds']:.0f} | {dtw['seconds']:.0f} | "
            f"{'yes' if win else 'tie' if tie else 'no'} |")
    lines += ["", f"rnnkit above 1-NN DTW on **{wins} of {len(results)}** sets ({ties} tied)."]
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], path: Path) -> Path | None:
    plt = pyplot()
    if plt is None:
        return None
    figure, axis = plt.subplots(figsize=(9, 4))
    x = np.arange(len(results))
    axis.bar(x - 0.2, [r["rnnkit"]["accuracy"] for r in results], 0.4,
             yerr=[r["rnnkit"]["accuracy_sd"] for r in results], label="rnnkit", capsize=3)
    axis.bar(x + 0.2, [r["dtw"]["accuracy"] for r in results], 0.4, label="1-NN DTW")
    axis.set_xticks(x, [r["set"] for r in results], rotation=20)
    axis.set_ylabel("test accuracy")
    axis.set_ylim(0, 1.05)
    axis.legend(loc="lower left")
    axis.set_title("Sequence classification on UEA/UCR sets (official splits)")
    return save_figure(figure, path)


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    chosen, selection = select(args)
    print(f"chosen on validation: {chosen!r}", flush=True)
    overrides = CANDIDATES[chosen]
    results, info, seconds = run_cases(args.sets, lambda case: run_set(case, args, overrides), args.threads)
    seconds = time.perf_counter() - started
    config = run.resolve_config(load_source(args.config), list(args.set) + overrides)
    m = config.model
    r = m.recurrent
    model = (f"{'bidirectional ' if r.bidirectional else ''}{r.cell.upper()} {r.hidden_size}, {m.pooling} pooling"
             + (f", conv front end {m.conv_channels}x{m.conv_kernel} pool {m.conv_pool}" if m.conv_channels else "")
             + f", {config.train.steps} steps")
    model += f" ({chosen})"
    markdown = render(results, info, seconds, args, model, chosen, selection)
    payload = {"machine": info, "seconds": round(seconds, 1), "seeds": args.seeds, "model": model, "chosen": chosen,
               "overrides": overrides, "selection": selection, "results": results}
    md, js = write_results(args.name, markdown, payload, args.out)
    plot(results, args.out / f"{args.name}.png")
    print(markdown)
    print(f"\nWrote {md} and {js}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    main(parser.parse_args())
