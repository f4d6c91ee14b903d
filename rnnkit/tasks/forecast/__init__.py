"""Forecasting: train an RNN forecaster on a series, backtest it, forecast past the end.

    rnnkit train forecast-airline                 # a preset; rnnkit presets lists the others
    rnnkit forecast runs/forecast-... --horizon 24

See :mod:`rnnkit.tasks.forecast.task` for the split and the protocol, :mod:`.config` for the
settings, :mod:`.baselines` for naive, seasonal naive, ETS and ARIMA, :mod:`.stream` for forecasting
as new observations come.
"""

from rnnkit.tasks.forecast.config import ForecastConfig, ForecastDataConfig
from rnnkit.tasks.forecast.data import Prepared, WindowBatch, backtest_origins, load_frame
from rnnkit.tasks.forecast.plots import plot_backtest, plot_forecast
from rnnkit.tasks.forecast.task import (
    TASK,
    Backtest,
    ForecastFn,
    ForecastJob,
    backtest,
    build,
    forecast_frames,
    forecast_future,
    forecast_run,
    format_forecast,
    grid_offset,
    predict,
    predict_batch,
    read_backtest_csv,
    report,
    test_backtest,
    train_pandas,
    write_backtest_csv,
    write_forecast_csv,
)
from rnnkit.tasks.forecast.stream import extend_stream, start_stream

__all__ = [
    "TASK",
    "Backtest",
    "ForecastConfig",
    "ForecastDataConfig",
    "ForecastFn",
    "ForecastJob",
    "Prepared",
    "WindowBatch",
    "backtest",
    "backtest_origins",
    "build",
    "extend_stream",
    "forecast_frames",
    "forecast_future",
    "forecast_run",
    "format_forecast",
    "grid_offset",
    "load_frame",
    "plot_backtest",
    "plot_forecast",
    "predict",
    "predict_batch",
    "read_backtest_csv",
    "report",
    "start_stream",
    "test_backtest",
    "train_pandas",
    "write_backtest_csv",
    "write_forecast_csv",
]
