"""Named real data sets, loaded from the packages that ship them.

Nothing is downloaded and nothing is committed: each set comes from an optional dependency
(``pip install 'rnnkit[timeseries]'``) that carries it.

Forecasting (:func:`load_series`): ``airline`` (monthly passengers 1949-1960), ``sunspots``
(monthly, 1749-1983), ``taylor`` (half-hourly UK electricity demand, 12 weeks of 2000),
``heartrate`` (150 samples, 0.5 s apart), ``msft`` (daily close 1986-2017, trading days as
steps), ``co2`` (Mauna Loa, weekly 1958-2001, 59 values missing: see ``missing``). Anomalies
(:func:`load_series`): ``mitdb`` (MIT-BIH ECG, 7500 samples, one labelled
segment), ``yahoo`` (Yahoo S5, 1000 points, 7 labelled points). Classification
(:func:`load_classification`): the UEA/UCR sets that sktime bundles, official splits.
"""

from __future__ import annotations

import os

import numpy as np

from rnnkit.data.sequences import SequenceSet
from rnnkit.data.timeseries import Missing, SeriesFrame, from_pandas
from rnnkit.extras import require

FORECAST_SETS = ("airline", "sunspots", "taylor", "heartrate", "msft")
EXTRA_SERIES = ("co2",)  # loadable by name, not in the benchmark
ANOMALY_SETS = ("mitdb", "yahoo")
CLASSIFICATION_SETS = (
    "BasicMotions", "JapaneseVowels", "GunPoint", "ArrowHead", "ItalyPowerDemand", "OSULeaf", "ACSF1",
)


def load_series(name: str, calendar: tuple[str, ...] = (), missing: Missing = "interpolate") -> SeriesFrame:
    """A named series as a :class:`SeriesFrame` (names in the module docstring)."""
    pd = require("pandas", "the named series")

    if name in ANOMALY_SETS:
        datasets = require("sktime.datasets", f"the {name} series")
        path = os.path.join(os.path.dirname(datasets.__file__), "data", name, f"{name}.csv")
        frame = pd.read_csv(path)
        frame.index = pd.RangeIndex(len(frame))
        return from_pandas(frame, ["data"], label_column="label", missing=missing, where=name)
    if name == "co2":
        statsmodels = require("statsmodels.api", "the co2 series")
        return from_pandas(statsmodels.datasets.co2.load_pandas().data["co2"], calendar=calendar, missing=missing,
                           where=name)
    if name not in FORECAST_SETS:
        raise ValueError(f"data.name: expected one of {FORECAST_SETS + EXTRA_SERIES + ANOMALY_SETS}, got {name!r}")
    pm = require("pmdarima.datasets", f"the {name} series")
    if name == "airline":
        series = pm.load_airpassengers(as_series=True)
        series.index = pd.date_range("1949-01-01", periods=len(series), freq="MS")
        series.name = "passengers"
    elif name == "sunspots":
        series = pm.load_sunspots(as_series=True)
        series.index = pd.to_datetime(series.index, format="%b %Y")
        series = series.asfreq("MS")
        series.name = "sunspots"
    elif name == "taylor":  # Taylor (2003): Monday 5 June to Sunday 27 August 2000, half-hourly, in MW
        series = pm.load_taylor(as_series=True)
        series.index = pd.date_range("2000-06-05", periods=len(series), freq="30min")
        series.name = "demand"
    elif name == "heartrate":
        series = pm.load_heartrate(as_series=True).astype(float)
        series.index = pd.Index(np.arange(len(series)) * 0.5, name="seconds")
        series.name = "heartrate"
    else:  # msft: one step per trading day (weekends and holidays are not missing values)
        frame = pm.load_msft()
        series = pd.Series(frame["Close"].to_numpy(dtype=float), name="close")
        return from_pandas(series, calendar=(), missing=missing, spacing="rows", where=name)
    return from_pandas(series, calendar=calendar, missing=missing, where=name)


def load_classification(name: str, split: str) -> SequenceSet:
    """A UEA/UCR set's official ``"train"`` or ``"test"`` split, each sequence ``(T_i, C)``."""
    if name not in CLASSIFICATION_SETS:
        raise ValueError(f"data.name: expected one of {CLASSIFICATION_SETS}, got {name!r}")
    if split not in ("train", "test"):
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    datasets = require("sktime.datasets", f"the {name} data set")
    loader = getattr(datasets, "load_" + _snake(name))
    if name == "JapaneseVowels":  # variable length: a nested DataFrame, cell (i, d) a Series
        X, y = loader(split=split, return_X_y=True)
        sequences = [np.stack([X.iloc[i, d].to_numpy(dtype=np.float32) for d in range(X.shape[1])], axis=1)
                     for i in range(len(X))]
    else:
        X, y = loader(split=split, return_X_y=True, return_type="numpy3D")  # (N, C, T)
        sequences = list(np.ascontiguousarray(X.transpose(0, 2, 1), dtype=np.float32))
    return SequenceSet(sequences, np.asarray(y))


def _snake(name: str) -> str:
    special = {"GunPoint": "gunpoint", "OSULeaf": "osuleaf", "ACSF1": "acsf1"}
    if name in special:
        return special[name]
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))
