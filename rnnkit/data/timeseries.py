"""Time series for forecasting and anomaly detection: read, check, fill, add calendar features.

A :class:`SeriesFrame` is one or more aligned series on a regular time grid:

    time        (T,)    timestamps (datetime64) or step numbers (float)
    values      (T, S)  the S target series, NaN where a value is missing
    covariates  (T, C)  known-in-advance inputs (calendar features, the user's own columns)
    labels      (T,)    optional 0/1 anomaly labels (for evaluation only)

It comes from a CSV (:func:`read_series_csv`), a pandas object (:func:`from_pandas`) or a
named data set (:mod:`rnnkit.data.datasets`). Timestamps must be sorted and regularly
spaced; otherwise the error says where they are not. ``spacing="rows"`` treats the rows as
equally spaced steps instead (trading days, samples of a sensor with a jittery clock).
Missing values are handled as ``missing`` says: ``"interpolate"`` (linear in time, edges
held), ``"ffill"``, ``"mask"`` (kept as NaN: the forecaster feeds the last seen value plus
an "observed" flag and leaves them out of the loss and of every metric), or ``"error"``.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np

from rnnkit.extras import require
from rnnkit.files import InputError, atomic_path, read_text

Missing = Literal["interpolate", "ffill", "mask", "error"]
Spacing = Literal["infer", "rows"]
CALENDAR_FEATURES = ("hour", "dayofweek", "dayofyear", "month")
_CALENDAR_PERIOD = {"hour": 24.0, "dayofweek": 7.0, "dayofyear": 366.0, "month": 12.0}


@dataclass
class SeriesFrame:
    """Aligned series on a regular grid (shapes in the module docstring)."""

    time: np.ndarray
    values: np.ndarray
    names: list[str]
    covariates: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    covariate_names: list[str] = field(default_factory=list)
    calendar: tuple[str, ...] = ()
    step: Any = 1.0  # the grid spacing: a pandas offset for timestamps, a number for step numbers
    labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float64)
        if self.values.ndim == 1:
            self.values = self.values[:, None]
        if self.values.ndim != 2:
            raise ValueError(f"values: expected (T, S), got shape {self.values.shape}")
        T = self.values.shape[0]
        if len(self.time) != T:
            raise ValueError(f"time: expected {T} timestamps (one per row of values), got {len(self.time)}")
        if self.covariates.size == 0:
            self.covariates = np.zeros((T, 0))
        if self.covariates.shape[0] != T:
            raise ValueError(f"covariates: expected {T} rows, got {self.covariates.shape[0]}")
        if len(self.names) != self.values.shape[1]:
            raise ValueError(f"names: expected {self.values.shape[1]} names, got {self.names}")

    def __len__(self) -> int:
        return self.values.shape[0]

    def head(self, n: int) -> SeriesFrame:
        """The first ``n`` rows (times, values, covariates and labels), as a new frame."""
        labels = None if self.labels is None else self.labels[:n]
        return replace(self, time=self.time[:n], values=self.values[:n], covariates=self.covariates[:n],
                                   labels=labels)

    @property
    def num_series(self) -> int:
        return self.values.shape[1]

    @property
    def observed(self) -> np.ndarray:
        """``(T, S)`` bool: where a value is present (all true unless ``missing="mask"``)."""
        return ~np.isnan(self.values)

    def future_time(self, horizon: int) -> np.ndarray:
        """The ``horizon`` timestamps after the last one, on the same grid."""
        if np.issubdtype(np.asarray(self.time).dtype, np.datetime64):
            pd = require("pandas", "time series")

            return pd.date_range(self.time[-1], periods=horizon + 1, freq=self.step)[1:].to_numpy()
        return np.asarray(self.time[-1], dtype=float) + self.step * np.arange(1, horizon + 1)

    def future_covariates(self, horizon: int, user: np.ndarray | None = None) -> np.ndarray:
        """``(horizon, C)`` covariates after the end: calendar features computed, the user's
        own columns taken from ``user`` (``(horizon, C_user)``), which they must then give."""
        n_user = len(self.covariate_names) - 2 * len(self.calendar)
        parts = []
        if n_user:
            if user is None:
                raise ValueError(
                    f"this series has {n_user} covariate column(s) {self.covariate_names[:n_user]}: "
                    f"expected their values for the {horizon} future steps (a CSV of those columns)")
            user = np.asarray(user, dtype=np.float64)
            if user.shape != (horizon, n_user):
                raise ValueError(f"future covariates: expected shape ({horizon}, {n_user}), got {user.shape}")
            parts.append(user)
        if self.calendar:
            parts.append(calendar_features(self.future_time(horizon), self.calendar))
        return np.concatenate(parts, axis=1) if parts else np.zeros((horizon, 0))

    def slice(self, stop: int) -> "SeriesFrame":
        """The first ``stop`` rows (a history that ends earlier)."""
        labels = self.labels[:stop] if self.labels is not None else None
        return replace(self, time=self.time[:stop], values=self.values[:stop], covariates=self.covariates[:stop],
                       labels=labels)


def calendar_features(time: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """``(T, 2 * len(names))``: sin and cos of each calendar position (hour of day, ...)."""
    pd = require("pandas", "time series")

    index = pd.DatetimeIndex(time)
    columns = []
    for name in names:
        if name not in _CALENDAR_PERIOD:
            raise ValueError(f"calendar: expected names from {CALENDAR_FEATURES}, got {name!r}")
        position = np.asarray(getattr(index, name), dtype=np.float64)
        if name == "hour":
            position = position + index.minute.to_numpy() / 60.0
        angle = 2 * math.pi * position / _CALENDAR_PERIOD[name]
        columns += [np.sin(angle), np.cos(angle)]
    return np.stack(columns, axis=1) if columns else np.zeros((len(index), 0))


def _grid(time: np.ndarray, spacing: Spacing, where: str) -> tuple[np.ndarray, Any]:
    """Check that ``time`` is sorted and regular; return it (as datetime64 or float) and the step."""
    pd = require("pandas", "time series")

    if spacing == "rows":
        return np.arange(len(time), dtype=np.float64), 1.0
    if len(time) < 3:
        raise ValueError(f"{where}: expected at least 3 time points, got {len(time)}")
    numeric = np.issubdtype(np.asarray(time).dtype, np.number)
    stamps = np.asarray(time, dtype=np.float64) if numeric else pd.to_datetime(pd.Index(time)).to_numpy()
    diffs = np.diff(stamps)
    zero = 0.0 if numeric else np.timedelta64(0, "ns")
    time = stamps if numeric else [str(pd.Timestamp(t)) for t in stamps]  # as the error messages show them
    if (diffs <= zero).any():
        i = int(np.argmax(diffs <= zero))
        kind = "repeated" if diffs[i] == zero else "out of order"
        raise ValueError(f"{where}: timestamps must be sorted and unique; row {i + 1} ({time[i + 1]}) is {kind} "
                         f"after row {i} ({time[i]}); sort the file or pass spacing='rows'")
    if numeric:
        if not np.allclose(diffs, diffs[0], rtol=1e-6):
            i = int(np.argmax(~np.isclose(diffs, diffs[0], rtol=1e-6)))
            raise ValueError(f"{where}: timestamps must be regularly spaced (step {diffs[0]:g}); the step after "
                             f"row {i} is {diffs[i]:g}; resample the data or pass spacing='rows'")
        return stamps, float(diffs[0])
    freq = pd.infer_freq(pd.DatetimeIndex(stamps))
    if freq is None:
        steps, counts = np.unique(diffs, return_counts=True)
        common = steps[np.argmax(counts)]
        i = int(np.argmax(diffs != common))
        raise ValueError(f"{where}: timestamps must be regularly spaced; most steps are {pd.Timedelta(common)} "
                         f"but {time[i]} -> {time[i + 1]} is {pd.Timedelta(diffs[i])}; resample the data, "
                         f"or pass spacing='rows' to treat rows as equal steps")
    return stamps, pd.tseries.frequencies.to_offset(freq)


def fill_missing(values: np.ndarray, missing: Missing, names: Sequence[str], where: str = "data") -> np.ndarray:
    """Apply the ``missing`` policy to ``(T, S)`` values (see the module docstring); errors name ``where``."""
    gaps = np.isnan(values)
    if not gaps.any() or missing == "mask":
        if gaps.all(axis=0).any():
            raise ValueError(f"{where}: series {names[int(np.argmax(gaps.all(axis=0)))]!r} has no values at all")
        return values
    if missing == "error":
        t, s = np.argwhere(gaps)[0]
        raise ValueError(f"{where}: series {names[s]!r} is missing {int(gaps.sum())} value(s), the first at row {t}; "
                         f"choose missing: interpolate, ffill or mask")
    filled = values.copy()
    rows = np.arange(len(values))
    for s in range(values.shape[1]):
        seen = ~gaps[:, s]
        if not seen.any():
            raise ValueError(f"{where}: series {names[s]!r} has no values at all")
        if missing == "interpolate":
            filled[:, s] = np.interp(rows, rows[seen], values[seen, s])
        else:  # ffill; a leading gap takes the first value
            last = np.maximum.accumulate(np.where(seen, rows, -1))
            last[last < 0] = int(np.argmax(seen))
            filled[:, s] = values[last, s]
    return filled


def from_pandas(
    data: Any,
    value_columns: Sequence[str] | None = None,
    covariate_columns: Sequence[str] = (),
    label_column: str | None = None,
    calendar: Sequence[str] = (),
    missing: Missing = "interpolate",
    spacing: Spacing = "infer",
    where: str = "data",
) -> SeriesFrame:
    """A ``pandas.Series`` or ``DataFrame`` whose index is the time axis -> :class:`SeriesFrame`.

    ``value_columns`` default to every column that is not a covariate or the label.
    """
    pd = require("pandas", "time series")

    frame = data.to_frame(name=data.name if data.name is not None else "value") if isinstance(data, pd.Series) else data
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{where}: expected a pandas Series or DataFrame, got {type(data).__name__}")
    if len(frame) == 0:
        raise ValueError(f"{where}: no rows")
    reserved = set(covariate_columns) | ({label_column} if label_column else set())
    for name in list(covariate_columns) + ([label_column] if label_column else []) + list(value_columns or []):
        if name not in frame.columns:
            raise ValueError(f"{where}: expected a column {name!r}, got columns {list(frame.columns)}")
    if value_columns is None:
        value_columns = [c for c in frame.columns if c not in reserved]  # a stray text cell is reported below
        if not value_columns:
            raise ValueError(f"{where}: no value column among {list(frame.columns)}")
    time, step = _grid(frame.index.to_numpy(), spacing, where)
    if calendar and not np.issubdtype(time.dtype, np.datetime64):
        raise ValueError(f"{where}: calendar features {list(calendar)} need timestamps, got step numbers")
    values = _numeric(frame, list(value_columns), where)
    names = [str(c) for c in value_columns]
    covariates = fill_missing(_numeric(frame, list(covariate_columns), where), "interpolate", list(covariate_columns),
                              where) \
        if covariate_columns else np.zeros((len(frame), 0))
    covariate_names = [str(c) for c in covariate_columns]
    if calendar:
        covariates = np.concatenate([covariates, calendar_features(time, calendar)], axis=1)
        covariate_names += [f"{name}_{f}" for name in calendar for f in ("sin", "cos")]
    labels = None
    if label_column:
        labels = _numeric(frame, [label_column], where)[:, 0]
        if np.isnan(labels).any() or not np.isin(labels, (0, 1)).all():
            raise ValueError(f"{where}: column {label_column!r}: expected labels 0 (normal) or 1 (anomaly)")
        labels = labels.astype(np.int64)
    return SeriesFrame(time, fill_missing(values, missing, names, where), names, covariates, covariate_names,
                       tuple(calendar), step, labels)


MAX_MAGNITUDE = 1e30  # beyond this, squared errors and float32 arithmetic lose the numbers: rescale first


def _numeric(frame: Any, columns: list[str], where: str) -> np.ndarray:
    """The columns as float64; a cell that is not a number, is infinite or is beyond
    :data:`MAX_MAGNITUDE` is an error naming the column and the row (0 is the first data row).
    Empty cells and ``NaN`` are missing values (NaN here)."""
    pd = require("pandas", "time series")

    out = np.empty((len(frame), len(columns)))
    for j, column in enumerate(columns):
        converted = pd.to_numeric(frame[column], errors="coerce")
        bad = converted.isna() & frame[column].notna()
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            raise ValueError(f"{where}: column {column!r} row {row}: expected a number, "
                             f"got {frame[column].iloc[row]!r}")
        values = converted.to_numpy(dtype=np.float64)
        extreme = np.abs(np.nan_to_num(values, nan=0.0)) > MAX_MAGNITUDE  # inf included
        if extreme.any():
            row = int(np.argmax(extreme))
            kind = "an infinite value" if np.isinf(values[row]) else f"a value beyond ±{MAX_MAGNITUDE:g}"
            raise ValueError(f"{where}: column {column!r} row {row}: {kind} ({frame[column].iloc[row]!r}); expected "
                             f"finite numbers within ±{MAX_MAGNITUDE:g} (rescale the data, or leave the cell empty "
                             f"for a missing value)")
        out[:, j] = values
    return out


def read_csv_frame(path: str | Path, what: str) -> Any:
    """A UTF-8 CSV file as a pandas DataFrame; a folder, a device, binary data, another encoding,
    an empty file or a malformed one is an error naming the file."""
    pd = require("pandas", "reading CSV files")

    text = read_text(path, what)
    if not text.strip():
        raise InputError(f"{path}: empty; expected {what} with a header row")
    try:
        frame = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"{path}: not a well-formed CSV ({first})") from None
    if len(frame) == 0:
        raise InputError(f"{path}: a header row and no data; expected {what}")
    return frame


def read_series_csv(
    path: str | Path,
    time_column: str | None = None,
    value_columns: Sequence[str] | None = None,
    covariate_columns: Sequence[str] = (),
    label_column: str | None = None,
    calendar: Sequence[str] = (),
    missing: Missing = "interpolate",
    spacing: Spacing = "infer",
) -> SeriesFrame:
    """A CSV with a time column and value columns -> :class:`SeriesFrame`.

    Without ``time_column`` the rows are equally spaced steps. Other arguments as in
    :func:`from_pandas`.
    """
    pd = require("pandas", "time series")

    path = Path(path)
    frame = read_csv_frame(path, "a CSV of time series")
    if time_column is None:
        spacing = "rows"
    else:
        if time_column not in frame.columns:
            raise ValueError(f"{path}: expected a time column {time_column!r}, got columns {list(frame.columns)}")
        stamps = frame[time_column]
        if not pd.api.types.is_numeric_dtype(stamps):
            try:
                stamps = pd.to_datetime(stamps)
            except (ValueError, TypeError) as error:
                raise ValueError(f"{path}: column {time_column!r}: expected timestamps or numbers ({error})") from None
        frame = frame.drop(columns=[time_column]).set_index(pd.Index(stamps, name=time_column))
    return from_pandas(frame, value_columns, covariate_columns, label_column, calendar, missing, spacing, str(path))


def as_frame(data: Any) -> Any:
    """A pandas Series as a one-column DataFrame (named ``value`` if it has no name); a DataFrame
    as it is; anything else is an error."""
    pd = require("pandas", "series in memory")
    frame = data.to_frame(name=data.name if data.name is not None else "value") if isinstance(data, pd.Series) \
        else data
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"data: expected a pandas Series or DataFrame (index = time), got {type(data).__name__}")
    return frame


def write_frame_csv(frame: Any, path: str | Path) -> Path:
    """``frame`` (index = time) as a CSV with a ``time`` column, which :func:`read_series_csv` reads
    back with ``time_column="time"`` (written to a temporary name and renamed)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        frame.rename_axis("time").reset_index().to_csv(tmp, index=False)
    return path
