"""Baselines beside every result: the standard methods a user would otherwise reach for, run by
the report on the same parts as the model and scored by the same code, in one table.

A task gives the runner its baselines as ``baselines(job) -> Candidates``: named functions that
each return their test metrics (the same keys as the model's report: ``test_accuracy``,
``test_mase``, ...), and the names of those it leaves out with the reason (too slow for this
much data, not applicable). :func:`run_all` times each; a baseline that fails is reported as
skipped with its error, never the end of the report. :func:`compare` says, metric by metric,
which baselines beat the model, and :func:`render` prints the table.

They run after training, as part of the report: like the report, they read the test part once,
and nothing chooses anything by them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MODEL = "rnnkit"

# a metric's direction, by the words in its name
HIGHER = ("accuracy", "f1", "auc", "bleu", "chrf", "precision", "recall", "ssim", "exact", "digit", "motion")  # coverage: near its level
LOWER = ("mase", "smape", "mae", "rmse", "mse", "loss", "nll", "perplexity", "ppl", "bpc", "wer", "per", "cer", "ser",
         "bits")


@dataclass
class Candidates:
    """What a task offers: ``run`` name -> a function returning test metrics; ``skipped`` name -> why not."""

    run: dict[str, Callable[[], dict[str, float]]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def better(metric: str) -> str | None:
    """``"higher"`` or ``"lower"`` is better for ``metric`` (by its name), or None if unknown."""
    words = metric.removeprefix("test_").removeprefix("val_").split("_")
    if any(w in HIGHER for w in words):
        return "higher"
    if any(w in LOWER for w in words):
        return "lower"
    return None


def run_all(candidates: Candidates) -> dict[str, Any]:
    """Run every candidate; returns ``{"metrics": {name: {...}}, "seconds": {name: s}, "skipped": {name: why}}``."""
    metrics: dict[str, dict[str, float]] = {}
    seconds: dict[str, float] = {}
    skipped = dict(candidates.skipped)
    for name, fn in candidates.run.items():
        started = time.perf_counter()
        try:
            metrics[name] = {k: float(v) for k, v in fn().items()}
        except Exception as error:  # noqa: BLE001 - one baseline failing must not lose the report
            skipped[name] = f"failed: {type(error).__name__}: {str(error).strip()[:200]}"
            continue
        seconds[name] = round(time.perf_counter() - started, 2)
    return {"metrics": metrics, "seconds": seconds, "skipped": skipped}


def compare(model: dict[str, float], baselines: dict[str, Any]) -> dict[str, Any]:
    """The model's test metrics beside the baselines': which baselines beat it on which metric.

    Returns ``baselines`` with ``"beaten_by"``: ``[{"baseline", "metric", "baseline_value",
    "model_value"}, ...]`` (a tie is not a win) added."""
    beaten = []
    for name, scores in baselines["metrics"].items():
        for metric, value in scores.items():
            direction, mine = better(metric), model.get(metric)
            if direction is None or mine is None:
                continue
            if (value > mine) if direction == "higher" else (value < mine):
                beaten.append({"baseline": name, "metric": metric, "baseline_value": value, "model_value": mine})
    return {**baselines, "beaten_by": beaten}


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def render(model: dict[str, float], comparison: dict[str, Any], model_seconds: float | None = None) -> str:
    """The model and its baselines as a markdown table (test metrics, seconds), then one line per
    baseline that beats the model, and the skipped ones with their reasons."""
    rows = {MODEL: model, **comparison["metrics"]}
    metrics = [m for m in model if any(m in scores for scores in comparison["metrics"].values())] or list(model)
    seconds = {MODEL: model_seconds, **comparison["seconds"]}
    lines = ["| method | " + " | ".join(m.removeprefix("test_") for m in metrics) + " | seconds |",
             "|---|" + "---:|" * (len(metrics) + 1)]
    for name, scores in rows.items():
        lines.append(f"| {name} | " + " | ".join(_cell(scores.get(m)) for m in metrics) +
                     f" | {_cell(seconds.get(name))} |")
    by_baseline: dict[str, list[str]] = {}
    for win in comparison["beaten_by"]:
        by_baseline.setdefault(win["baseline"], []).append(
            f"{win['metric'].removeprefix('test_')} {win['baseline_value']:.4g} vs {win['model_value']:.4g}")
    for name, wins in by_baseline.items():
        lines.append(f"{name} beats the model: {'; '.join(wins)}")
    if comparison["metrics"] and not by_baseline:
        lines.append("no baseline beats the model on these metrics")
    for name, why in comparison["skipped"].items():
        lines.append(f"{name}: skipped ({why})")
    return "\n".join(lines)
