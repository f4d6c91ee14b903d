"""Forecasting: train an RNN forecaster on a series, backtest it, forecast past the end.

The series is split by time. With N points, horizon K, ``test_size`` and
``validation_size``::

    | training windows ............ | validation origins | test origins |
    0                       N - test - val           N - test           N

Training draws random windows of ``window`` history steps followed by K target steps,
all inside the training part. Evaluation is a rolling-origin backtest: at every origin
``o`` (``stride`` apart) the model sees everything before ``o`` and forecasts ``o .. o+K-1``;
MAE, RMSE, sMAPE, MASE (scaled by the seasonal naive error on the history before ``o``) and
the prediction interval's coverage are averaged over origins (:mod:`rnnkit.tasks.metrics`).
Early stopping and the kept weights are chosen on the validation origins; the test origins
are only reported. The baselines of ``python benchmarks/forecast.py`` use the same origins and code.

Library use::

    from rnnkit.tasks import forecast
    run_dir, result = forecast.train_pandas(sales_series, forecast.ForecastConfig(), "runs/sales")
    result.report["metrics"]                     # test_mase, test_smape, ...
    future = forecast.forecast_run(run_dir, horizon=12)   # also writes forecast.csv and forecast.png
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.config import check_one_source
from rnnkit.data.datasets import load_series
from rnnkit.data.timeseries import Missing, SeriesFrame, Spacing, fill_missing, from_pandas, read_series_csv
from rnnkit.models.forecaster import Forecaster, ForecasterConfig
from rnnkit.tasks.core.metrics import forecast_errors, mase_scale
from rnnkit.tasks.core.plotting import pyplot, save_figure
from rnnkit.tasks.core import run
from rnnkit.tasks.core.registry import Task
from rnnkit.training import EarlyStoppingConfig, RandomBatches, StepOutput, TrainConfig

# forecast_fn(origins) -> point, lower, upper, each (O, K, S) in the series' units (bounds may be None)
ForecastFn = Callable[[list[int]], tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]


@dataclass
class ForecastDataConfig:
    """Which series, how it is cut into windows and where the backtest origins are."""

    name: str | None = "airline"  # a named set (rnnkit.data.datasets), or null and ``path``
    path: str | None = None  # your own CSV
    time_column: str | None = None  # null: rows are equally spaced steps
    value_columns: list[str] | None = None  # null: every numeric column but covariates
    covariate_columns: list[str] = field(default_factory=list)  # known in advance
    calendar: list[str] = field(default_factory=list)  # hour, dayofweek, dayofyear, month
    missing: Missing = "interpolate"
    spacing: Spacing = "infer"
    transform: Literal["none", "log"] = "none"  # log: for positive series that grow multiplicatively
    scaling: Literal["window", "global"] = "window"  # per series: by each input window, or by the training part
    season: int = 1  # m: seasonal naive baseline and MASE scale (1: the naive forecast)
    anchor: Literal["none", "last", "season"] = "last"  # the model forecasts the change from this forecast
    window: int = 48  # history steps the encoder reads
    horizon: int = 12  # K
    test_size: int = 36  # the last points, forecast from rolling origins
    validation_size: int = 0  # the points before them, for early stopping (0: none)
    stride: int = 1  # steps between origins
    interval: float = 0.8  # central prediction interval (Gaussian or quantile models)

    def __post_init__(self) -> None:
        check_one_source("data", self.name, self.path)
        for key in ("season", "window", "horizon", "test_size", "stride"):
            value = getattr(self, key)
            if value < 1:
                raise ValueError(f"data.{key}: expected a positive integer, got {value}")
        if self.test_size < self.horizon:
            raise ValueError(f"data.test_size: expected at least the horizon ({self.horizon}), got {self.test_size}")
        if self.validation_size and self.validation_size < self.horizon:
            raise ValueError(f"data.validation_size: expected 0 or at least the horizon ({self.horizon}), "
                             f"got {self.validation_size}")
        if self.anchor == "season" and self.window < self.season:
            raise ValueError(f"data.anchor=season: expected window >= season ({self.season}), got {self.window}")
        if not 0 < self.interval < 1:
            raise ValueError(f"data.interval: expected a level in (0, 1), got {self.interval}")


@dataclass
class ForecastConfig:
    task: Literal["forecast"] = "forecast"
    run_dir: str | None = None
    data: ForecastDataConfig = field(default_factory=ForecastDataConfig)
    model: ForecasterConfig = field(default_factory=ForecasterConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=2000, batch_size=64, eval_every=100,
        early_stopping=EarlyStoppingConfig(metric="val_mase", patience=5, restore_best=True)))


def load_frame(config: ForecastDataConfig) -> SeriesFrame:
    """The configured series: a named set or the user's CSV."""
    if config.name is not None:
        return load_series(config.name, tuple(config.calendar), config.missing)
    return read_series_csv(config.path, config.time_column, config.value_columns, config.covariate_columns,
                           calendar=config.calendar, missing=config.missing, spacing=config.spacing)


