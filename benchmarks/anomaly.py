"""The anomaly benchmark: rnnkit's RNN detectors against a rolling z-score and an isolation forest.

For each labelled series (MIT-BIH ECG ``mitdb``, Yahoo S5 ``yahoo``) the preset
``anomaly-<series>`` fixes the split (fit | validation | test) and the window. rnnkit's
forecaster and autoencoder detectors train with each seed on the fit part and stop on the
validation loss; the baselines see the same parts: the rolling z-score needs no training, the
isolation forest (scikit-learn) fits on the fit part's windows of the same length.

Every method's threshold is chosen on the validation part by one rule
(:func:`rnnkit.tasks.anomaly.choose_threshold`): the best validation F1 where validation has
labelled anomalies, else a quantile of the validation scores, no labels used. Every method is
scored on the test part, once, by the same code: ROC-AUC and PR-AUC (threshold-free) and
precision, recall and F1 at its validation threshold. No number here chooses anything on test.

``--select KEY=A,B`` (e.g. ``detection.adapt=0,32``) first trains the forecaster with each value
(one seed), compares them on validation (PR-AUC where validation is labelled, else the validation
loss) and benchmarks the winner; the losers' test scores are never computed.

    python benchmarks/anomaly.py [--series mitdb] [--seeds 3] [--select detection.adapt=0,32] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common import add_quality_arguments, header, run_cases, write_results
from rnnkit.config import load_source
from rnnkit.data.datasets import ANOMALY_SETS
from rnnkit.data.timeseries import SeriesFrame
from rnnkit.tasks import anomaly
from rnnkit.tasks.anomaly.baselines import isolation_forest, rolling_zscore
from rnnkit.tasks.core import registry, run
from rnnkit.tasks.core.plotting import pyplot, save_figure
from rnnkit.training import fit, seed_everything

KINDS = ("forecaster", "autoencoder")
METRICS = ("roc_auc", "pr_auc", "f1", "precision", "recall")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_quality_arguments(parser, "anomaly")
    parser.add_argument("--series", nargs="+", choices=ANOMALY_SETS, default=list(ANOMALY_SETS), help="which series")
    parser.add_argument("--select", action="append", default=[], metavar="KEY=A,B",
                        help="choose a setting among values on validation before benchmarking (repeatable)")


def overrides_for(args: argparse.Namespace) -> list[str]:
    return ["train.progress=false"] + (["train.steps=10", "train.eval_every=5"] if args.quick else [])


def validation_score(base: dict[str, Any], overrides: list[str], labelled: bool) -> float:
    """Train the forecaster with ``overrides`` (no report: test unread) and return what validation
    says of it, higher is better: PR-AUC when validation has labelled anomalies, else minus the loss."""
    config = run.resolve_config(base, overrides + ["model.kind=forecaster", "train.seed=0"])
    seed_everything(0)
    job = registry.get("anomaly").build(config)
    result = fit(job.model, job.step_fn, job.batches, config.train, evaluate=job.evaluate)
    best = result.best or result.last_eval
    return best["val_pr_auc"] if labelled else -best["val_loss"]


def select(name: str, base: dict[str, Any], args: argparse.Namespace) -> tuple[list[str], list[dict[str, Any]]]:
    """Apply each ``--select KEY=A,B`` in turn, keeping the value that validation prefers."""
    chosen, trials = [], []
    labelled = None
    for spec in args.select:
        key, _, values = spec.partition("=")
        scores = {}
        for value in values.split(","):
            if labelled is None:
                job = registry.get("anomaly").build(run.resolve_config(base, overrides_for(args)))
                labels = job.seen.labels
                labelled = labels is not None and 0 < labels[job.fit_end:].sum() < len(labels) - job.fit_end
            scores[value] = validation_score(base, overrides_for(args) + chosen + [f"{key}={value}"], labelled)
            print(f"  {name} select {key}={value}: validation {'PR-AUC' if labelled else '-loss'} "
                  f"{scores[value]:.4f}", flush=True)
        best = max(scores, key=scores.get)
        chosen.append(f"{key}={best}")
        trials.append({"key": key, "scores": scores, "chosen": best,
                       "criterion": "validation PR-AUC" if labelled else "validation loss"})
    return chosen, trials


def run_series(name: str, args: argparse.Namespace) -> dict[str, Any]:
    base = load_source(f"anomaly-{name}")
    chosen, trials = select(name, base, args)
    rows: dict[str, Any] = {}
    plotted: dict[str, np.ndarray] = {}
    for kind in KINDS:
        runs = []
        for seed in range(args.seeds):
            config = run.resolve_config(base, overrides_for(args) + chosen + [f"model.kind={kind}", f"train.seed={seed}"])
            started = time.perf_counter()
            run_dir, result = run.train(config, args.out / "runs" / f"anomaly-{name}-{kind}-seed{seed}")
            seconds = time.perf_counter() - started
            metrics = {k.removeprefix("test_"): v for k, v in result.report["metrics"].items()}
            runs.append({"seed": seed, "seconds": round(seconds, 1), "steps": result.step,
                         **{k: metrics[k] for k in METRICS}, "threshold_rule": result.report["threshold_rule"],
                         "flagged_segments": result.report["segments"]})
            print(f"  {name} rnnkit {kind} seed {seed}: ROC-AUC {metrics['roc_auc']:.3f} PR-AUC {metrics['pr_auc']:.3f} "
                  f"F1 {metrics['f1']:.3f} ({seconds:.0f}s)", flush=True)
            if seed == 0:  # the report's scores, as it wrote them
                plotted[f"rnnkit {kind}"] = pd.read_csv(run_dir / "scores.csv")["score"].to_numpy()
        rows[f"rnnkit {kind}"] = {**_mean_over(runs), "runs": runs, "threshold_rule": runs[0]["threshold_rule"]}
    series = anomaly.load_frame(config.data)
    window = config.model.window
    fit_end, test_start = anomaly.split_points(len(series), config.data)
    labels = series.labels
    for method, make in (("rolling z-score", lambda: rolling_zscore(series.values, window)),
                         ("isolation forest", lambda: isolation_forest(series.values, window, fit_end, 0))):
        started = time.perf_counter()
        scores = make()
        metrics = anomaly.threshold_metrics(scores, labels, fit_end, test_start, config.detection)
        rows[method] = {**metrics, "seconds": round(time.perf_counter() - started, 1)}
        plotted[method] = scores
        print(f"  {name} {method}: ROC-AUC {metrics['roc_auc']:.3f} PR-AUC {metrics['pr_auc']:.3f} "
              f"F1 {metrics['f1']:.3f}", flush=True)
    plot_scores(series, plotted, fit_end, test_start, args.out / f"{args.name}_{name}.png")
    return {"series": name, "points": len(series), "test_points": len(series) - test_start,
            "test_anomalies": int(labels[test_start:].sum()),
            "validation_anomalies": int(labels[fit_end:test_start].sum()), "window": window, "fit_end": fit_end,
            "test_start": test_start, "selected": chosen, "selection": trials, "methods": rows}


def _mean_over(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {k: statistics.fmean(r[k] for r in runs) for k in METRICS + ("seconds",)}
    for k in METRICS:
        out[f"{k}_sd"] = statistics.stdev([r[k] for r in runs]) if len(runs) > 1 else 0.0
    return out


def plot_scores(frame: SeriesFrame, scores: dict[str, np.ndarray], fit_end: int, test_start: int,
                path: Path) -> Path | None:
    plt = pyplot()
    if plt is None:
        return None
    figure, axes = plt.subplots(len(scores) + 1, 1, figsize=(12, 1.8 * (len(scores) + 1)), sharex=True)
    t = np.arange(len(frame))
    axes[0].plot(t, frame.values[:, 0], color="black", linewidth=0.7)
    marked = np.flatnonzero(frame.labels)
    axes[0].scatter(marked, frame.values[marked, 0], s=6, color="tab:red", zorder=3, label="labelled anomaly")
    axes[0].legend(loc="upper left")
    for axis, (name, s) in zip(axes[1:], scores.items()):
        axis.plot(t, s, linewidth=0.7)
        axis.set_ylabel(name, rotation=0, ha="right", fontsize=8)
    for axis in axes:
        axis.axvline(fit_end, color="grey", linestyle=":", linewidth=1)
        axis.axvline(test_start, color="grey", linestyle="--", linewidth=1)
        for start, end in _runs(frame.labels):
            axis.axvspan(start, end + 1, color="tab:red", alpha=0.15)
    axes[0].set_title("Series (labelled anomalies in red) and each method's score; validation between the dots and the dashes, test right of the dashes")
    return save_figure(figure, path)


def _runs(labels: np.ndarray) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for t in np.flatnonzero(labels):
        if found and t == found[-1][1] + 1:
            found[-1] = (found[-1][0], int(t))
        else:
            found.append((int(t), int(t)))
    return found


def render(results: list[dict[str, Any]], info: dict[str, Any], seconds: float, seeds: int) -> str:
    lines = ["# Anomaly detection: rnnkit vs rolling z-score and isolation forest", "", header(info), "",
             f"Total time {seconds / 60:.1f} min. Each series split by time into fit | validation | test. Every "
             f"method's threshold is chosen on the validation part (the best validation F1 where validation has "
             f"labelled anomalies, else a quantile of its scores, no labels used) and every method is scored once on "
             f"the test part by the same code. rnnkit: mean (sd) over {seeds} seeds. ROC-AUC and PR-AUC need no "
             f"threshold; precision, recall and F1 are at the validation threshold. The isolation forest and the "
             f"z-score use the detector's window.", ""]
    for r in results:
        lines += [f"## {r['series']}", "",
                  f"{r['points']} points: fit {r['fit_end']}, validation {r['test_start'] - r['fit_end']} "
                  f"({r['validation_anomalies']} labelled anomalous), test {r['test_points']} "
                  f"({r['test_anomalies']} labelled anomalous); window {r['window']}.", ""]
        for trial in r["selection"]:
            scores = ", ".join(f"{v}: {s:.4f}" for v, s in trial["scores"].items())
            lines += [f"Selected on {trial['criterion']}: {trial['key']} = {trial['chosen']} ({scores}).", ""]
        lines += ["| method | ROC-AUC | PR-AUC | F1 at the validation threshold | precision | recall | seconds |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for method, row in r["methods"].items():
            cells = " | ".join(f"{row[k]:.3f}" + (f" ({row[k + '_sd']:.3f})" if k + "_sd" in row else "")
                               for k in METRICS)
            lines.append(f"| {method} | {cells} | {row['seconds']:.0f} |")
        rules = {row["threshold_rule"].split(" (")[0] for row in r["methods"].values()}
        lines += ["", "Every method's threshold: " + "; ".join(sorted(rules)) + ".", ""]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> None:
    results, info, seconds = run_cases(args.series, lambda case: run_series(case, args), args.threads)
    markdown = render(results, info, seconds, args.seeds)
    md, js = write_results(args.name, markdown, {"machine": info, "seconds": round(seconds, 1), "seeds": args.seeds,
                                                 "results": results}, args.out)
    print(markdown)
    print(f"\nWrote {md} and {js}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    main(parser.parse_args())
