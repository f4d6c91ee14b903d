"""Forecasting: train an RNN forecaster on a series, backtest it, forecast past the end.

The series is split by time. With N points, horizon K, ``test_size`` and
``validation_size``::

    | training windows ............ | validation origins | test origins |
    0                       N - test - val           N - test           N

Training draws random windows of ``window`` history steps followed by K target steps,
all inside the training part. Evaluation is a rolling-origin backtest: at every origin
``o`` (``stride`` apart) the model sees everything before ``o`` and forecasts ``o .. o+K-1``;
MAE, RMSE, sMAPE, MASE (scaled by the seasonal naive error on the history before ``o``) and
the prediction interval's coverage are averaged over origins (:mod:`rnnkit.tasks.core.metrics`).

The protocol: the job works on the series cut before the test part, so every evaluation
during training (the validation origins) sees none of it; early stopping and the kept
weights are chosen there. The whole series is sealed (:class:`~rnnkit.tasks.core.parts.Sealed`)
and opened by the report alone, which backtests the test origins once. The baselines of
``benchmarks/forecast.py`` use the same origins and code (:mod:`rnnkit.tasks.forecast.baselines`).

Library use::

    from rnnkit.tasks import forecast
    run_dir, result = forecast.train_pandas(sales_series, forecast.ForecastConfig(), "runs/sales")
    result.report["metrics"]                     # test_mase, test_smape, ...
    future = forecast.forecast_run(run_dir, horizon=12)   # also writes forecast.csv and forecast.png
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.data.timeseries import SeriesFrame, as_frame, from_pandas, read_series_csv, write_frame_csv
from rnnkit.files import atomic_open
from rnnkit.models.forecaster import Forecaster
from rnnkit.tasks.core import run
from rnnkit.tasks.core.baselines import Candidates
from rnnkit.tasks.core.export import ExportSpec, example_generator
from rnnkit.tasks.core.metrics import forecast_errors, mase_scale
from rnnkit.tasks.core.parts import Sealed, Split, fingerprint_bytes
from rnnkit.tasks.core.registry import Task
from rnnkit.tasks.forecast import baselines as forecast_baselines
from rnnkit.tasks.forecast.config import ForecastConfig
from rnnkit.tasks.forecast.data import Prepared, WindowBatch, backtest_origins, load_frame
from rnnkit.tasks.forecast.plots import plot_backtest, plot_forecast
from rnnkit.training import RandomBatches, StepOutput, model_device, new_run_folder

# forecast_fn(origins) -> point, lower, upper, each (O, K, S) in the series' units (bounds may be None)
ForecastFn = Callable[[list[int]], tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]


def predict(model: Forecaster, prepared: Prepared, origins: list[int], horizon: int | None = None,
            future_covariates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Point forecasts and interval bounds ``(O, K, S)`` from each origin, in the series' units."""
    return predict_batch(model, prepared, prepared.batch(origins, horizon, future_covariates), horizon)


