"""ES-RNN (Smyl 2020): the exponential smoothing half by hand and by finite differences, its
forecast exact on a series that is level plus season, the config's checks, and the task end to
end with it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rnnkit.config import ConfigError
from rnnkit.data.timeseries import from_pandas
from rnnkit.models import RecurrentConfig
from rnnkit.models.forecaster import ExponentialSmoothing, Forecaster, ForecasterConfig
from rnnkit.tasks import forecast
from rnnkit.tasks.core import run


def smoothing(alpha: float, profile: list[list[float]] | None, S: int = 1) -> ExponentialSmoothing:
    es = ExponentialSmoothing(S, len(profile[0]) if profile else 1).double()
    with torch.no_grad():
        es.alpha_logit.fill_(float(np.log(alpha / (1 - alpha))))
        if profile:
            es.profile.copy_(torch.tensor(profile, dtype=torch.float64))
    return es


def test_the_level_is_the_smoothing_recursion_by_hand() -> None:
    """l_0 = z_0, l_j = alpha z_j + (1 - alpha) l_(j-1), with z = values less the centred profile
    at each step's position; the forecast is the last level plus the profile ahead."""
    alpha, profile = 0.3, [[1.0, 2.0, 6.0]]  # centred: -2, -1, 3
    es = smoothing(alpha, profile)
    values = torch.tensor([[5.0], [7.0], [4.0], [9.0], [8.0]], dtype=torch.float64)[:, :, None]  # (W=5, B=1, S=1)
    start = torch.tensor([4])  # the window's first step sits at position 4: phase 1
    normalized, ahead = es(values, start, horizon=4)
    centred = {0: -2.0, 1: -1.0, 2: 3.0}
    z = [v - centred[(4 + j) % 3] for j, v in enumerate([5.0, 7.0, 4.0, 9.0, 8.0])]
    level = z[0]
    for value in z[1:]:
        level = alpha * value + (1 - alpha) * level
    torch.testing.assert_close(normalized[:, 0, 0], torch.tensor([v - level for v in z], dtype=torch.float64))
    torch.testing.assert_close(ahead[:, 0, 0], torch.tensor([level + centred[(9 + k) % 3] for k in range(4)],
                                                            dtype=torch.float64))


def test_a_level_plus_season_series_is_forecast_exactly() -> None:
    """When the profile is the series' own season, what is left is the level: constant, so every
    smoothing coefficient gives it back, and the forecast continues the series exactly."""
    season = torch.tensor([0.5, -1.5, 2.0, -1.0], dtype=torch.float64)  # centred
    series = 10 + season[torch.arange(40) % 4]
    for alpha in (0.05, 0.5, 0.95):
        es = smoothing(alpha, [season.tolist()])
        start = torch.tensor([3, 17])
        windows = torch.stack([series[s:s + 12] for s in start.tolist()], dim=1)[:, :, None]  # (12, 2, 1)
        normalized, ahead = es(windows, start, horizon=5)
        torch.testing.assert_close(normalized, torch.zeros_like(normalized))
        truth = torch.stack([series[s + 12:s + 17] for s in start.tolist()], dim=1)[:, :, None]
        torch.testing.assert_close(ahead, truth)


def test_gradients_by_finite_differences() -> None:
    es = smoothing(0.4, [[0.3, -0.2, 0.5, 0.1], [1.0, 0.0, -1.0, 0.5]], S=2)
    values = torch.randn(7, 3, 2, dtype=torch.float64, requires_grad=True)
    start = torch.tensor([0, 5, 2])

    def f(values, alpha_logit, profile):  # noqa: ANN001, ANN202
        return torch.func.functional_call(es, {"alpha_logit": alpha_logit, "profile": profile}, (values, start, 3))

    inputs = (values, es.alpha_logit.detach().clone().requires_grad_(), es.profile.detach().clone().requires_grad_())
    assert torch.autograd.gradcheck(f, inputs)


def test_the_forecaster_needs_the_windows_positions_and_the_config_checks_the_rest() -> None:
    model = Forecaster(1, 0, 4, ForecasterConfig(RecurrentConfig(hidden_size=4), smoothing="es"), season=12)
    with pytest.raises(ValueError, match="expected start"):
        model(torch.randn(24, 2, 1), torch.zeros(4, 2, 0), torch.zeros(2, 1))
    with pytest.raises(ValueError, match="expected head: direct"):
        ForecasterConfig(head="seq2seq", smoothing="es")
    for data in ({"scaling": "window"}, {"scaling": "global", "anchor": "last"}):
        with pytest.raises(ConfigError, match="model.smoothing=es"):
            run.resolve_config({"task": "forecast", "data": data, "model": {"smoothing": "es"}})


