"""Forecast plots: the forecast past the end with its interval, and a backtest's forecasts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.timeseries import SeriesFrame
from rnnkit.tasks.core.plotting import pyplot, save_figure


def plot_forecast(frame: SeriesFrame, result: dict[str, Any], path: str | Path, history: int = 200,
                  level: float = 0.8) -> Path | None:
    """History (its last ``history`` points), the forecast and its interval, one panel per series."""
    plt = pyplot()
    if plt is None:
        return None
    S = frame.num_series
    figure, axes = plt.subplots(S, 1, figsize=(10, 3.2 * S), squeeze=False)
    start = max(0, len(frame) - history)
    for s, axis in enumerate(axes[:, 0]):
        axis.plot(frame.time[start:], frame.values[start:, s], color="black", linewidth=1, label="history")
        axis.plot(result["time"], result["point"][:, s], color="tab:blue", linewidth=2, label="forecast")
        if result["lower"] is not None:
            axis.fill_between(result["time"], result["lower"][:, s], result["upper"][:, s], color="tab:blue",
                              alpha=0.25, label=f"{level:.0%} interval")
        axis.set_title(f"{frame.names[s]}: forecast of the next {len(result['time'])} steps")
        axis.legend(loc="upper left")
    return save_figure(figure, path)


def plot_backtest(frame: SeriesFrame, origins: list[int], forecasts: dict[str, np.ndarray], path: str | Path,
                  series: int = 0, context: int | None = None) -> Path | None:
    """The test period with each method's forecasts from every origin (a thin line per origin)."""
    plt = pyplot()
    if plt is None:
        return None
    figure, axis = plt.subplots(figsize=(11, 4))
    K = next(iter(forecasts.values())).shape[1]
    start = max(0, origins[0] - (context if context is not None else 2 * K))
    axis.plot(frame.time[start:], frame.values[start:, series], color="black", linewidth=1.5, label="observed")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, point) in enumerate(forecasts.items()):
        for j, o in enumerate(origins):
            axis.plot(frame.time[o : o + K], point[j, :, series], color=colors[i % len(colors)], linewidth=1,
                      alpha=0.8, label=name if j == 0 else None)
    axis.set_title(f"{frame.names[series]}: rolling-origin forecasts ({len(origins)} origins, {K} steps each)")
    axis.legend(loc="upper left")
    return save_figure(figure, path)