def predict_batch(model: Forecaster, prepared: Prepared, batch: WindowBatch, horizon: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """:func:`predict` of a batch already made (several series' windows joined: :meth:`WindowBatch.join`)."""
    device = model_device(model)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        batch = batch.to(device)
        params = model(batch.history, batch.future_covariates, batch.last_value, horizon=horizon, anchor=batch.anchor,
                       start=batch.start)
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
    """The model and training pieces, the series before its test part (``prepared``), and the
    whole series sealed in ``split.test`` (see the module docstring)."""

    model: Forecaster
    step_fn: Any
    batches: RandomBatches
    evaluate: Any
    prepared: Prepared
    split: Split
    config: ForecastConfig
    chosen: list[str] = dataclasses.field(default_factory=list)  # what was chosen for the data (the season)

    @property
    def train_size(self) -> int:
        """Training windows (each origin of the training part): what ``train.epochs`` counts passes over."""
        data = self.config.data
        return self.prepared.train_end - data.horizon + 1 - data.window

    @property
    def data_notes(self) -> list[str]:
        """For the data report: the series, its missing values, the settings that depend on it."""
        frame, data = self.prepared.frame, self.config.data
        missing = int(np.isnan(frame.values).sum())
        return [f"series: {frame.num_series} ({', '.join(frame.names[:5])}{', ...' if frame.num_series > 5 else ''}), "
                f"{len(frame)} points before the test part",
                f"missing values left after loading (data.missing: {data.missing}): {missing}",
                f"window {data.window}, horizon {data.horizon}, season {data.season}, transform {data.transform}",
                *self.chosen]

    def whole_series(self) -> SeriesFrame:
        """The whole series, test part included: for the report and for forecasting past the end."""
        return self.split.test.open()


# the season of a calendar spacing: (spacing in hours, low, high) -> m
SEASONS = ((0.5, 0.45, 0.55, 48), (1, 0.9, 1.1, 24), (24, 23, 25, 7), (168, 160, 176, 52), (730, 670, 750, 12),
           (2190, 2100, 2300, 4))


def choose_season(series: SeriesFrame, data: Any) -> str | None:
    """With ``data.season: auto``, set it from the spacing of the series' time stamps (in place:
    the run's config.yaml records the number); returns what was chosen, for the data report."""
    if data.season != "auto":
        return None
    m, why = 1, "no calendar time column"
    if np.issubdtype(np.asarray(series.time).dtype, np.datetime64) and len(series) > 2:
        hours = float(np.median(np.diff(series.time).astype("timedelta64[s]").astype(np.float64))) / 3600
        for _, low, high, season in SEASONS:
            if low <= hours <= high:
                m, why = season, f"steps of {hours:g} hours"
                break
        else:
            why = f"steps of {hours:g} hours: no calendar season"
    if m > 1 and len(series) - data.test_size - data.validation_size <= 2 * m:
        m, why = 1, f"{why}, but too few training points for a season of {m}"
    data.season = m
    if data.anchor == "season" and data.window < m:
        raise ValueError(f"data.anchor=season: expected window >= season ({m}, chosen automatically), got "
                         f"{data.window}")
    return f"season: {m} (auto: {why})"


def build(config: ForecastConfig, rank: int = 0) -> ForecastJob:
    """Model, training windows, loss and validation backtest for ``config``; the test part sealed."""
    data = config.data
    series = load_frame(data)
    season_note = choose_season(series, data)
    n, K, W = len(series), data.horizon, data.window
    test_start = n - data.test_size
    train_end = test_start - data.validation_size
    if train_end - W - K < 1:
        raise ValueError(f"{data.path or data.name}: {n} points leave {train_end} for training, too few for "
                         f"window={W} + horizon={K} (lower data.test_size, validation_size or window)")
    _check_scale(series.values[:train_end], series.names, data)
    seen = series.head(test_start)  # what training and validation may read
    prepared = Prepared(seen, data, train_end)
    model = Forecaster(series.num_series, series.covariates.shape[1], K, config.model, observed_flags=prepared.flags,
                       season=data.season)
    validation = backtest_origins(n, data, "validation")
    test = backtest_origins(n, data, "test")
    split = Split({"points": n, "values before test": fingerprint_bytes(np.ascontiguousarray(seen.values).tobytes()),
                   "train": {"points": [0, train_end]},
                   "validation": {"points": [train_end, test_start], "origins": len(validation)},
                   "test": {"points": [test_start, n], "origins": len(test)}},
                  Sealed.of(series))
    batch_size = config.train.batch_size

    def make(generator: torch.Generator) -> WindowBatch:
        origins = torch.randint(W, train_end - K + 1, (batch_size,), generator=generator)
        return prepared.batch(origins.numpy())

    def step_fn(m: nn.Module, batch: WindowBatch, carry: Any) -> StepOutput:
        teacher = batch.targets if config.model.head == "seq2seq" else None
        params = m(batch.history, batch.future_covariates, batch.last_value, targets=teacher, anchor=batch.anchor,
                   start=batch.start)
        return StepOutput(_unwrap(m).loss(params, batch.targets, batch.observed))

    def evaluate(m: nn.Module) -> dict[str, float]:
        if not validation:
            return {}
        metrics, *_ = backtest(seen, validation, K, data.season, lambda o: predict(_unwrap(m), prepared, o))
        return {f"val_{k}": v for k, v in metrics.items()}

    batches = RandomBatches(make, seed=config.train.seed + 1000 * rank)
    return ForecastJob(model, step_fn, batches, evaluate, prepared, split, config, [season_note] if season_note else [])


def _check_scale(train: np.ndarray, names: list[str], data: Any) -> None:
    """Refuse a series that its seasonal naive forecast predicts exactly over the training part (a
    constant series, or one that repeats exactly every ``season`` steps): MASE divides by that
    forecast's error, zero here, and there is no pattern left to learn."""
    scale = np.nanmean(np.abs(train[data.season:] - train[:-data.season]), axis=0)
    size = np.nanmax(np.abs(train), axis=0)
    for s, name in enumerate(names):
        if not scale[s] > 1e-9 * max(size[s], 1e-300):
            source = data.path or data.name
            shape = "constant" if np.nanmax(train[:, s]) == np.nanmin(train[:, s]) else \
                f"exactly periodic (season {data.season})"
            raise ValueError(f"{source}: series {name!r} is {shape} over its training part (the first {len(train)} "
                             f"points): each value equals the one {data.season} step(s) before, so MASE (which "
                             f"divides by that forecast's error, zero here) is undefined and nothing is left to "
                             f"learn; leave the series out")


def _unwrap(model: nn.Module) -> Forecaster:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


@dataclass
class Backtest:
    """A backtest's forecasts from each origin, ``(O, K, S)`` in the series' units (bounds may be None)."""

    origins: list[int]
    point: np.ndarray
    lower: np.ndarray | None
    upper: np.ndarray | None


def test_backtest(job: ForecastJob) -> tuple[dict[str, float], SeriesFrame, Backtest]:
    """The test origins' backtest of the job's model (it opens the test part): the metrics, the
    whole series and the forecasts."""
    data = job.config.data
    series = job.whole_series()
    prepared = Prepared(series, data, job.prepared.train_end)
    origins = backtest_origins(len(series), data, "test")
    metrics, *forecasts = backtest(series, origins, data.horizon, data.season,
                                   lambda o: predict(job.model, prepared, o))
    return metrics, series, Backtest(origins, *forecasts)


def write_backtest_csv(series: SeriesFrame, result: Backtest, path: str | Path) -> Path:
    """One row per (origin, step, series): ``origin, step, time, series, actual, forecast[, lower, upper]``."""
    bounds = result.lower is not None
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["origin", "step", "time", "series", "actual", "forecast"] + (["lower", "upper"] if bounds else []))
        for i, origin in enumerate(result.origins):
            for k in range(result.point.shape[1]):
                for s, name in enumerate(series.names):
                    row = [origin, k + 1, _stamp(series.time[origin + k]), name, f"{series.values[origin + k, s]:.6g}",
                           f"{result.point[i, k, s]:.6g}"]
                    if bounds:
                        row += [f"{result.lower[i, k, s]:.6g}", f"{result.upper[i, k, s]:.6g}"]
                    writer.writerow(row)
    return Path(path)