def test_a_zero_network_forecasts_the_smoothing() -> None:
    """With the head zeroed, the forecast in the series' units is the smoothing's own."""
    t = np.arange(120)
    frame = from_pandas(pd.Series(50 + 5 * np.sin(2 * np.pi * t / 12), name="y"))
    data = forecast.ForecastDataConfig(name=None, path="unused.csv", window=24, horizon=6, season=12,
                                       scaling="global", anchor="none")
    prepared = forecast.Prepared(frame, data, 100)
    model = Forecaster(1, 0, 6, ForecasterConfig(RecurrentConfig(hidden_size=4), smoothing="es"), season=12)
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    batch = prepared.batch([60, 73])
    with torch.no_grad():
        _, smoothed = model.smoothing(batch.history[..., :1], batch.start, 6)
    point, _, _ = forecast.predict(model, prepared, [60, 73])
    np.testing.assert_allclose(point, prepared.unscale(smoothed, batch), rtol=1e-5)


@pytest.mark.slow
def test_es_rnn_trains_end_to_end(tmp_path) -> None:
    t = np.arange(200)
    rng = np.random.default_rng(0)
    values = np.exp(3 + 0.004 * t + 0.2 * np.sin(2 * np.pi * t / 12) + 0.02 * rng.standard_normal(200))
    path = tmp_path / "sales.csv"
    pd.DataFrame({"y": values}).to_csv(path, index=False)
    config = run.resolve_config({
        "task": "forecast",
        "data": {"name": None, "path": str(path), "season": 12, "window": 24, "horizon": 6, "test_size": 24,
                 "validation_size": 12, "stride": 6, "transform": "log", "scaling": "global", "anchor": "none"},
        "model": {"recurrent": {"cell": "gru", "hidden_size": 8}, "smoothing": "es"},
        "train": {"steps": 200, "batch_size": 16, "eval_every": 50, "progress": False,
                  "optimizer": {"name": "adam", "lr": 0.01}},
    })
    run_dir, result = run.train(config, tmp_path / "run", baselines=False)
    assert result.report["metrics"]["test_mase"] < 1.5, result.report["metrics"]  # a clean seasonal series
    _, job = run.load_trained(run_dir, "forecast", "forecasting")
    assert 0 < float(job.model.smoothing.alpha.detach()) < 1
    profile = job.model.smoothing.profile.detach()[0]
    truth = 0.2 * np.sin(2 * np.pi * np.arange(12) / 12) / job.prepared.global_scale[0]  # in the model's units
    assert np.corrcoef(profile.numpy(), truth)[0, 1] > 0.9  # it learned the season
    with pytest.raises(ValueError, match="not supported"):
        forecast.TASK.export(job, False)


@pytest.mark.slow
def test_a_later_start_keeps_the_seasonal_phase(tmp_path) -> None:
    """A series given from a later row (newer data, a stream) is forecast as the whole series
    is: the profile's phase counts from the training series' start, by the time column."""
    from dataclasses import replace

    t = np.arange(150)
    path = tmp_path / "s.csv"
    pd.DataFrame({"month": pd.date_range("2000-01-01", periods=150, freq="MS").strftime("%Y-%m-%d"),
                  "y": 20 + 0.05 * t + np.sin(2 * np.pi * t / 12)}).to_csv(path, index=False)
    config = run.resolve_config({
        "task": "forecast",
        "data": {"name": None, "path": str(path), "time_column": "month", "season": 12, "window": 24, "horizon": 6,
                 "test_size": 12, "validation_size": 12, "stride": 6, "scaling": "global", "anchor": "none"},
        "model": {"recurrent": {"cell": "gru", "hidden_size": 4}, "smoothing": "es"},
        "train": {"steps": 3, "batch_size": 4, "eval_every": 3, "progress": False},
    })
    run_dir, _ = run.train(config, tmp_path / "run", baselines=False)
    _, job = run.load_trained(run_dir, "forecast", "forecasting")
    with torch.no_grad():
        job.model.smoothing.profile.copy_(torch.randn(1, 12))  # a season that matters
    whole = job.whole_series()
    later = replace(whole, time=whole.time[5:], values=whole.values[5:], covariates=whole.covariates[5:])
    ours, theirs = forecast.forecast_frames(job, [whole, later], 6)
    np.testing.assert_allclose(theirs["point"], ours["point"], rtol=1e-6)
    assert forecast.grid_offset(whole.time[0], later) == 5 and forecast.grid_offset(later.time[0], whole) == -5
    shifted = replace(later, time=later.time + np.timedelta64(1, "D"))
    with pytest.raises(ValueError, match="off the grid"):
        forecast.grid_offset(whole.time[0], shifted)
