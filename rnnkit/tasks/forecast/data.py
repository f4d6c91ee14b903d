"""A series made ready for the forecaster: windows of history, targets, scaling, backtest origins.

Shape legend: W window, K horizon, B batch (one window per origin), S series, C covariates,
I encoder inputs per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.datasets import load_series
from rnnkit.data.timeseries import SeriesFrame, fill_missing, read_series_csv
from rnnkit.tasks.forecast.config import ForecastDataConfig


def load_frame(config: ForecastDataConfig) -> SeriesFrame:
    """The configured series: a named set or the user's CSV."""
    if config.name is not None:
        return load_series(config.name, tuple(config.calendar), config.missing)
    return read_series_csv(config.path, config.time_column, config.value_columns, config.covariate_columns,
                           calendar=config.calendar, missing=config.missing, spacing=config.spacing)


def backtest_origins(n: int, config: ForecastDataConfig, part: Literal["test", "validation"]) -> list[int]:
    """The forecast origins of ``part`` in a series of ``n`` points (the whole series, test part
    included; see :mod:`rnnkit.tasks.forecast.task`). Validation forecasts end before the test part."""
    start = n - config.test_size
    if part == "validation":
        if not config.validation_size:
            return []
        start, n = start - config.validation_size, start
    first = max(start, config.window)
    return list(range(first, n - config.horizon + 1, config.stride))


@dataclass
class WindowBatch:
    """Inputs and targets of forecasts from B origins (all scaled; see :class:`Prepared`)."""

    history: Tensor  # (W, B, I)
    future_covariates: Tensor  # (K, B, C)
    last_value: Tensor  # (B, S)
    targets: Tensor  # (K, B, S), zero where missing
    observed: Tensor  # (K, B, S) bool
    loc: Tensor  # (B, S)
    scale: Tensor  # (B, S)
    anchor: Tensor | None  # (K, B, S): the naive or seasonal naive forecast the model corrects
    start: Tensor | None = None  # (B,) long: each window's first position in the series (seasonal phase)

    def to(self, device: torch.device | str) -> WindowBatch:
        return WindowBatch(*(None if getattr(self, f) is None else getattr(self, f).to(device)
                             for f in self.__dataclass_fields__))

    @staticmethod
    def join(batches: list[WindowBatch]) -> WindowBatch:
        """Batches (of the same window, horizon and series) as one, in order along B."""
        def cat(name: str) -> Tensor | None:
            parts = [getattr(b, name) for b in batches]
            if parts[0] is None:
                return None
            return torch.cat(parts, dim=0 if parts[0].dim() <= 2 else 1)  # (B,), (B, S) or (time, B, .)

        return WindowBatch(*(cat(name) for name in WindowBatch.__dataclass_fields__))


class Prepared:
    """A series made ready for the model: transformed, gaps handled, scaling statistics known."""

    def __init__(self, frame: SeriesFrame, config: ForecastDataConfig, train_end: int) -> None:
        self.frame, self.config, self.train_end = frame, config, train_end
        values = frame.values
        if config.transform == "log":
            if np.nanmin(values) <= 0:
                raise ValueError(f"data.transform=log: expected positive values, got a minimum of {np.nanmin(values)}")
            values = np.log(values)
        self.values = values  # (T, S), NaN where missing
        self.observed = ~np.isnan(values)
        self.filled = fill_missing(values, "ffill", frame.names) if not self.observed.all() else values
        self.flags = config.missing == "mask"
        train = self.filled[:train_end]
        self.global_loc = train.mean(axis=0)
        self.global_scale = np.maximum(train.std(axis=0), 1e-8)

    @property
    def input_size(self) -> int:
        return self.frame.num_series * (2 if self.flags else 1) + self.frame.covariates.shape[1]

    def batch(self, origins: list[int] | np.ndarray, horizon: int | None = None,
              future_covariates: np.ndarray | None = None) -> WindowBatch:
        """Windows ending just before each origin and the ``horizon`` steps after it.

        Past the end of the series the targets are missing and the covariates come from
        ``future_covariates`` ``(horizon, C)``.
        """
        W, K = self.config.window, horizon or self.config.horizon
        origins = np.asarray(origins, dtype=np.int64)
        if (origins < W).any():
            raise ValueError(f"origin {int(origins.min())}: expected at least window={W} steps of history")
        past = origins[:, None] + np.arange(-W, 0)[None, :]  # (B, W)
        ahead = origins[:, None] + np.arange(K)[None, :]  # (B, K)
        n = len(self.filled)
        inside = np.minimum(ahead, n - 1)
        history = self.filled[past]  # (B, W, S)
        targets = np.where((ahead < n)[..., None], self.values[inside], np.nan)  # (B, K, S)
        covariates = self.frame.covariates
        if (ahead >= n).any():
            extra = future_covariates if future_covariates is not None else np.zeros((K, covariates.shape[1]))
            covariates = np.concatenate([covariates, extra[: max(0, int(ahead.max()) - n + 1)]], axis=0)
        if self.config.scaling == "global":
            loc = np.broadcast_to(self.global_loc, history[:, 0].shape)
            scale = np.broadcast_to(self.global_scale, history[:, 0].shape)
        else:
            loc = history.mean(axis=1)  # (B, S)
            scale = np.maximum(history.std(axis=1), 1e-3 * self.global_scale)
        scaled = (history - loc[:, None]) / scale[:, None]
        parts = [scaled]
        if self.flags:
            parts.append(self.observed[past].astype(np.float64))
        parts.append(self.frame.covariates[past])
        seen = ~np.isnan(targets)
        anchor = None
        if self.config.anchor == "last":
            anchor = np.repeat(scaled[:, -1:], K, axis=1)  # (B, K, S)
        elif self.config.anchor == "season":  # step k repeats the value one season before it
            m = self.config.season
            anchor = scaled[:, W - m + np.arange(K) % m]
        return WindowBatch(
            history=_tensor(np.concatenate(parts, axis=-1).transpose(1, 0, 2)),
            future_covariates=_tensor(covariates[ahead].transpose(1, 0, 2)),
            last_value=_tensor(scaled[:, -1]),
            targets=_tensor(np.where(seen, (np.nan_to_num(targets) - loc[:, None]) / scale[:, None], 0.0)
                              .transpose(1, 0, 2)),
            observed=torch.from_numpy(seen.transpose(1, 0, 2).copy()),
            loc=_tensor(loc),
            scale=_tensor(scale),
            anchor=None if anchor is None else _tensor(anchor.transpose(1, 0, 2)),
            start=torch.from_numpy(origins - W),
        )

    def unscale(self, scaled: Tensor, batch: WindowBatch) -> np.ndarray:
        """``(K, B, S)`` model units -> ``(B, K, S)`` the series' units (scaling and log undone)."""
        values = (scaled * batch.scale + batch.loc).transpose(0, 1).double().cpu().numpy()
        return np.exp(values) if self.config.transform == "log" else values


def _tensor(array: np.ndarray) -> Tensor:
    return torch.from_numpy(np.array(array, dtype=np.float32))  # a fresh, writable float32 copy