def read_backtest_csv(path: str | Path) -> Backtest:
    """The forecasts of a ``backtest.csv`` (:func:`write_backtest_csv`), as arrays again."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    origins = sorted({int(r["origin"]) for r in rows})
    steps = max(int(r["step"]) for r in rows)
    names = list(dict.fromkeys(r["series"] for r in rows))
    columns = ["forecast"] + (["lower", "upper"] if "lower" in rows[0] else [])
    arrays = {c: np.full((len(origins), steps, len(names)), np.nan) for c in columns}
    where = {o: i for i, o in enumerate(origins)}
    for r in rows:
        index = (where[int(r["origin"])], int(r["step"]) - 1, names.index(r["series"]))
        for c in columns:
            arrays[c][index] = float(r[c])
    return Backtest(origins, arrays["forecast"], arrays.get("lower"), arrays.get("upper"))


def report(job: ForecastJob, run_dir: Path) -> dict[str, Any]:
    """After training: the test backtest (the one read of the test part) with its forecasts
    (``backtest.csv``) and plot, and a forecast past the end (CSV + PNG)."""
    metrics, series, result = test_backtest(job)
    files = [write_backtest_csv(series, result, run_dir / "backtest.csv"),
             plot_backtest(series, result.origins, {"rnnkit": result.point}, run_dir / "backtest.png")]
    if len(series.covariate_names) == 2 * len(series.calendar):  # no user covariates to ask for
        future = forecast_future(job, job.config.data.horizon, series)
        files += [write_forecast_csv(future, run_dir / "forecast.csv"),
                  plot_forecast(series, future, run_dir / "forecast.png", level=job.config.data.interval)]
    return {"metrics": {f"test_{k}": v for k, v in metrics.items()}, "files": [str(f) for f in files if f]}


def baselines(job: ForecastJob) -> Candidates:
    """Naive, seasonal naive, ETS and ARIMA on the test origins of the report's backtest, scored
    by the same code (see :func:`rnnkit.tasks.forecast.baselines.standard`)."""
    data = job.config.data
    series = job.whole_series()
    origins = backtest_origins(len(series), data, "test")

    def scored(fn: ForecastFn) -> Callable[[], dict[str, float]]:
        def score() -> dict[str, float]:
            metrics, *_ = backtest(series, origins, data.horizon, data.season, fn)
            return {f"test_{k}": v for k, v in metrics.items()}
        return score

    candidates = Candidates({})
    for name, fn in forecast_baselines.standard(series, data).items():
        if isinstance(fn, str):
            candidates.skipped[name] = fn
        else:
            candidates.run[name] = scored(fn)
    return candidates


# -- after training: forecasts past the end, files -----------------------------------------------
def forecast_future(job: ForecastJob, horizon: int, frame: SeriesFrame | None = None,
                    future_covariates: np.ndarray | None = None) -> dict[str, Any]:
    """Forecast ``horizon`` steps after the end of ``frame`` (default: the whole series of the run).

    The direct head forecasts the horizon it was trained for (fewer: the first steps of
    it; more: an error); the seq2seq head runs as far as asked.

    Returns ``{"time": (K,), "point"/"lower"/"upper": (K, S) or None, "names": [...]}``.
    """
    frame = frame if frame is not None else job.whole_series()
    return forecast_frames(job, [frame], horizon, [future_covariates])[0]


def forecast_frames(job: ForecastJob, frames: list[SeriesFrame], horizon: int,
                    future_covariates: list[np.ndarray | None] | None = None) -> list[dict[str, Any]]:
    """:func:`forecast_future` from the end of each of several frames (series of the run's kind),
    in one batched forward pass; each gets the forecast it would get alone."""
    futures = future_covariates if future_covariates is not None else [None] * len(frames)
    steps = horizon
    if job.config.model.head == "direct" and horizon < job.model.K:  # it forecasts K steps: keep the first ones
        steps = job.model.K
    batches, prepared = [], None
    start = job.prepared.frame.time[0]
    for frame, future in zip(frames, futures, strict=True):
        if frame.num_series != job.prepared.frame.num_series:
            raise ValueError(f"expected {job.prepared.frame.num_series} series {job.prepared.frame.names}, "
                             f"got {frame.num_series} {frame.names}")
        if steps > horizon and future is not None and len(future) < steps:
            raise ValueError(f"future covariates: the direct head reads the covariates of all {steps} steps it "
                             f"forecasts at once (even to give {horizon}): expected {steps} rows, got {len(future)}")
        prepared = Prepared(frame, job.config.data, len(frame))
        prepared.global_loc, prepared.global_scale = job.prepared.global_loc, job.prepared.global_scale
        batch = prepared.batch([len(frame)], steps, frame.future_covariates(steps, future))
        if job.model.smoothing is not None:  # ES-RNN: the seasonal phase counts from the training series' start
            batch.start = batch.start + grid_offset(start, frame)
        batches.append(batch)
    if prepared is None:
        return []
    point, lower, upper = predict_batch(job.model, prepared, WindowBatch.join(batches), steps)
    return [{"time": frame.future_time(horizon), "names": frame.names, "level": job.config.data.interval,
             "point": point[i, :horizon],
             "lower": None if lower is None else lower[i, :horizon],
             "upper": None if upper is None else upper[i, :horizon]} for i, frame in enumerate(frames)]


def grid_offset(start: Any, frame: SeriesFrame) -> int:
    """How many steps of ``frame``'s grid its first time lies after ``start`` (negative: before):
    where ``frame`` begins in the numbering of a series that began at ``start``. An error if
    ``start`` is not on ``frame``'s grid."""
    first = frame.time[0]
    if np.issubdtype(np.asarray(frame.time).dtype, np.datetime64):
        import pandas as pd

        low, high = sorted([pd.Timestamp(start), pd.Timestamp(first)])
        grid = pd.date_range(low, high, freq=frame.step)
        if len(grid) == 0 or grid[-1] != high:
            raise ValueError(f"the series starts at {first}, off the grid of steps {frame.step} from the training "
                             f"series' start {start}; expected the same grid (the model's season counts from there)")
        return (len(grid) - 1) * (1 if pd.Timestamp(first) >= pd.Timestamp(start) else -1)
    steps = (float(first) - float(start)) / float(frame.step)
    if abs(steps - round(steps)) > 1e-6:
        raise ValueError(f"the series starts at {first}, off the grid of steps {frame.step} from the training "
                         f"series' start {start}; expected the same grid (the model's season counts from there)")
    return int(round(steps))


def write_forecast_csv(result: dict[str, Any], path: str | Path) -> Path:
    """One row per (time, series): ``time, series, forecast[, lower, upper]``."""
    path = Path(path)
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        bounds = result["lower"] is not None
        writer.writerow(["time", "series", "forecast"] + (["lower", "upper"] if bounds else []))
        for k, stamp in enumerate(result["time"]):
            for s, name in enumerate(result["names"]):
                row = [_stamp(stamp), name, f"{result['point'][k, s]:.6g}"]
                if bounds:
                    row += [f"{result['lower'][k, s]:.6g}", f"{result['upper'][k, s]:.6g}"]
                writer.writerow(row)
    return path


def _stamp(value: Any) -> str:
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value, unit="m"))
    return f"{float(value):g}"