def backtest_origins(n: int, config: ForecastDataConfig, part: Literal["test", "validation"]) -> list[int]:
    """The forecast origins of ``part`` in a series of ``n`` points (see the module docstring)."""
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

    def to(self, device: torch.device | str) -> WindowBatch:
        return WindowBatch(*(None if getattr(self, f) is None else getattr(self, f).to(device)
                             for f in self.__dataclass_fields__))


class Prepared:
    """A series made ready for the model: transformed, gaps handled, scaling statistics known."""

    def __init__(self, frame: SeriesFrame, config: ForecastDataConfig, train_end: int) -> None:
        self.frame, self.config = frame, config
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
        )

    def unscale(self, scaled: Tensor, batch: WindowBatch) -> np.ndarray:
        """``(K, B, S)`` model units -> ``(B, K, S)`` the series' units (scaling and log undone)."""
        values = (scaled * batch.scale + batch.loc).transpose(0, 1).double().cpu().numpy()
        return np.exp(values) if self.config.transform == "log" else values


def _tensor(array: np.ndarray) -> Tensor:
    return torch.from_numpy(np.array(array, dtype=np.float32))  # a fresh, writable float32 copy


def predict(model: Forecaster, prepared: Prepared, origins: list[int], horizon: int | None = None,
            future_covariates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Point forecasts and interval bounds ``(O, K, S)`` from each origin, in the series' units."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        batch = prepared.batch(origins, horizon, future_covariates).to(device)
        params = model(batch.history, batch.future_covariates, batch.last_value, horizon=horizon, anchor=batch.anchor)
        point = prepared.unscale(model.point(params), batch)
        bounds = model.interval(params, prepared.config.interval)
        lower, upper = (None, None) if bounds is None else (prepared.unscale(b, batch) for b in bounds)
    model.train(was_training)
    return point, lower, upper


def backtest(frame: SeriesFrame, origins: list[int], horizon: int, season: int,
             forecast_fn: ForecastFn) -> tuple[dict[str, float], np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Score ``forecast_fn`` at ``origins``: the metrics and its ``(O, K, S)`` forecasts."""
    if not origins:
        raise ValueError("backtest: no origins (is the series shorter than window + test_size?)")
    point, lower, upper = forecast_fn(origins)
    ahead = np.asarray(origins)[:, None] + np.arange(horizon)[None, :]
    actual = frame.values[ahead]  # (O, K, S)
    scale = np.stack([mase_scale(frame.values[:o], season) for o in origins])  # (O, S)
    return forecast_errors(actual, point, scale, lower, upper), point, lower, upper


@dataclass
class ForecastJob:
    model: Forecaster
    step_fn: Any
    batches: RandomBatches
    evaluate: Any
    prepared: Prepared
    config: ForecastConfig


def build(config: ForecastConfig, rank: int = 0) -> ForecastJob:
    """Model, training windows, loss and backtest metrics for ``config``."""
    data = config.data
    frame = load_frame(data)
    n, K, W = len(frame), data.horizon, data.window
    train_end = n - data.test_size - data.validation_size
    if train_end - W - K < 1:
        raise ValueError(f"data: {n} points leave {train_end} for training, too few for window={W} + horizon={K} "
                         f"(lower test_size/validation_size/window)")
    prepared = Prepared(frame, data, train_end)
    model = Forecaster(frame.num_series, frame.covariates.shape[1], K, config.model, observed_flags=prepared.flags)
    validation, test = backtest_origins(n, data, "validation"), backtest_origins(n, data, "test")
    batch_size = config.train.batch_size

    def make(generator: torch.Generator) -> WindowBatch:
        origins = torch.randint(W, train_end - K + 1, (batch_size,), generator=generator)
        return prepared.batch(origins.numpy())

    def step_fn(m: nn.Module, batch: WindowBatch, carry: Any) -> StepOutput:
        teacher = batch.targets if config.model.head == "seq2seq" else None
        params = m(batch.history, batch.future_covariates, batch.last_value, targets=teacher, anchor=batch.anchor)
        return StepOutput(_unwrap(m).loss(params, batch.targets, batch.observed))

    def evaluate(m: nn.Module) -> dict[str, float]:
        scores = {}
        for part, origins in (("val", validation), ("test", test)):
            if origins:
                metrics, *_ = backtest(frame, origins, K, data.season, lambda o: predict(_unwrap(m), prepared, o))
                scores.update({f"{part}_{k}": v for k, v in metrics.items()})
        return scores

    batches = RandomBatches(make, seed=config.train.seed + 1000 * rank)
    return ForecastJob(model, step_fn, batches, evaluate, prepared, config)


def _unwrap(model: nn.Module) -> Forecaster:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


# -- after training: forecasts past the end, files and plots ----------------------------------
def forecast_future(job: ForecastJob, horizon: int, frame: SeriesFrame | None = None,
                    future_covariates: np.ndarray | None = None) -> dict[str, Any]:
    """Forecast ``horizon`` steps after the end of ``frame`` (default: the training series).

    The direct head forecasts the horizon it was trained for (fewer: the first steps of
    it; more: an error); the seq2seq head runs as far as asked.

    Returns ``{"time": (K,), "point"/"lower"/"upper": (K, S) or None, "names": [...]}``.
    """
    frame = frame if frame is not None else job.prepared.frame
    if frame.num_series != job.prepared.frame.num_series:
        raise ValueError(f"expected {job.prepared.frame.num_series} series {job.prepared.frame.names}, "
                         f"got {frame.num_series} {frame.names}")
    prepared = Prepared(frame, job.config.data, len(frame))
    prepared.global_loc, prepared.global_scale = job.prepared.global_loc, job.prepared.global_scale
    steps = horizon
    if job.config.model.head == "direct" and horizon < job.model.K:  # it forecasts K steps: keep the first ones
        steps = job.model.K
    covariates = frame.future_covariates(steps, future_covariates)
    point, lower, upper = predict(job.model, prepared, [len(frame)], steps, covariates)
    return {"time": frame.future_time(horizon), "names": frame.names, "level": job.config.data.interval,
            "point": point[0, :horizon],
            "lower": None if lower is None else lower[0, :horizon],
            "upper": None if upper is None else upper[0, :horizon]}


def write_forecast_csv(result: dict[str, Any], path: str | Path) -> Path:
    """One row per (time, series): ``time, series, forecast[, lower, upper]``."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        bounds = result["lower"] is not None
        writer.writerow(["time", "series", "forecast"] + (["lower", "upper"] if bounds else []))
        for k, stamp in enumerate(result["time"]):
            for s, name in enumerate(result["names"]):
                row = [_stamp(stamp), name, f"{result['point'][k, s]:.6g}"]
                if bounds:
                    row += [f"{result['lower'][k, s]:.6g}", f"{result['upper'][k, s]:.6g}"]
                writer.writerow(row)
    tmp.replace(path)
    return path


def _stamp(value: Any) -> str:
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value, unit="m"))
    return f"{float(value):g}"


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


