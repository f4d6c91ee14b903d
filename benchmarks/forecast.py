"""The forecasting benchmark: rnnkit's forecaster against naive, seasonal naive, ETS and ARIMA.

For each series (airline, sunspots, taylor, heartrate, msft) the preset config
the preset ``forecast-<series>`` fixes the window, horizon, season, backtest origins and
the model. The RNN trains with each seed (early stopping on the validation origins), then
every method forecasts from the same test origins and is scored by the same code
(:func:`rnnkit.tasks.forecast.backtest`). Writes ``forecast.md``/``.json`` and one
``forecast_<series>.png`` per series (test period, the RNN and the best baseline).

    python benchmarks/forecast.py [--series airline taylor] [--seeds 3] [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

from common import add_quality_arguments, header, run_cases, write_results
from rnnkit.config import load_source
from rnnkit.data.datasets import FORECAST_SETS
from rnnkit.tasks import forecast
from rnnkit.tasks.core import run
from rnnkit.tasks.forecast import baselines as forecast_baselines
from rnnkit.tasks.forecast import ensemble as combinations

BASELINES = ("naive", "seasonal naive", "ETS", "ARIMA")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_quality_arguments(parser, "forecast")
    parser.add_argument("--series", nargs="+", choices=FORECAST_SETS, default=list(FORECAST_SETS), help="which series")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override every preset, e.g. --set model.recurrent.cell=gru")


def baseline_fns(frame: Any, data: forecast.ForecastDataConfig) -> dict[str, forecast.ForecastFn]:
    """The report's baselines (``baselines.standard``), every one run (the table's columns are
    fixed: at season 1 the seasonal naive column is the naive forecast)."""
    offered = forecast_baselines.standard(frame, data, size=0)
    offered.setdefault("seasonal naive", forecast_baselines.make_seasonal_naive(frame, data.horizon, data.season))
    return {name: offered[name] for name in BASELINES}


# ES-RNN: the preset with the exponential smoothing half (its own level and season; see rnnkit.models.forecaster)
ES_RNN = ["model.smoothing=es", "data.scaling=global", "data.anchor=none", "model.head=direct"]


def train_seeds(name: str, label: str, overrides: list[str], args: argparse.Namespace, origins: list[int]
                ) -> tuple[list[dict[str, Any]], list[Any], list[Any]]:
    """Train the preset of ``name`` with ``overrides`` once per seed; each run's report reads the test part
    once. Returns the runs' test metrics, their test forecasts (from backtest.csv) and their folders."""
    config = run.resolve_config(load_source(f"forecast-{name}"), overrides)
    runs, forecasts, folders = [], [], []
    for seed in range(args.seeds):
        config.train.seed = seed
        started = time.perf_counter()
        run_dir, result = run.train(config, args.out / "runs" / f"forecast-{name}-{label}-seed{seed}")
        seconds = time.perf_counter() - started
        metrics = {k.removeprefix("test_"): v for k, v in result.report["metrics"].items()}  # the report's one read
        saved = forecast.read_backtest_csv(run_dir / "backtest.csv")
        assert saved.origins == origins
        runs.append({"seed": seed, "seconds": round(seconds, 1), "steps": result.step, **metrics})
        forecasts.append((saved.point, saved.lower, saved.upper))
        folders.append(run_dir)
        print(f"  {name} {label} seed {seed}: MASE {metrics['mase']:.3f} ({seconds:.0f}s, {result.step} steps)",
              flush=True)
    return runs, forecasts, folders