def train_pandas(data: Any, config: ForecastConfig | None = None, run_dir: str | Path | None = None,
                 value_columns: list[str] | None = None, covariate_columns: list[str] | None = None,
                 overwrite: bool = False) -> tuple[Path, Any]:
    """Train on a ``pandas.Series`` or ``DataFrame`` (index = time) from Python.

    The data is checked as :func:`~rnnkit.data.timeseries.from_pandas` checks it, written to
    ``RUN_DIR/series.csv`` and named in the run's config, so the run resumes, evaluates and
    forecasts (:func:`forecast_run`) like any other. ``config`` defaults to
    :class:`ForecastConfig`'s defaults; its ``data`` settings other than the source apply.
    Returns ``(run_dir, FitResult)``.
    """
    config = config or ForecastConfig()
    frame = as_frame(data)
    source = config.data
    covariates = list(covariate_columns if covariate_columns is not None else source.covariate_columns)
    from_pandas(frame, value_columns, covariates, calendar=source.calendar, missing=source.missing,
                spacing=source.spacing)  # the same checks, and their errors, before anything is written
    run_dir = Path(run_dir or config.run_dir or new_run_folder("runs", "forecast"))
    path = run_dir / "series.csv"

    def write_series(folder: Path) -> None:  # once the folder is held: a run there is never written over
        write_frame_csv(frame, path)

    data_config = dataclasses.replace(source, name=None, path=str(path), time_column="time",
                                      value_columns=list(value_columns) if value_columns else None,
                                      covariate_columns=covariates)
    return run.train(dataclasses.replace(config, data=data_config), run_dir, overwrite=overwrite, setup=write_series)


