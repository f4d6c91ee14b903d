"""Forecast combinations: trained runs (seeds of a model, or different models) and the
statistical baselines, combined the way the validation origins choose.

Combining forecasts is the most dependable gain in forecasting: in the M4 competition,
combinations took 12 of the 17 best places, and Smyl's winning ES-RNN averaged many models
itself. Here the members are

- ``rnnkit``: the forecasts of the given runs averaged (one member, however many seeds), and
- the baselines a user would otherwise use: naive, seasonal naive (season > 1), ETS and ARIMA
  (these two on series short enough to fit them at every origin; see
  :func:`rnnkit.tasks.forecast.baselines.standard`),

and the candidates are each member alone, the mean and the median of all of them, the mean of
the ``k`` best (by validation MASE, for every ``k`` from 2 to all but one), and all of them
weighted by the inverse of their validation MASE. The candidate with the lowest MASE over the
validation origins (the points just before the test part; the runs' early stopping read them
too, so the runs' validation scores are a little flattering) is chosen, and only that one is
backtested on the test origins: the one read of the test part for the ensemble.

Library use::

    from rnnkit.tasks.forecast import ensemble
    result = ensemble.combine_runs(["runs/airline-seed0", "runs/airline-seed1"])
    result.chosen, result.weights, result.metrics["mase"]
    ensemble.combine({"LSTM": [...], "ES-RNN": [...]})   # several members of runs

``rnnkit ensemble RUN [NAME=RUN ...]`` prints the same and writes ``ensemble.json`` and
``ensemble_backtest.csv``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.timeseries import SeriesFrame
from rnnkit.tasks.core import run
from rnnkit.tasks.core.metrics import forecast_errors, mase_scale
from rnnkit.tasks.forecast import baselines as forecast_baselines
from rnnkit.tasks.forecast.config import ForecastDataConfig
from rnnkit.tasks.forecast.data import Prepared, backtest_origins
from rnnkit.tasks.forecast.task import Backtest, ForecastJob, predict

RNN = "rnnkit"
BASELINES = ("naive", "seasonal naive", "ETS", "ARIMA")
# a member's forecasts from each origin: point, lower, upper, (O, K, S) in the series' units
Forecasts = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]


@dataclass
class Candidate:
    """A combination: member name -> weight (summing to 1), or the median of ``members``."""

    name: str
    weights: dict[str, float]
    median: bool = False

    def apply(self, forecasts: dict[str, Forecasts]) -> Forecasts:
        names = list(self.weights)
        if self.median:
            stacked = [np.stack([forecasts[n][i] for n in names]) if all(forecasts[n][i] is not None for n in names)
                       else None for i in range(3)]
            return tuple(None if s is None else np.median(s, axis=0) for s in stacked)  # type: ignore[return-value]
        parts = []
        for i in range(3):
            if any(forecasts[n][i] is None for n in names):  # bounds only where every member has them
                parts.append(None)
                continue
            parts.append(sum(self.weights[n] * forecasts[n][i] for n in names))
        return parts[0], parts[1], parts[2]


def candidates(validation_mase: dict[str, float]) -> list[Candidate]:
    """The combinations tried, simplest first (a tie keeps the earlier): each member alone, the
    mean and the median of all, the mean of the k best for k = 2 .. n - 1, inverse-MASE weights."""
    names = list(validation_mase)
    out = [Candidate(f"{n} alone", {n: 1.0}) for n in names]
    if len(names) < 2:
        return out
    out.append(Candidate("mean of all", {n: 1 / len(names) for n in names}))
    if len(names) > 2:
        out.append(Candidate("median of all", {n: 1 / len(names) for n in names}, median=True))
    ranked = sorted(names, key=lambda n: validation_mase[n])
    for k in range(2, len(names)):
        out.append(Candidate(f"mean of the {k} best", {n: 1 / k for n in ranked[:k]}))
    inverse = {n: 1 / max(validation_mase[n], 1e-12) for n in names}
    total = sum(inverse.values())
    out.append(Candidate("inverse-MASE weights", {n: v / total for n, v in inverse.items()}))
    return out


def score(series: SeriesFrame, origins: list[int], data: ForecastDataConfig, forecasts: Forecasts) -> dict[str, float]:
    """The backtest metrics (:func:`rnnkit.tasks.forecast.backtest`'s) of forecasts already made."""
    ahead = np.asarray(origins)[:, None] + np.arange(data.horizon)[None, :]
    scale = np.stack([mase_scale(series.values[:o], data.season) for o in origins])
    return forecast_errors(series.values[ahead], forecasts[0], scale, forecasts[1], forecasts[2])


@dataclass
class EnsembleResult:
    """What :func:`combine_runs` chose and measured."""

    runs: list[str]
    chosen: str
    weights: dict[str, float]
    median: bool
    validation: dict[str, dict[str, float]]  # each candidate's validation metrics
    members: dict[str, dict[str, float]]  # each member's validation metrics
    skipped: dict[str, str]  # members left out, and why
    metrics: dict[str, float]  # the chosen combination's test metrics (the one read)
    backtest: Backtest
    series: SeriesFrame  # the whole series the test backtest read
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"runs": self.runs, "chosen": self.chosen, "weights": self.weights, "median": self.median,
                "validation": self.validation, "members": self.members, "skipped": self.skipped,
                "test": {f"test_{k}": v for k, v in self.metrics.items()}, "origins": self.backtest.origins}

    def text(self) -> str:
        lines = ["members on the validation origins (MASE): "
                 + ", ".join(f"{n} {m['mase']:.3f}" for n, m in self.members.items())]
        lines += [f"left out: {n} ({why})" for n, why in self.skipped.items()]
        best = sorted(self.validation.items(), key=lambda item: item[1]["mase"])[:5]
        lines.append("best combinations on validation: " + "; ".join(f"{n} {m['mase']:.3f}" for n, m in best))
        lines.append(f"chosen: {self.chosen} (" + ", ".join(f"{n} {w:.2f}" for n, w in self.weights.items()) + ")")
        lines.append("test (read once): " + ", ".join(f"{k} {v:.4g}" for k, v in self.metrics.items()))
        return "\n".join(lines + self.notes)