def run_series(name: str, args: argparse.Namespace) -> dict[str, Any]:
    overrides = ["train.progress=false", *args.set]
    if args.quick:
        overrides += ["train.steps=20", "train.eval_every=10"]
    config = run.resolve_config(load_source(f"forecast-{name}"), overrides)
    frame = forecast.load_frame(config.data)
    origins = forecast.backtest_origins(len(frame), config.data, "test")
    data = config.data
    rows: dict[str, Any] = {}
    rnn_runs, seed_forecasts, run_dirs = train_seeds(name, "rnnkit", overrides, args, origins)
    rows["rnnkit"] = _mean_over(rnn_runs)
    # the seeds' forecasts averaged (point and each interval bound: quantile averaging)
    ensemble = tuple(None if parts[0] is None else np.mean(parts, axis=0) for parts in zip(*seed_forecasts))
    metrics, *_ = forecast.backtest(frame, origins, data.horizon, data.season, lambda o: ensemble)
    rows["rnnkit ensemble"] = {**metrics, "seconds": sum(r["seconds"] for r in rnn_runs)}
    es_runs, _, es_dirs = train_seeds(name, "es-rnn", overrides + ES_RNN, args, origins)
    rows["ES-RNN"] = _mean_over(es_runs)
    # the seeds of both models and the baselines combined, the combination chosen on the validation origins
    started = time.perf_counter()
    combined = combinations.combine({"rnnkit": run_dirs, "ES-RNN": es_dirs})
    rows["combination"] = {**combined.metrics, "seconds": round(time.perf_counter() - started, 1)}
    print(f"  {name} combination: {combined.chosen}, MASE {combined.metrics['mase']:.3f}", flush=True)
    forecasts = {"rnnkit": seed_forecasts[0][0]}
    for method, fn in baseline_fns(frame, data).items():
        started = time.perf_counter()
        metrics, point, *_ = forecast.backtest(frame, origins, data.horizon, data.season, fn)
        rows[method] = {**metrics, "seconds": round(time.perf_counter() - started, 1)}
        forecasts[method] = point
        print(f"  {name} {method}: MASE {metrics['mase']:.3f} ({rows[method]['seconds']:.0f}s)", flush=True)
    best = min(BASELINES, key=lambda b: rows[b]["mase"])
    forecast.plot_backtest(frame, origins, {"rnnkit": forecasts["rnnkit"], best: forecasts[best]},
                           args.out / f"{args.name}_{name}.png")
    return {"series": name, "points": len(frame), "horizon": data.horizon, "season": data.season,
            "origins": len(origins), "window": data.window, "transform": data.transform,
            "model": f"{config.model.recurrent.cell} {config.model.recurrent.hidden_size}, {config.model.head} head, "
                     f"{config.model.distribution} output",
            "best_baseline": best, "rnn_runs": rnn_runs, "methods": rows,
            "combination": {"chosen": combined.chosen, "weights": combined.weights,
                            "validation_mase": {k: v["mase"] for k, v in combined.members.items()}}}


def _mean_over(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k in runs[0] if k not in ("seed", "steps")]
    out = {k: statistics.fmean(r[k] for r in runs) for k in keys}
    out["mase_sd"] = statistics.stdev([r["mase"] for r in runs]) if len(runs) > 1 else 0.0
    return out