def forecast_run(run_dir: str | Path, horizon: int, csv_path: str | Path | None = None,
                 future_csv: str | Path | None = None, out: str | Path | None = None,
                 allow_unfinished: bool = False) -> dict[str, Any]:
    """``rnnkit forecast``: load a trained run, forecast ``horizon`` steps past the end of its
    series (or of ``csv_path``, the same columns with newer data on the same time grid), write
    CSV + PNG to ``out``."""
    if horizon < 1:
        raise ValueError(f"--horizon: expected a positive integer, got {horizon}")
    out = Path(out) if out is not None else Path(run_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: a file; expected a folder for forecast.csv and forecast.png")
    config, job = run.load_trained(run_dir, "forecast", "forecasting", allow_unfinished)
    data = config.data
    frame = job.whole_series()  # after the report: forecasting past the end reads every point
    if csv_path is not None:
        trained = frame
        frame = read_series_csv(csv_path, data.time_column, data.value_columns or frame.names, data.covariate_columns,
                                calendar=data.calendar, missing=data.missing, spacing=data.spacing)
        if str(frame.step) != str(trained.step):
            raise ValueError(f"{csv_path}: its time steps are {frame.step}, but the run was trained on steps of "
                             f"{trained.step}; expected newer data on the same grid")
        if len(frame) < data.window:
            raise ValueError(f"{csv_path}: {len(frame)} rows; the model reads the last window={data.window} of them")
    future = None
    if future_csv is not None:
        future = read_series_csv(future_csv, None, value_columns=data.covariate_columns, spacing="rows").values
    result = forecast_future(job, horizon, frame, future)
    for key in ("point", "lower", "upper"):
        if result[key] is not None and not np.isfinite(result[key]).all():
            raise FloatingPointError(f"{run_dir}: the model's forecast ({key}) is not finite; its weights or the "
                                     f"data it forecasts from hold extreme values")
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


class WindowForecast(nn.Module):
    """The forecaster as ``(history, last_value[, future_covariates][, anchor]) -> parameters``: the
    exported form (no teacher forcing; no covariates input when the series has none)."""

    def __init__(self, model: Forecaster, covariates: int, anchor: bool) -> None:
        super().__init__()
        self.model, self.covariates, self.anchor = model, covariates, anchor

    def forward(self, history: Tensor, last_value: Tensor, *rest: Tensor) -> Tensor:
        future = rest[0] if self.covariates else history.new_zeros(self.model.K, history.shape[1], 0)
        anchor = rest[-1] if self.anchor else None
        return self.model(history, future, last_value, anchor=anchor)


def export_spec(job: ForecastJob, streaming: bool) -> ExportSpec:
    """``rnnkit export``: one forecast per call from a window of history, in the model's scaled
    units (the sidecar says how the task scales a window and reads the parameters back)."""
    if streaming:
        raise ValueError("the forecaster reads a whole window of history for each forecast: export it without "
                         "--streaming (rnnkit serve keeps a forecasting stream)")
    if job.config.model.smoothing != "none":
        raise ValueError("model.smoothing=es: the exported forecaster would need each window's seasonal phase as an "
                         "input too; exporting ES-RNN forecasters is not supported (forecast with rnnkit forecast or "
                         "rnnkit serve)")
    data, model = job.config.data, job.model
    W, K, I = data.window, model.K, job.prepared.input_size
    C, S = job.prepared.frame.covariates.shape[1], job.prepared.frame.num_series
    anchor = data.anchor != "none"

    def make(b: int, t: int) -> tuple[Tensor, ...]:
        g = example_generator(b, t)
        parts = [torch.randn(W, b, I, generator=g), torch.randn(b, S, generator=g)]
        parts += [torch.randn(K, b, C, generator=g)] if C else []
        return (*parts, *([torch.randn(K, b, S, generator=g)] if anchor else []))

    names = ["history", "last_value"] + (["future_covariates"] if C else []) + (["anchor"] if anchor else [])
    dims = {"history": {1: "batch"}, "last_value": {0: "batch"}, "future_covariates": {1: "batch"}, "anchor": {1: "batch"}}
    scaling = ("each series scaled by its window's mean and standard deviation" if data.scaling == "window"
               else "each series scaled by the training part's mean and standard deviation (global_loc, global_scale)")
    describe = {"history": f"the last {W} steps (window, batch, {I}): the series {scaling}"
                           + (", log-transformed first" if data.transform == "log" else "")
                           + (", then observed flags" if data.missing == "mask" else "") + ", then covariates",
                "last_value": "the last history value of each series, scaled (batch, series)",
                "future_covariates": f"the covariates of the {K} steps ahead (horizon, batch, covariates)",
                "anchor": f"the {data.anchor} forecast in scaled units (horizon, batch, series), which the model corrects",
                "parameters": f"(horizon, batch, series, parameters) of distribution {job.config.model.distribution!r} "
                              "in scaled units: the point (or mean) first; unscale as value * scale + loc"}
    return ExportSpec(WindowForecast(model, C, anchor), make, names, ["parameters"], {n: dims[n] for n in names}, W,
                      {n: describe[n] for n in [*names, "parameters"]},
                      {"window": W, "horizon": K, "scaling": data.scaling, "transform": data.transform,
                       "global_loc": job.prepared.global_loc.tolist(), "global_scale": job.prepared.global_scale.tolist(),
                       "series": job.prepared.frame.names}, varargs=2)


TASK = Task(ForecastConfig, build, report, baselines=baselines, export=export_spec)