def _load(groups: Mapping[str, Sequence[str | Path]]) -> dict[str, list[tuple[Any, ForecastJob]]]:
    every = [d for dirs in groups.values() for d in dirs]
    if not every or any(not dirs for dirs in groups.values()):
        raise ValueError("ensemble: expected at least one forecasting run folder (in every member)")
    clash = set(groups) & set(BASELINES)
    if clash:
        raise ValueError(f"ensemble: member name {min(clash)!r} is a baseline's; expected another name")
    loaded = {name: [run.load_trained(d, "forecast", "forecasting") for d in dirs] for name, dirs in groups.items()}
    first = next(iter(loaded.values()))[0][0].data

    def key(d: ForecastDataConfig) -> tuple:
        return d.name, d.path, d.value_columns, d.horizon, d.test_size, d.validation_size, d.stride, d.season

    for (config, _), where in zip([pair for pairs in loaded.values() for pair in pairs], every):
        if key(config.data) != key(first):
            raise ValueError(f"{where}: its series, horizon, season or backtest parts differ from {every[0]}'s; "
                             f"expected runs of one series with the same data settings but for the model")
    if not first.validation_size:
        raise ValueError(f"{every[0]}: data.validation_size is 0; the ensemble is chosen on the validation "
                         f"origins, so expected runs trained with validation_size >= the horizon")
    return loaded


def combine_runs(run_dirs: Sequence[str | Path], baselines: bool = True) -> EnsembleResult:
    """Combine the forecasts of ``run_dirs`` (forecasting runs of one series, averaged as the
    member ``rnnkit``) with the baselines (``baselines=False``: the runs alone), choosing the
    combination on the validation origins and backtesting only it on the test origins (see the
    module docstring). :func:`combine` takes several members of runs."""
    return combine({RNN: list(run_dirs)}, baselines)


def combine(members: Mapping[str, Sequence[str | Path]], baselines: bool = True) -> EnsembleResult:
    """:func:`combine_runs` with several members of runs: name -> run folders (of one series),
    each member the mean of its runs' forecasts (seeds of one model, say ``{"LSTM": [...],
    "ES-RNN": [...]}``)."""
    loaded = _load(members)
    config, job = next(iter(loaded.values()))[0]
    data = config.data
    seen = job.prepared.frame  # the series before the test part: all that validation reads
    validation = backtest_origins(len(seen) + data.test_size, data, "validation")
    forecasts: dict[str, Forecasts] = {name: _mean([predict(j.model, j.prepared, validation) for _, j in pairs])
                                       for name, pairs in loaded.items()}
    skipped: dict[str, str] = {}
    makers = forecast_baselines.standard(seen, data) if baselines else {}
    for name, fn in makers.items():
        if isinstance(fn, str):
            skipped[name] = fn
        else:
            forecasts[name] = fn(validation)
    member_scores = {name: score(seen, validation, data, f) for name, f in forecasts.items()}
    tried = candidates({n: s["mase"] for n, s in member_scores.items()})
    validated = {c.name: score(seen, validation, data, c.apply(forecasts)) for c in tried}
    best = min(tried, key=lambda c: validated[c.name]["mase"])  # min keeps the first of equals: the simplest

    series = job.whole_series()  # the one read of the test part
    test = backtest_origins(len(series), data, "test")
    chosen: dict[str, Forecasts] = {}
    # the baselines validation had (the size judged by the part validation read)
    test_makers = forecast_baselines.standard(series, data, len(seen) * seen.num_series) \
        if set(best.weights) - set(loaded) else {}
    for name in best.weights:
        if name in loaded:
            chosen[name] = _mean([predict(j.model, Prepared(series, c.data, j.prepared.train_end), test)
                                  for c, j in loaded[name]])
        else:
            chosen[name] = test_makers[name](test)  # type: ignore[operator]
    combined = best.apply(chosen)
    notes = [f"{name}: {len(pairs)} runs averaged" for name, pairs in loaded.items() if len(pairs) > 1]
    return EnsembleResult([str(d) for dirs in members.values() for d in dirs], best.name, best.weights, best.median,
                          validated, member_scores, skipped, score(series, test, data, combined),
                          Backtest(test, *combined), series, notes)


def _mean(forecasts: list[Forecasts]) -> Forecasts:
    """The runs' forecasts averaged (each bound too, where every run has it)."""
    parts = []
    for i in range(3):
        values = [f[i] for f in forecasts]
        parts.append(None if any(v is None for v in values) else np.mean(values, axis=0))
    return parts[0], parts[1], parts[2]


def write(result: EnsembleResult, out: str | Path) -> list[Path]:
    """``ensemble.json`` (the choice, every candidate's validation score, the test metrics) and
    ``ensemble_backtest.csv`` (the chosen combination's test forecasts) in ``out``."""
    from rnnkit.files import atomic_open
    from rnnkit.tasks.forecast.task import write_backtest_csv

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / "ensemble.json", "w") as handle:
        json.dump(result.as_dict(), handle, indent=2)
    return [out / "ensemble.json", write_backtest_csv(result.series, result.backtest, out / "ensemble_backtest.csv")]
