"""Forecast combinations: the candidates and their weights by hand, and the choice on validation
origins end to end (two tiny trained runs beside the baselines, on a generated random walk)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnnkit.cli.main import main as cli
from rnnkit.config import from_dict
from rnnkit.tasks import forecast
from rnnkit.tasks.core import run
from rnnkit.tasks.forecast import ensemble


def test_candidates_and_their_weights() -> None:
    tried = ensemble.candidates({"rnnkit": 0.9, "naive": 1.2, "ETS": 0.6})
    names = [c.name for c in tried]
    assert names == ["rnnkit alone", "naive alone", "ETS alone", "mean of all", "median of all", "mean of the 2 best",
                     "inverse-MASE weights"]
    for c in tried:
        assert sum(c.weights.values()) == pytest.approx(1.0), c.name
    assert tried[5].weights == {"ETS": 0.5, "rnnkit": 0.5}  # the two lowest MASEs
    inverse = tried[6].weights
    assert inverse["ETS"] / inverse["naive"] == pytest.approx(1.2 / 0.6)
    assert [c.name for c in ensemble.candidates({"rnnkit": 1.0})] == ["rnnkit alone"]


def test_combinations_by_hand() -> None:
    a = (np.full((1, 2, 1), 1.0), np.full((1, 2, 1), 0.0), np.full((1, 2, 1), 2.0))
    b = (np.full((1, 2, 1), 4.0), None, None)
    c = (np.full((1, 2, 1), 10.0), None, None)
    members = {"a": a, "b": b, "c": c}
    point, lower, upper = ensemble.Candidate("w", {"a": 0.75, "b": 0.25}).apply(members)
    assert point == pytest.approx(np.full((1, 2, 1), 1.75)) and lower is None and upper is None  # b has no bounds
    point, lower, _ = ensemble.Candidate("a", {"a": 1.0}).apply(members)
    assert point == pytest.approx(a[0]) and lower == pytest.approx(a[1])
    point, *_ = ensemble.Candidate("median", {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, median=True).apply(members)
    assert point == pytest.approx(np.full((1, 2, 1), 4.0))


def random_walk(path, n=260, seed=0):
    steps = np.random.default_rng(seed).normal(0, 1, n)
    pd.DataFrame({"y": 100 + np.cumsum(steps)}).to_csv(path, index=False)
    return path


def walk_config(path, seed, validation_size=24):
    return from_dict(forecast.ForecastConfig, {
        "task": "forecast",
        "data": {"name": None, "path": str(path), "season": 1, "window": 20, "horizon": 4, "test_size": 24,
                 "validation_size": validation_size, "stride": 2},
        "model": {"recurrent": {"cell": "gru", "hidden_size": 8}},
        "train": {"steps": 40, "batch_size": 16, "eval_every": 20, "progress": False, "seed": seed,
                  "optimizer": {"name": "adam", "lr": 0.01},
                  "early_stopping": {"metric": "val_mase" if validation_size else "", "patience": 5,
                                     "restore_best": bool(validation_size)}},
    })


@pytest.mark.slow
def test_the_validation_origins_choose_and_the_test_scores_the_choice(tmp_path, capsys) -> None:
    path = random_walk(tmp_path / "walk.csv")
    runs = [run.train(walk_config(path, seed), tmp_path / f"run{seed}", baselines=False)[0] for seed in (0, 1)]
    result = ensemble.combine_runs(runs)
    # the choice is the candidate with the lowest validation MASE, among every one tried
    assert result.validation[result.chosen]["mase"] == min(v["mase"] for v in result.validation.values())
    assert {"rnnkit", "naive", "ETS", "ARIMA"} == set(result.members) and not result.skipped  # season 1: no seasonal
    assert len(result.validation) == len(ensemble.candidates({n: 1.0 for n in result.members}))
    # the test metrics are the chosen combination's, recomputed here from the members' own test forecasts
    series = forecast.load_frame(walk_config(path, 0).data)
    origins = forecast.backtest_origins(len(series), walk_config(path, 0).data, "test")
    assert result.backtest.origins == origins
    jobs = [run.load_trained(r, "forecast", "forecasting")[1] for r in runs]
    own = {"rnnkit": np.mean([forecast.predict(j.model, forecast.Prepared(series, j.config.data, j.prepared.train_end),
                                               origins)[0] for j in jobs], axis=0)}
    from rnnkit.tasks.forecast import baselines as forecast_baselines
    for name, fn in forecast_baselines.standard(series, walk_config(path, 0).data).items():
        own[name] = fn(origins)[0]
    expected = sum(w * own[n] for n, w in result.weights.items()) if not result.median else \
        np.median([own[n] for n in result.weights], axis=0)
    np.testing.assert_allclose(result.backtest.point, expected, rtol=1e-6)
    mase, *_ = forecast.backtest(series, origins, 4, 1, lambda o: (expected, None, None))
    assert result.metrics["mase"] == pytest.approx(mase["mase"])

    # runs alone: the one member, averaged
    alone = ensemble.combine_runs(runs, baselines=False)
    assert alone.chosen == "rnnkit alone" and set(alone.members) == {"rnnkit"}

    # two members of runs (two models, say), each averaging its own
    two = ensemble.combine({"a": [runs[0]], "b": [runs[1]]}, baselines=False)
    assert set(two.members) == {"a", "b"} and "mean of all" in two.validation
    with pytest.raises(ValueError, match="is a baseline's"):
        ensemble.combine({"ETS": runs})

    # the command: NAME=RUN members, the table and the files
    out = tmp_path / "ens"
    assert cli(["ensemble", f"first={runs[0]}", f"first={runs[1]}", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "first" in printed and "rnnkit " not in printed.split("\n")[0]
    assert f"chosen: {result.chosen.replace('rnnkit', 'first')}" in printed and "test (read once)" in printed
    assert (out / "ensemble.json").exists() and (out / "ensemble_backtest.csv").exists()


@pytest.mark.slow
def test_runs_must_share_the_series_and_validation(tmp_path, capsys) -> None:
    path = random_walk(tmp_path / "walk.csv")
    other = random_walk(tmp_path / "other.csv", seed=1)
    first = run.train(walk_config(path, 0), tmp_path / "a", baselines=False)[0]
    changed = walk_config(path, 0)
    changed.data.horizon = 3
    different = run.train(changed, tmp_path / "b", baselines=False)[0]
    with pytest.raises(ValueError, match="differ from"):
        ensemble.combine_runs([first, different])
    blind = walk_config(other, 0, validation_size=0)
    no_validation = run.train(blind, tmp_path / "c", baselines=False)[0]
    with pytest.raises(ValueError, match="validation_size is 0"):
        ensemble.combine_runs([no_validation])
    with pytest.raises(ValueError, match="at least one"):
        ensemble.combine_runs([])
    assert cli(["ensemble", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err


def test_the_standard_baselines_and_the_size_that_decides_them() -> None:
    from rnnkit.data.timeseries import from_pandas
    from rnnkit.tasks.forecast import baselines as forecast_baselines

    frame = from_pandas(pd.Series(np.arange(60.0) + np.sin(np.arange(60)), name="y"))
    data = forecast.ForecastDataConfig(name=None, path="x.csv", season=12, horizon=3, window=12, test_size=6)
    offered = forecast_baselines.standard(frame, data)
    assert set(offered) == {"naive", "seasonal naive", "ETS", "ARIMA"} and all(callable(f) for f in offered.values())
    big = forecast_baselines.standard(frame, data, size=forecast_baselines.MAX_MODEL_BASELINE_POINTS + 1)
    assert isinstance(big["ETS"], str) and "too slow" in big["ARIMA"] and callable(big["naive"])
    data.season = 1
    assert "seasonal naive" not in forecast_baselines.standard(frame, data)
