"""Forecasting as streams: a series' latest window kept, new observations appended to it as they
come, and a forecast from its end after each (:func:`~rnnkit.tasks.forecast.task.forecast_frames`
forecasts many streams in one batched pass; :mod:`rnnkit.serve` keeps one per session).

    config, job = run.load_trained("runs/forecast-...", "forecast", "forecasting")
    frame = start_stream(job)                        # the run's series, its last window
    frame = extend_stream(job, frame, [[412.0]])     # a new observation (one row per step, one column per series)
    forecast_frames(job, [frame], horizon=12)

The window is all a forecast reads, so a stream holds ``data.window`` rows whatever its age. New
rows continue the series' time grid; their calendar covariates are computed. A series with
covariate columns of its own cannot stream (their future values are not known here).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from rnnkit.data.timeseries import SeriesFrame


def _tail(frame: SeriesFrame, n: int) -> SeriesFrame:
    return replace(frame, time=frame.time[-n:], values=frame.values[-n:], covariates=frame.covariates[-n:],
                   labels=None)


def start_stream(job: Any) -> SeriesFrame:
    """The last ``data.window`` rows of the run's whole series: a stream that continues it."""
    frame = job.whole_series()
    n_user = len(frame.covariate_names) - 2 * len(frame.calendar)
    if n_user:
        raise ValueError(f"this series has covariate column(s) {frame.covariate_names[:n_user]} of its own: a stream "
                         f"cannot know their future values; forecast from a file with them instead")
    return _tail(frame, job.config.data.window)


def extend_stream(job: Any, frame: SeriesFrame, values: Any) -> SeriesFrame:
    """``frame`` with ``values`` ``(k, S)`` appended on its time grid, cut to the last window."""
    rows = np.asarray(values, dtype=np.float64)
    if rows.ndim == 1 and frame.num_series == 1:
        rows = rows[:, None]
    if rows.ndim != 2 or rows.shape[1] != frame.num_series or len(rows) == 0:
        raise ValueError(f"values: expected rows of {frame.num_series} value(s) ({', '.join(frame.names)}), "
                         f"got shape {rows.shape}")
    if not np.isfinite(rows).all():
        raise ValueError("values: expected finite numbers (a stream takes observed values only)")
    k = len(rows)
    longer = replace(frame, time=np.concatenate([frame.time, frame.future_time(k)]),
                     values=np.concatenate([frame.values, rows]),
                     covariates=np.concatenate([frame.covariates, frame.future_covariates(k)]), labels=None)
    return _tail(longer, job.config.data.window)
