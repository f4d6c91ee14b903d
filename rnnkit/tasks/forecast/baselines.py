"""The forecasts a user would otherwise make: naive, seasonal naive, ETS and ARIMA.

Each ``make_*`` returns a :data:`~rnnkit.tasks.forecast.ForecastFn` over a
:class:`~rnnkit.data.timeseries.SeriesFrame`, so :func:`~rnnkit.tasks.forecast.backtest`
scores it on the same origins with the same code as the RNN. ETS and ARIMA come from
statsmodels (ARIMA's orders chosen by pmdarima's ``auto_arima``, which fits statsmodels'
SARIMAX); both fit on the transformed series (log when the RNN's config says so) and their
forecasts are transformed back.

Refitting: ETS refits its parameters at every origin, keeping the form (trend, damping,
seasonality) that AIC chose at the first origin. ARIMA chooses its orders and fits at the
first origin, then at each later origin takes the new observations with ``update`` (a few
optimizer iterations from the previous parameters) instead of a full search.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Literal

import numpy as np

from rnnkit.data.timeseries import SeriesFrame
from rnnkit.extras import MissingDependency, require
from rnnkit.tasks.forecast.config import ForecastDataConfig

Transform = Literal["none", "log"]
MAX_MODEL_BASELINE_POINTS = 50_000  # ETS and ARIMA on more points (all series together) take too long


def _forward(values: np.ndarray, transform: Transform) -> np.ndarray:
    return np.log(values) if transform == "log" else values


def _inverse(values: np.ndarray, transform: Transform) -> np.ndarray:
    return np.exp(values) if transform == "log" else values


def _filled(frame: SeriesFrame) -> np.ndarray:
    from rnnkit.data.timeseries import fill_missing

    return fill_missing(frame.values, "interpolate", frame.names)


def make_naive(frame: SeriesFrame, horizon: int):
    """Every future step = the last observed value."""
    values = _filled(frame)

    def forecast(origins: list[int]) -> tuple[np.ndarray, None, None]:
        last = values[np.asarray(origins) - 1]  # (O, S)
        return np.repeat(last[:, None], horizon, axis=1), None, None

    return forecast


def make_seasonal_naive(frame: SeriesFrame, horizon: int, season: int):
    """Step k ahead = the value one season before it: ``y_{o + k - m * ceil((k + 1) / m)}``."""
    values = _filled(frame)
    k = np.arange(horizon)
    back = season * ((k // season) + 1)  # how far back each step reads

    def forecast(origins: list[int]) -> tuple[np.ndarray, None, None]:
        index = np.asarray(origins)[:, None] + k[None, :] - back[None, :]  # (O, K)
        return values[index], None, None

    return forecast


def make_ets(frame: SeriesFrame, horizon: int, season: int, transform: Transform = "none"):
    """statsmodels' ETS (``ETSModel``), the form chosen by AIC at the first origin among:
    additive errors; no trend, additive trend, damped additive trend; no season, additive or
    (for positive data) multiplicative season of period ``season``."""
    ETSModel = require("statsmodels.tsa.exponential_smoothing.ets", "the ETS baseline").ETSModel

    values = _forward(_filled(frame), transform)
    chosen: dict[int, dict] = {}

    def candidates(y: np.ndarray) -> list[dict]:
        forms = []
        for trend, damped in ((None, False), ("add", False), ("add", True)):
            seasons = [None] + (["add"] + (["mul"] if y.min() > 0 else []) if season > 1 else [])
            for seasonal in seasons:
                forms.append(dict(trend=trend, damped_trend=damped, seasonal=seasonal,
                                  seasonal_periods=season if seasonal else None))
        return forms

    def fit(y: np.ndarray, form: dict):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ETSModel(y, error="add", **form).fit(disp=False)

    def forecast(origins: list[int]) -> tuple[np.ndarray, None, None]:
        out = np.empty((len(origins), horizon, values.shape[1]))
        for s in range(values.shape[1]):
            for i, o in enumerate(origins):
                y = values[:o, s]
                if s not in chosen:
                    fits = [(fit(y, form), form) for form in candidates(y)]
                    chosen[s] = min(fits, key=lambda pair: pair[0].aic)[1]
                out[i, :, s] = np.asarray(fit(y, chosen[s]).forecast(horizon))
        return _inverse(out, transform), None, None

    return forecast


def make_arima(frame: SeriesFrame, horizon: int, season: int, transform: Transform = "none",
               level: float = 0.8, max_seasonal_period: int = 24, max_history: int | None = 2000):
    """pmdarima's ``auto_arima`` (stepwise, seasonal when ``1 < season <= max_seasonal_period``;
    longer seasons are too slow for a seasonal search), fit once, then updated per origin.

    ``max_history``: fit on at most that many points before the first origin."""
    pmdarima = require("pmdarima", "the ARIMA baseline")

    values = _forward(_filled(frame), transform)
    seasonal = 1 < season <= max_seasonal_period

    def forecast(origins: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        point = np.empty((len(origins), horizon, values.shape[1]))
        lower, upper = np.empty_like(point), np.empty_like(point)
        for s in range(values.shape[1]):
            start = 0 if max_history is None else max(0, origins[0] - max_history)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = pmdarima.auto_arima(values[start : origins[0], s], seasonal=seasonal,
                                            m=season if seasonal else 1, stepwise=True,
                                            suppress_warnings=True, error_action="ignore")
                seen = origins[0]
                for i, o in enumerate(origins):
                    if o > seen:
                        model.update(values[seen:o, s])
                        seen = o
                    mean, bounds = model.predict(horizon, return_conf_int=True, alpha=1 - level)
                    point[i, :, s], lower[i, :, s], upper[i, :, s] = mean, bounds[:, 0], bounds[:, 1]
        return _inverse(point, transform), _inverse(lower, transform), _inverse(upper, transform)

    return forecast


def standard(series: SeriesFrame, data: ForecastDataConfig, size: int | None = None) -> dict[str, Callable | str]:
    """The baselines a report runs beside the model, over ``series`` (an origin's forecast reads
    only the points before it): name -> its forecast function (``origins -> point, lower,
    upper``), or why it does not run here. Naive; seasonal naive when the season is > 1; ETS and
    ARIMA unless the series (all of its columns together) has more than
    ``MAX_MODEL_BASELINE_POINTS`` points, where fitting them at every origin takes too long
    (``size``: the count to judge by instead, so that two calls over a series and its head
    offer the same baselines)."""
    K, m = data.horizon, data.season
    out: dict[str, Callable | str] = {"naive": make_naive(series, K)}
    if m > 1:
        out["seasonal naive"] = make_seasonal_naive(series, K, m)
    size = len(series) * series.num_series if size is None else size
    for name, make in (("ETS", lambda: make_ets(series, K, m, data.transform)),
                       ("ARIMA", lambda: make_arima(series, K, m, data.transform, data.interval))):
        if size > MAX_MODEL_BASELINE_POINTS:
            out[name] = f"too slow for {size} points (more than {MAX_MODEL_BASELINE_POINTS})"
            continue
        try:
            out[name] = make()
        except MissingDependency as missing:  # statsmodels or pmdarima not installed: say so, run the rest
            out[name] = str(missing)
    return out
