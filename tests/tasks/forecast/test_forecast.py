"""Forecasting: metrics by hand, the model's heads and losses, scaling round trips, baselines,
and the task end to end on a generated series (CSV in, run folder, `rnnkit forecast`)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from rnnkit.cli.main import main as cli
from rnnkit.config import ConfigError, from_dict
from rnnkit.data.timeseries import from_pandas
from rnnkit.models import RecurrentConfig
from rnnkit.models.forecaster import Forecaster, ForecasterConfig, pinball_loss
from rnnkit.tasks import forecast
from rnnkit.tasks.core import run
from rnnkit.tasks.core.metrics import forecast_errors, mase_scale
from rnnkit.tasks.forecast import baselines as forecast_baselines


# -- metrics ---------------------------------------------------------------------------------
def test_forecast_metrics_by_hand():
    history = np.array([[1.0], [3.0], [2.0], [6.0]])  # |diffs| 2, 1, 4 -> naive scale 7/3
    scale = mase_scale(history, 1)
    assert scale[0] == pytest.approx(7 / 3)
    actual = np.array([[[4.0], [2.0]]])  # (O=1, K=2, S=1)
    point = np.array([[[5.0], [2.0]]])
    lower, upper = point - 0.5, point + 0.5
    scores = forecast_errors(actual, point, scale[None], lower, upper)
    assert scores["mae"] == pytest.approx(0.5)
    assert scores["rmse"] == pytest.approx(math.sqrt(0.5))
    assert scores["smape"] == pytest.approx(100 * (2 * 1 / 9 + 0) / 2)
    assert scores["mase"] == pytest.approx(0.5 / (7 / 3))
    assert scores["coverage"] == pytest.approx(0.5)  # 4 is outside [4.5, 5.5], 2 inside
    seasonal = mase_scale(np.array([[1.0], [2.0], [4.0], [5.0]]), 2)  # |4-1|, |5-2|
    assert seasonal[0] == pytest.approx(3.0)


def test_missing_actuals_are_left_out_of_every_metric():
    actual = np.array([[[1.0], [np.nan]]])
    scores = forecast_errors(actual, np.array([[[2.0], [100.0]]]), np.ones((1, 1)))
    assert scores["mae"] == pytest.approx(1.0) and scores["rmse"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="expected more than season=4"):
        mase_scale(np.ones((3, 1)), 4)


def test_pinball_loss_by_hand():
    predicted = torch.tensor([[1.0, 2.0, 3.0]])  # quantiles 0.1, 0.5, 0.9
    target = torch.tensor([2.5])
    levels = torch.tensor([0.1, 0.5, 0.9])
    # errors y - q: 1.5, 0.5, -0.5 -> 0.1*1.5, 0.5*0.5, (0.9-1)*(-0.5)
    expected = (0.15 + 0.25 + 0.05) / 3
    assert pinball_loss(predicted, target, levels).item() == pytest.approx(expected)


# -- the model -------------------------------------------------------------------------------
def make_model(head="direct", distribution="point", cell="lstm", horizon=4, covariates=2):
    torch.manual_seed(0)
    config = ForecasterConfig(RecurrentConfig(cell=cell, hidden_size=8), head=head, distribution=distribution)
    return Forecaster(2, covariates, horizon, config)


@pytest.mark.parametrize("head", ["direct", "seq2seq"])
@pytest.mark.parametrize("distribution", ["point", "gaussian", "quantile"])
def test_forecaster_shapes_and_losses(head, distribution):
    model = make_model(head, distribution)
    history, future = torch.randn(6, 3, 4), torch.randn(4, 3, 2)
    params = model(history, future, torch.randn(3, 2))
    assert params.shape == (4, 3, 2, model.P)
    target, observed = torch.randn(4, 3, 2), torch.ones(4, 3, 2, dtype=torch.bool)
    loss = model.loss(params, target, observed)
    if distribution == "gaussian":
        reference = -torch.distributions.Normal(params[..., 0], model.std(params)).log_prob(target).mean()
        assert loss.item() == pytest.approx(reference.item(), rel=1e-6)
    if distribution == "point":
        assert loss.item() == pytest.approx((params[..., 0] - target).abs().mean().item(), rel=1e-6)
    bounds = model.interval(params, 0.8)
    assert (bounds is None) == (distribution == "point")
    if bounds is not None:
        assert (bounds[0] <= bounds[1]).all()


def test_masked_targets_do_not_count():
    model = make_model()
    params = model(torch.randn(6, 3, 4), torch.randn(4, 3, 2), torch.randn(3, 2))
    target = torch.randn(4, 3, 2)
    observed = torch.rand(4, 3, 2) > 0.5
    changed = torch.where(observed, target, torch.full_like(target, 1e6))
    assert model.loss(params, changed, observed).item() == pytest.approx(model.loss(params, target, observed).item())


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_seq2seq_recursion_equals_teacher_forcing_on_its_own_forecasts(cell):
    """Fed back its own point forecasts, the recursive decoder is the teacher-forced one."""
    model = make_model("seq2seq", "quantile", cell).double()
    history, future, last = torch.randn(6, 3, 4).double(), torch.randn(4, 3, 2).double(), torch.randn(3, 2).double()
    anchor = torch.randn(4, 3, 2).double()
    recursive = model(history, future, last, anchor=anchor)
    forced = model(history, future, last, targets=model.point(recursive), anchor=anchor)
    torch.testing.assert_close(forced, recursive, rtol=0, atol=1e-12)
    longer = model(history, torch.randn(7, 3, 2).double(), last, horizon=7)  # past the trained horizon
    assert longer.shape[0] == 7


def test_direct_head_horizon_and_config_errors():
    model = make_model()
    with pytest.raises(ValueError, match="forecasts exactly 4 steps, got 6"):
        model(torch.randn(6, 3, 4), torch.randn(6, 3, 2), torch.randn(3, 2), horizon=6)
    with pytest.raises(ValueError, match="increasing levels"):
        ForecasterConfig(distribution="quantile", quantiles=[0.9, 0.1])
    with pytest.raises(ValueError, match="model.recurrent.bidirectional: .*expected bidirectional: false"):
        ForecasterConfig(RecurrentConfig(bidirectional=True), head="seq2seq")


def test_quantile_intervals_at_the_level_asked_for():
    """The interval is read between the learned quantiles at the requested level, not the
    outermost quantiles whatever the level; a level past them is an error."""
    model = Forecaster(1, 0, 2, ForecasterConfig(distribution="quantile", quantiles=[0.1, 0.5, 0.9]))
    params = torch.tensor([[[[1.0, 3.0, 9.0]]], [[[0.0, 0.0, 4.0]]]])  # (K=2, B=1, S=1, Q=3)
    lower, upper = model.interval(params, 0.8)  # exactly the 0.1 and 0.9 quantiles
    assert lower.flatten().tolist() == [1.0, 0.0] and upper.flatten().tolist() == [9.0, 4.0]
    lower, upper = model.interval(params, 0.4)  # 0.3 and 0.7: halfway between 0.1/0.5 and 0.5/0.9
    assert lower.flatten().tolist() == pytest.approx([2.0, 0.0]) and upper.flatten().tolist() == pytest.approx([6.0, 2.0])
    with pytest.raises(ValueError, match="a 95% interval needs the quantiles 0.025 and 0.975, outside"):
        model.interval(params, 0.95)
    with pytest.raises(ConfigError, match="data.interval: a 95% interval needs the quantiles"):
        run.resolve_config({"task": "forecast", "data": {"interval": 0.95}, "model": {"distribution": "quantile"}})


# -- data preparation and the backtest ---------------------------------------------------------
def seasonal_series(n=240, period=12, noise=0.0, seed=0, positive=True):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = 10 + 0.02 * t + 3 * np.sin(2 * np.pi * t / period) + noise * rng.standard_normal(n)
    return pd.Series(values if positive else values - 20, index=pd.date_range("2000-01-01", periods=n, freq="MS"),
                     name="y")


@pytest.mark.parametrize("scaling", ["window", "global"])
@pytest.mark.parametrize("transform", ["none", "log"])
def test_scaling_round_trip_and_anchors(scaling, transform):
    frame = from_pandas(seasonal_series())
    config = forecast.ForecastDataConfig(name=None, path="unused.csv", window=24, horizon=6, season=12,
                                         scaling=scaling, transform=transform, anchor="season")
    prepared = forecast.Prepared(frame, config, 200)
    origins = [30, 100, 150]
    batch = prepared.batch(origins)
    back = prepared.unscale(batch.targets, batch)  # (O, K, S)
    actual = frame.values[np.asarray(origins)[:, None] + np.arange(6)]
    np.testing.assert_allclose(back, actual, rtol=1e-5)
    seasonal_naive = frame.values[np.asarray(origins)[:, None] + np.arange(6) - 12]
    np.testing.assert_allclose(prepared.unscale(batch.anchor, batch), seasonal_naive, rtol=1e-5)


def test_a_zero_network_forecasts_its_anchor():
    """With the head's weights zeroed, the forecast is the naive forecast, in the series' units."""
    frame = from_pandas(seasonal_series())
    config = forecast.ForecastDataConfig(name=None, path="unused.csv", window=24, horizon=6, transform="log")
    prepared = forecast.Prepared(frame, config, 200)
    model = Forecaster(1, 0, 6, ForecasterConfig(RecurrentConfig(hidden_size=4)))
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    point, _, _ = forecast.predict(model, prepared, [50, 120])
    np.testing.assert_allclose(point[:, :, 0], np.repeat(frame.values[[49, 119]], 6, axis=1), rtol=1e-5)


def test_backtest_origins_and_split_checks():
    config = forecast.ForecastDataConfig(name=None, path="x.csv", window=10, horizon=3, test_size=9,
                                         validation_size=6, stride=2)
    assert forecast.backtest_origins(100, config, "test") == [91, 93, 95, 97]
    assert forecast.backtest_origins(100, config, "validation") == [85, 87]
    with pytest.raises(ValueError, match="test_size: expected at least the horizon"):
        forecast.ForecastDataConfig(horizon=12, test_size=5)
    with pytest.raises(ValueError, match="exactly one of name and path"):
        forecast.ForecastDataConfig(name="airline", path="x.csv")
    with pytest.raises(ValueError, match="window >= season"):
        forecast.ForecastDataConfig(anchor="season", season=12, window=6)


def test_baselines_by_hand():
    values = np.arange(30, dtype=float)
    frame = from_pandas(pd.Series(values, index=pd.RangeIndex(30, name="t")))
    naive, _, _ = forecast_baselines.make_naive(frame, 3)([10, 20])
    assert naive[:, :, 0].tolist() == [[9, 9, 9], [19, 19, 19]]
    seasonal, _, _ = forecast_baselines.make_seasonal_naive(frame, 5, 4)([10])
    assert seasonal[0, :, 0].tolist() == [6, 7, 8, 9, 6]  # one season back, repeating past the season


def test_ets_and_arima_follow_a_clean_trend():
    frame = from_pandas(pd.Series(5.0 + 0.5 * np.arange(80), index=pd.RangeIndex(80, name="t")))
    truth = 5.0 + 0.5 * (70 + np.arange(4))
    ets, _, _ = forecast_baselines.make_ets(frame, 4, 1)([70])
    np.testing.assert_allclose(ets[0, :, 0], truth, atol=0.05)
    arima, lower, upper = forecast_baselines.make_arima(frame, 4, 1)([70])
    np.testing.assert_allclose(arima[0, :, 0], truth, atol=0.05)
    assert (lower <= arima).all() and (arima <= upper).all()


# -- end to end --------------------------------------------------------------------------------
def write_series(path, n=200, gaps=False):
    series = seasonal_series(n, noise=0.1)
    frame = pd.DataFrame({"month": series.index.strftime("%Y-%m-%d"), "sales": series.to_numpy()})
    if gaps:
        frame.loc[[40, 41, 90], "sales"] = np.nan
    frame.to_csv(path, index=False)
    return path


def tiny_config(path, **data):
    return from_dict(forecast.ForecastConfig, {
        "task": "forecast",
        "data": {"name": None, "path": str(path), "time_column": "month", "season": 12, "window": 24, "horizon": 6,
                 "test_size": 24, "validation_size": 12, "stride": 6, "calendar": ["month"], **data},
        "model": {"recurrent": {"cell": "gru", "hidden_size": 16}, "distribution": "quantile"},
        "train": {"steps": 150, "batch_size": 32, "eval_every": 50, "progress": False,
                  "optimizer": {"name": "adam", "lr": 0.01},
                  "early_stopping": {"metric": "val_mase", "patience": 10, "restore_best": True}},
    })


@pytest.mark.slow
def test_forecast_task_end_to_end(tmp_path, capsys):
    path = write_series(tmp_path / "sales.csv")
    run_dir, result = run.train(tiny_config(path), tmp_path / "run")
    metrics = result.report["metrics"]
    assert {"test_mae", "test_rmse", "test_smape", "test_mase", "test_coverage"} <= set(metrics)
    for name in ("backtest.png", "backtest.csv", "forecast.png", "forecast.csv", "curves.png", "split.json"):
        assert (run_dir / name).exists()
    saved = forecast.read_backtest_csv(run_dir / "backtest.csv")  # the report's forecasts, read back
    frame = forecast.load_frame(tiny_config(path).data)
    again, *_ = forecast.backtest(frame, saved.origins, 6, 12, lambda o: (saved.point, saved.lower, saved.upper))
    assert again["mase"] == pytest.approx(metrics["test_mase"], rel=1e-4)
    # learned: far better than the naive forecast on a seasonal series
    origins = forecast.backtest_origins(len(frame), tiny_config(path).data, "test")
    naive, *_ = forecast.backtest(frame, origins, 6, 12, forecast_baselines.make_naive(frame, 6))
    assert metrics["test_mase"] < 0.5 * naive["mase"]
    # the CLI forecasts from the trained run
    assert cli(["forecast", str(run_dir), "--horizon", "4", "--out", str(tmp_path / "out")]) == 0
    table = pd.read_csv(tmp_path / "out" / "forecast.csv")
    assert table.columns.tolist() == ["time", "series", "forecast", "lower", "upper"]
    assert table["time"].tolist() == ["2016-09-01T00:00", "2016-10-01T00:00", "2016-11-01T00:00", "2016-12-01T00:00"]
    assert (table["lower"] <= table["upper"]).all()
    assert "interval" in capsys.readouterr().out
    assert cli(["forecast", str(run_dir), "--horizon", "9"]) == 2  # more than the direct head's horizon
    assert "forecasts exactly 6 steps" in capsys.readouterr().err
    # newer data in a CSV of the same columns: the forecast starts after its end
    longer = write_series(tmp_path / "longer.csv", n=212)
    result = forecast.forecast_run(run_dir, 3, csv_path=longer, out=tmp_path / "newer")
    assert str(result["time"][0]).startswith("2017-09-01")


@pytest.mark.slow
def test_masked_gaps_train_and_score(tmp_path):
    path = write_series(tmp_path / "gappy.csv", gaps=True)
    config = tiny_config(path, missing="mask")
    config.train.steps = 20
    job = forecast.build(config)
    assert job.prepared.flags and job.model.encoder.input_size == 1 + 1 + 2  # value, observed flag, month sin/cos
    _, result = run.train(config, tmp_path / "run")
    assert all(np.isfinite(v) for v in result.report["metrics"].values())


def test_forecast_config_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="unknown key"):
        run.resolve_config({"task": "forecast", "data": {"horizn": 3}})
    with pytest.raises(ConfigError, match="data.scaling: expected one of"):
        run.resolve_config({"task": "forecast", "data": {"scaling": "minmax"}})


@pytest.mark.slow
def test_train_from_pandas_then_forecast(tmp_path):
    series = seasonal_series(150, noise=0.1)
    config = tiny_config(tmp_path / "unused.csv", calendar=[])
    config.train.steps = 30
    run_dir, result = forecast.train_pandas(series, config, tmp_path / "run")
    assert (run_dir / "series.csv").exists() and np.isfinite(result.report["metrics"]["test_mase"])
    saved = run.load_run_config(run_dir)
    assert saved.data.path == str(run_dir / "series.csv") and saved.data.name is None
    future = forecast.forecast_run(run_dir, 6)
    assert str(future["time"][0]).startswith("2012-07-01")  # 150 months from 2000-01
    shuffled = series.sample(frac=1.0, random_state=0)
    with pytest.raises(ValueError, match="sorted and unique"):
        forecast.train_pandas(shuffled, config, tmp_path / "bad")


@pytest.mark.slow
def test_two_series_with_a_user_covariate_seq2seq_gaussian(tmp_path):
    """Several value columns and a known-in-advance column of the user's: the seq2seq head
    forecasts both series, and past the end it needs the covariate's future values."""
    rng = np.random.default_rng(0)
    t = np.arange(160)
    promo = (t % 7 == 0).astype(float)
    frame = pd.DataFrame({"day": pd.date_range("2021-01-01", periods=160, freq="D").strftime("%Y-%m-%d"),
                          "north": 50 + 5 * np.sin(t / 4) + 8 * promo + rng.normal(0, 0.5, 160),
                          "south": 30 + 3 * np.cos(t / 4) + 4 * promo + rng.normal(0, 0.5, 160),
                          "promo": promo})
    frame.to_csv(tmp_path / "stores.csv", index=False)
    config = from_dict(forecast.ForecastConfig, {
        "task": "forecast",
        "data": {"name": None, "path": str(tmp_path / "stores.csv"), "time_column": "day",
                 "covariate_columns": ["promo"], "season": 7, "window": 21, "horizon": 7, "test_size": 21,
                 "validation_size": 14, "stride": 7},
        "model": {"recurrent": {"cell": "lstm", "hidden_size": 16}, "head": "seq2seq", "distribution": "gaussian"},
        "train": {"steps": 60, "batch_size": 16, "eval_every": 30, "progress": False,
                  "optimizer": {"name": "adam", "lr": 0.01}},
    })
    run_dir, result = run.train(config, tmp_path / "run")
    assert np.isfinite(result.report["metrics"]["test_mase"]) and "test_coverage" in result.report["metrics"]
    assert not (run_dir / "forecast.csv").exists()  # the report cannot guess future promotions
    with pytest.raises(ValueError, match=r"covariate column\(s\) \['promo'\]: expected their values"):
        forecast.forecast_run(run_dir, 10)
    pd.DataFrame({"promo": [1.0] + [0.0] * 9}).to_csv(tmp_path / "future.csv", index=False)
    result = forecast.forecast_run(run_dir, 10, future_csv=tmp_path / "future.csv")  # past the trained 7
    table = pd.read_csv(result["csv"])
    assert len(table) == 20 and set(table["series"]) == {"north", "south"}
    assert (table["lower"] < table["forecast"]).all() and (table["forecast"] < table["upper"]).all()