def report(job: ForecastJob, run_dir: Path) -> dict[str, Any]:
    """After training: the test backtest, its plot, and a forecast past the end (CSV + PNG)."""
    data, frame = job.config.data, job.prepared.frame
    origins = backtest_origins(len(frame), data, "test")
    metrics, point, *_ = backtest(frame, origins, data.horizon, data.season,
                                  lambda o: predict(job.model, job.prepared, o))
    files = [plot_backtest(frame, origins, {"rnnkit": point}, run_dir / "backtest.png")]
    future = None
    if len(frame.covariate_names) == 2 * len(frame.calendar):  # no user covariates to ask for
        future = forecast_future(job, data.horizon)
        files += [write_forecast_csv(future, run_dir / "forecast.csv"),
                  plot_forecast(frame, future, run_dir / "forecast.png", level=data.interval)]
    return {"metrics": {f"test_{k}": v for k, v in metrics.items()}, "files": [str(f) for f in files if f]}


def train_pandas(data: Any, config: ForecastConfig | None = None, run_dir: str | Path | None = None,
                 value_columns: list[str] | None = None, covariate_columns: list[str] | None = None,
                 ) -> tuple[Path, Any]:
    """Train on a ``pandas.Series`` or ``DataFrame`` (index = time) from Python.

    The data is checked as :func:`~rnnkit.data.timeseries.from_pandas` checks it, written to
    ``RUN_DIR/series.csv`` and named in the run's config, so the run resumes, evaluates and
    forecasts (:func:`forecast_run`) like any other. ``config`` defaults to
    :class:`ForecastConfig`'s defaults; its ``data`` settings other than the source apply.
    Returns ``(run_dir, FitResult)``.
    """
    import dataclasses

    import pandas as pd

    config = config or ForecastConfig()
    frame = data.to_frame(name=data.name if data.name is not None else "value") if isinstance(data, pd.Series) else data
    source = config.data
    covariates = list(covariate_columns if covariate_columns is not None else source.covariate_columns)
    from_pandas(frame, value_columns, covariates, calendar=source.calendar, missing=source.missing,
                spacing=source.spacing)  # the same checks, and their errors, before anything is written
    run_dir = Path(run_dir or config.run_dir or Path("runs") / f"forecast-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "series.csv"
    tmp = path.with_name(path.name + ".tmp")
    frame.rename_axis("time").reset_index().to_csv(tmp, index=False)
    tmp.replace(path)
    data_config = dataclasses.replace(source, name=None, path=str(path), time_column="time",
                                      value_columns=list(value_columns) if value_columns else None,
                                      covariate_columns=covariates)
    return run.train(dataclasses.replace(config, data=data_config), run_dir)


def forecast_run(run_dir: str | Path, horizon: int, csv_path: str | Path | None = None,
                 future_csv: str | Path | None = None, out: str | Path | None = None) -> dict[str, Any]:
    """``rnnkit forecast``: load a trained run, forecast ``horizon`` steps past the end of its
    series (or of ``csv_path``, the same columns with newer data), write CSV + PNG to ``out``."""
    config, job = run.load_trained(run_dir, "forecast", "forecasting")
    if horizon < 1:
        raise ValueError(f"--horizon: expected a positive integer, got {horizon}")
    data = config.data
    frame = job.prepared.frame
    if csv_path is not None:
        frame = read_series_csv(csv_path, data.time_column, data.value_columns or frame.names, data.covariate_columns,
                                calendar=data.calendar, missing=data.missing, spacing=data.spacing)
    future = None
    if future_csv is not None:
        future = read_series_csv(future_csv, None, value_columns=data.covariate_columns, spacing="rows").values
    result = forecast_future(job, horizon, frame, future)
    out = Path(out) if out is not None else Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    result["csv"] = write_forecast_csv(result, out / "forecast.csv")
    result["png"] = plot_forecast(frame, result, out / "forecast.png", level=data.interval)
    return result


def format_forecast(result: dict[str, Any]) -> str:
    """The forecast as a small text table: one column (and interval) per series."""
    bounds = result["lower"] is not None
    interval = f"{result.get('level', 0.8):.0%} interval"
    head = [f"{name:>12s}" + (f"  {interval:>22s}" if bounds else "") for name in result["names"]]
    lines = [f"{'time':>18s} " + " ".join(head)]
    for k, stamp in enumerate(result["time"]):
        cells = []
        for s in range(len(result["names"])):
            cell = f"{result['point'][k, s]:12.4g}"
            if bounds:
                cell += f"  [{result['lower'][k, s]:9.4g}, {result['upper'][k, s]:9.4g}]"
            cells.append(cell)
        lines.append(f"{_stamp(stamp):>18s} " + " ".join(cells))
    return "\n".join(lines)


TASK = Task(ForecastConfig, build, report)