def render(results: list[dict[str, Any]], info: dict[str, Any], seconds: float, seeds: int) -> str:
    lines = [
        "# Forecasting: rnnkit vs naive, seasonal naive, ETS, ARIMA", "",
        header(info), "",
        f"Total time {seconds / 60:.1f} min. Rolling-origin backtest on each series' last points, "
        f"every method on the same origins and scored by the same code. rnnkit (one model): the mean "
        f"score of {seeds} seeds (sd of MASE in brackets); rnnkit (seed ensemble): those {seeds} models' "
        f"forecasts averaged. Each trained once before the first test origin with early stopping on "
        f"the validation origins before it; ETS refit at every origin (form chosen by AIC at the "
        f"first), ARIMA (pmdarima auto_arima, seasonal for seasons up to 24; longer ones such as taylor's "
        f"48 half-hours make the seasonal search too slow, so there it is non-seasonal) fit at the first "
        f"origin and updated with the new data at each later one. ES-RNN: the same preset with "
        f"`{' '.join('--set ' + o for o in ES_RNN)}` (Smyl 2020's hybrid: a learned smoothing level and "
        f"seasonal profile per series, the RNN correcting their forecast), {seeds} seeds. Combination "
        f"(`rnnkit ensemble`, `rnnkit.tasks.forecast.ensemble`): the mean of each model's {seeds} seeds "
        f"(rnnkit, ES-RNN) and the four baselines as members; each "
        f"member alone, the mean and median of all, the mean of the k best and inverse-MASE weights scored on "
        f"the validation origins, and only the best of them backtested on the test origins.", "",
        "## MASE (lower is better; < 1 beats the in-sample seasonal naive error)", "",
        "| series | points | horizon | season | origins | rnnkit (one model) | rnnkit (seed ensemble) | ES-RNN "
        "(one model) | combination | naive | seasonal naive | ETS | ARIMA | best baseline | one model <= best | "
        "ensemble <= best | ES-RNN <= best | combination <= best |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|:---:|:---:|:---:|:---:|",
    ]
    wins = {"rnnkit": 0, "rnnkit ensemble": 0, "ES-RNN": 0, "combination": 0}
    for r in results:
        m = r["methods"]
        best = m[r["best_baseline"]]["mase"]
        won = {k: m[k]["mase"] <= best for k in wins}
        for k in wins:
            wins[k] += won[k]
        cells = " | ".join(f"{m[b]['mase']:.3f}" for b in BASELINES)
        lines.append(f"| {r['series']} | {r['points']} | {r['horizon']} | {r['season']} | {r['origins']} | "
                     f"{m['rnnkit']['mase']:.3f} ({m['rnnkit']['mase_sd']:.3f}) | {m['rnnkit ensemble']['mase']:.3f} | "
                     f"{m['ES-RNN']['mase']:.3f} ({m['ES-RNN']['mase_sd']:.3f}) | "
                     f"{m['combination']['mase']:.3f} | {cells} | {r['best_baseline']} | "
                     + " | ".join("yes" if won[k] else "no" for k in wins) + " |")
    lines += ["", f"At or below the best baseline: one model (mean over seeds) on **{wins['rnnkit']} of "
              f"{len(results)}** series; the {seeds}-seed ensemble (forecasts averaged) on "
              f"**{wins['rnnkit ensemble']} of {len(results)}**; ES-RNN (mean over seeds) on "
              f"**{wins['ES-RNN']} of {len(results)}**; the combination chosen on validation on "
              f"**{wins['combination']} of {len(results)}**.", "",
              "The combinations the validation origins chose (validation MASE of each member):", ""]
    for r in results:
        c = r["combination"]
        lines.append(f"- {r['series']}: {c['chosen']} ("
                     + ", ".join(f"{n} {w:.2f}" for n, w in c["weights"].items()) + "); validation MASE "
                     + ", ".join(f"{n} {v:.3f}" for n, v in c["validation_mase"].items()))
    lines.append("")
    for r in results:
        lines += [f"## {r['series']}", "",
                  f"{r['points']} points, window {r['window']}, horizon {r['horizon']}, season {r['season']}, "
                  f"{r['origins']} test origins, transform {r['transform']}; model: {r['model']}.", "",
                  "| method | MAE | RMSE | sMAPE % | MASE | interval coverage | seconds |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for method, row in r["methods"].items():
            coverage = f"{row['coverage']:.2f}" if "coverage" in row else "-"
            lines.append(f"| {method} | {row['mae']:.4g} | {row['rmse']:.4g} | {row['smape']:.2f} | "
                         f"{row['mase']:.3f} | {coverage} | {row['seconds']:.1f} |")
        lines.append("")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> None:
    results, info, seconds = run_cases(args.series, lambda case: run_series(case, args), args.threads)
    markdown = render(results, info, seconds, args.seeds)
    payload = {"machine": info, "seconds": round(seconds, 1), "seeds": args.seeds, "results": results}
    md, js = write_results(args.name, markdown, _plain(payload), args.out)
    print(markdown)
    print(f"\nWrote {md} and {js}")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    main(parser.parse_args())
