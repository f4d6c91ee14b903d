"""The anomaly benchmark: rnnkit's RNN detectors against a rolling z-score and an isolation forest.

For each labelled series (MIT-BIH ECG ``mitdb``, Yahoo S5 ``yahoo``) the preset
the preset ``anomaly-<series>`` fixes the split and the window. rnnkit's forecaster and
autoencoder detectors train with each seed on the fit part; the baselines see the same
parts: the rolling z-score needs no training, the isolation forest (scikit-learn) fits on
the fit part's windows of the same length. Every method's scores on the test part go
through the same metric code (ROC-AUC, PR-AUC, best F1 over thresholds). Writes
``anomaly.md``/``.json`` and ``anomaly_<series>.png``.

    python benchmarks/anomaly.py [--series mitdb] [--seeds 3] [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import add_quality_arguments, header, run_cases, write_results
from rnnkit.config import load_source
from rnnkit.data.datasets import ANOMALY_SETS
from rnnkit.data.timeseries import SeriesFrame
from rnnkit.tasks import anomaly
from rnnkit.tasks.anomaly.baselines import isolation_forest, rolling_zscore
from rnnkit.tasks.core import run
from rnnkit.tasks.core.metrics import detection_scores
from rnnkit.tasks.core.plotting import pyplot, save_figure

KINDS = ("forecaster", "autoencoder")
METRICS = ("roc_auc", "pr_auc", "best_f1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_quality_arguments(parser, "anomaly")
    parser.add_argument("--series", nargs="+", choices=ANOMALY_SETS, default=list(ANOMALY_SETS), help="which series")


def run_series(name: str, args: argparse.Namespace) -> dict[str, Any]:
    overrides = ["train.progress=false"] + (["train.steps=10", "train.eval_every=5"] if args.quick else [])
    base = load_source(f"anomaly-{name}")
    rows: dict[str, Any] = {}
    plotted: dict[str, np.ndarray] = {}
    frame: SeriesFrame | None = None
    test_start = 0
    for kind in KINDS:
        runs = []
        for seed in range(args.seeds):
            config = run.resolve_config(base, overrides + [f"model.kind={kind}", f"train.seed={seed}"])
            started = time.perf_counter()
            run_dir, result = run.train(config, args.out / "runs" / f"anomaly-{name}-{kind}-seed{seed}")
            seconds = time.perf_counter() - started
            metrics = result.report["metrics"]
            runs.append({"seed": seed, "seconds": round(seconds, 1), "steps": result.step,
                         **{k: metrics[k] for k in METRICS}, "threshold_f1": metrics["threshold_f1"],
                         "flagged_segments": result.report["segments"]})
            print(f"  {name} rnnkit {kind} seed {seed}: ROC-AUC {metrics['roc_auc']:.3f} "
                  f"PR-AUC {metrics['pr_auc']:.3f} ({seconds:.0f}s)", flush=True)
            if seed == 0:
                _, job = run.load_trained(run_dir)
                result_0 = anomaly.detect(job)
                frame, test_start = job.frame, result_0["test_start"]
                plotted[f"rnnkit {kind}"] = result_0["scores"]
        rows[f"rnnkit {kind}"] = _mean_over(runs)
        rows[f"rnnkit {kind}"]["runs"] = runs
    assert frame is not None
    window = config.model.window
    fit_end, _ = anomaly.split_points(len(frame), config.data)
    labels = frame.labels[test_start:]
    for method, make in (("rolling z-score", lambda: rolling_zscore(frame.values, window)),
                         ("isolation forest", lambda: isolation_forest(frame.values, window, fit_end, 0))):
        started = time.perf_counter()
        scores = make()
        metrics = detection_scores(labels, scores[test_start:])
        rows[method] = {**{k: metrics[k] for k in METRICS}, "seconds": round(time.perf_counter() - started, 1)}
        plotted[method] = scores
        print(f"  {name} {method}: ROC-AUC {metrics['roc_auc']:.3f} PR-AUC {metrics['pr_auc']:.3f}", flush=True)
    plot_scores(frame, plotted, test_start, args.out / f"{args.name}_{name}.png")
    return {"series": name, "points": len(frame), "test_points": len(labels), "test_anomalies": int(labels.sum()),
            "window": window, "fit_end": fit_end, "test_start": test_start, "methods": rows}


def _mean_over(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {k: statistics.fmean(r[k] for r in runs) for k in METRICS + ("threshold_f1", "seconds")}
    for k in METRICS:
        out[f"{k}_sd"] = statistics.stdev([r[k] for r in runs]) if len(runs) > 1 else 0.0
    return out


def plot_scores(frame: SeriesFrame, scores: dict[str, np.ndarray], test_start: int, path: Path) -> Path | None:
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
        axis.axvline(test_start, color="grey", linestyle="--", linewidth=1)
        for start, end in _runs(frame.labels):
            axis.axvspan(start, end + 1, color="tab:red", alpha=0.15)
    axes[0].set_title("Series (labelled anomalies in red) and each method's score; test part right of the dashes")
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
             f"Total time {seconds / 60:.1f} min. Scores on each series' test part (after the training part), one "
             f"metric code for all methods. rnnkit: mean (sd) over {seeds} seeds; best F1 is the best over all "
             f"thresholds, 'F1 at threshold' uses the detector's own threshold (a quantile of validation scores). "
             f"The isolation forest and the z-score use the detector's window.", ""]
    for r in results:
        lines += [f"## {r['series']}", "",
                  f"{r['points']} points; trained on the first {r['fit_end']} (+ validation up to {r['test_start']}); "
                  f"test part {r['test_points']} points with {r['test_anomalies']} labelled anomalous; window "
                  f"{r['window']}.", "",
                  "| method | ROC-AUC | PR-AUC | best F1 | F1 at threshold | seconds |",
                  "|---|---:|---:|---:|---:|---:|"]
        for method, row in r["methods"].items():
            cells = " | ".join(f"{row[k]:.3f}" + (f" ({row[k + '_sd']:.3f})" if k + "_sd" in row else "")
                               for k in METRICS)
            at = f"{row['threshold_f1']:.3f}" if "threshold_f1" in row else "-"
            lines.append(f"| {method} | {cells} | {at} | {row['seconds']:.0f} |")
        lines.append("")
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
