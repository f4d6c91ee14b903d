"""Forecasting as streams: a stream fed the series' last rows forecasts what the whole series
forecasts, and streams batched together get what each gets alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rnnkit.tasks import forecast
from rnnkit.tasks.core import run


def job_of(tmp_path, calendar=(), covariate=False):
    t = np.arange(150)
    frame = pd.DataFrame({"y": 10 + np.sin(2 * np.pi * t / 12) + 0.01 * t, "z": 5 + np.cos(t / 5)})
    frame.insert(0, "time", pd.date_range("2024-01-01", periods=150, freq="h"))
    if covariate:
        frame["promo"] = t % 7 == 0
    frame.to_csv(tmp_path / "series.csv", index=False)
    data = {"name": None, "path": str(tmp_path / "series.csv"), "time_column": "time", "window": 16, "horizon": 4,
            "test_size": 12, "validation_size": 8, "calendar": list(calendar), "interval": 0.8,
            "value_columns": ["y", "z"], "covariate_columns": ["promo"] if covariate else []}
    config = run.resolve_config({"task": "forecast", "data": data,
                                 "model": {"recurrent": {"hidden_size": 8}, "distribution": "gaussian"}})
    torch.manual_seed(0)
    return forecast.TASK.build(config)


@pytest.mark.parametrize("calendar", [(), ("hour", "dayofweek")])
def test_a_stream_fed_the_last_rows_forecasts_what_the_whole_series_forecasts(tmp_path, calendar):
    job = job_of(tmp_path, calendar)
    whole = job.whole_series()
    expected = forecast.forecast_future(job, 4)
    k = 5  # a stream that stops 5 rows short, then is fed them in two pieces
    stream = forecast.extend_stream(job, whole.head(len(whole) - k), whole.values[-k:-2])
    stream = forecast.extend_stream(job, stream, whole.values[-2:])
    assert len(stream) == job.config.data.window
    np.testing.assert_array_equal(stream.time, whole.time[-16:])
    np.testing.assert_allclose(stream.covariates, whole.covariates[-16:], atol=1e-12)
    got = forecast.forecast_frames(job, [stream], 4)[0]
    np.testing.assert_array_equal(got["time"], expected["time"])
    for key in ("point", "lower", "upper"):
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-5)


def test_streams_forecast_together_what_each_forecasts_alone(tmp_path):
    job = job_of(tmp_path)
    start = forecast.start_stream(job)
    rng = np.random.default_rng(0)
    frames = [forecast.extend_stream(job, start, 10 + rng.normal(size=(n, 2))) for n in (1, 3, 20)]
    together = forecast.forecast_frames(job, frames, 3)  # fewer than the direct head's 4: its first 3
    for frame, got in zip(frames, together):
        alone = forecast.forecast_frames(job, [frame], 3)[0]
        np.testing.assert_allclose(got["point"], alone["point"], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(got["time"], alone["time"])
    assert not np.allclose(together[0]["point"], together[2]["point"])
    assert together[1]["time"][0] == start.time[-1] + 4 * np.timedelta64(1, "h")


def test_stream_inputs_are_checked(tmp_path):
    job = job_of(tmp_path)
    start = forecast.start_stream(job)
    with pytest.raises(ValueError, match="rows of 2 value"):
        forecast.extend_stream(job, start, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="finite"):
        forecast.extend_stream(job, start, [[1.0, float("nan")]])


def test_a_series_with_its_own_covariates_cannot_stream(tmp_path):
    job = job_of(tmp_path, covariate=True)
    with pytest.raises(ValueError, match="covariate column"):
        forecast.start_stream(job)
