"""Forecasting: train an RNN forecaster on a series, backtest it, forecast past the end.

See :mod:`rnnkit.tasks.forecast.task`."""

from rnnkit.tasks.forecast.task import (
    TASK,
    ForecastConfig,
    ForecastDataConfig,
    ForecastFn,
    ForecastJob,
    Prepared,
    WindowBatch,
    backtest,
    backtest_origins,
    build,
    forecast_future,
    forecast_run,
    format_forecast,
    load_frame,
    plot_backtest,
    plot_forecast,
    predict,
    report,
    train_pandas,
    write_forecast_csv,
)

__all__ = ['TASK', 'ForecastConfig', 'ForecastDataConfig', 'ForecastFn', 'ForecastJob', 'Prepared', 'WindowBatch', 'backtest', 'backtest_origins', 'build', 'forecast_future', 'forecast_run', 'format_forecast', 'load_frame', 'plot_backtest', 'plot_forecast', 'predict', 'report', 'train_pandas', 'write_forecast_csv']
