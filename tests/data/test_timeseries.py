"""Loaders for series and labelled sequences: regular grids, gaps, calendar features, file formats."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rnnkit.data.sequences import SequenceSet, pad_batch, read_long_csv, read_npz, save_npz
from rnnkit.data.timeseries import SeriesFrame, calendar_features, fill_missing, from_pandas, read_series_csv


def write_csv(path, frame):
    frame.to_csv(path, index=False)
    return path


def test_csv_with_dates_columns_and_covariates(tmp_path):
    frame = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=6, freq="D").astype(str),
                          "a": [1.0, 2, 3, 4, 5, 6], "b": [6.0, 5, 4, 3, 2, 1], "promo": [0, 1, 0, 1, 0, 1]})
    data = read_series_csv(write_csv(tmp_path / "s.csv", frame), "date", covariate_columns=["promo"],
                           calendar=["dayofweek"])
    assert data.names == ["a", "b"]  # every numeric column but the covariates
    assert data.values.shape == (6, 2) and data.covariates.shape == (6, 3)
    assert data.covariate_names == ["promo", "dayofweek_sin", "dayofweek_cos"]
    # 2020-01-01 was a Wednesday: day 2 of the week
    assert data.covariates[0, 1] == pytest.approx(math.sin(2 * math.pi * 2 / 7))
    assert data.future_time(2).astype("datetime64[D]").astype(str).tolist() == ["2020-01-07", "2020-01-08"]
    future = data.future_covariates(2, user=np.array([[1.0], [0.0]]))
    assert future.shape == (2, 3) and future[0, 0] == 1.0
    with pytest.raises(ValueError, match="expected their values for the 2 future steps"):
        data.future_covariates(2)


def test_monthly_timestamps_are_regular_and_continue_by_month():
    series = pd.Series(np.arange(5.0), index=pd.date_range("2001-01-01", periods=5, freq="MS"))
    data = from_pandas(series)
    assert data.future_time(2).astype("datetime64[D]").astype(str).tolist() == ["2001-06-01", "2001-07-01"]


def test_unsorted_and_irregular_timestamps_are_refused(tmp_path):
    unsorted = pd.DataFrame({"t": ["2020-01-01", "2020-01-03", "2020-01-02", "2020-01-04"], "v": [1, 2, 3, 4]})
    with pytest.raises(ValueError, match=r"sorted and unique; row 2 \(2020-01-02 00:00:00\) is out of order"):
        read_series_csv(write_csv(tmp_path / "u.csv", unsorted), "t")
    irregular = pd.DataFrame({"t": ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-05", "2020-01-06"],
                              "v": [1, 2, 3, 4, 5]})
    with pytest.raises(ValueError, match="regularly spaced; most steps are 1 days"):
        read_series_csv(write_csv(tmp_path / "i.csv", irregular), "t")
    # the same file read as equally spaced rows is fine
    assert len(read_series_csv(tmp_path / "i.csv", "t", spacing="rows")) == 5
    repeated = pd.DataFrame({"t": [0.0, 1.0, 1.0, 2.0], "v": [1, 2, 3, 4]})
    with pytest.raises(ValueError, match="row 2 .* is repeated"):
        read_series_csv(write_csv(tmp_path / "r.csv", repeated), "t")


def test_missing_values_policies():
    values = np.array([[1.0], [np.nan], [np.nan], [4.0], [np.nan]])
    assert fill_missing(values, "interpolate", ["v"])[:, 0].tolist() == [1.0, 2.0, 3.0, 4.0, 4.0]
    assert fill_missing(values, "ffill", ["v"])[:, 0].tolist() == [1.0, 1.0, 1.0, 4.0, 4.0]
    assert np.isnan(fill_missing(values, "mask", ["v"])).sum() == 3
    with pytest.raises(ValueError, match="'v' is missing 3 value"):
        fill_missing(values, "error", ["v"])
    leading = np.array([[np.nan], [2.0], [3.0]])
    assert fill_missing(leading, "ffill", ["v"])[:, 0].tolist() == [2.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="no values at all"):
        fill_missing(np.full((3, 1), np.nan), "interpolate", ["v"])


def test_bad_values_and_columns_name_the_problem(tmp_path):
    frame = pd.DataFrame({"t": [0, 1, 2], "v": ["1", "x", "3"]})
    with pytest.raises(ValueError, match="column 'v' row 1: expected a number, got 'x'"):
        read_series_csv(write_csv(tmp_path / "b.csv", frame), "t")
    with pytest.raises(ValueError, match="expected a time column 'time'"):
        read_series_csv(tmp_path / "b.csv", "time")
    with pytest.raises(FileNotFoundError):
        read_series_csv(tmp_path / "none.csv")
    labelled = pd.DataFrame({"v": [1.0, 2, 3], "label": [0, 2, 0]})
    with pytest.raises(ValueError, match="expected labels 0 .* or 1"):
        from_pandas(labelled.set_index(pd.RangeIndex(3)), ["v"], label_column="label")


def test_calendar_features_are_unit_circle_positions():
    stamps = pd.date_range("2021-03-01 06:30", periods=3, freq="30min").to_numpy()
    features = calendar_features(stamps, ["hour"])
    assert features[0, 0] == pytest.approx(math.sin(2 * math.pi * 6.5 / 24))
    assert np.allclose(features[:, 0] ** 2 + features[:, 1] ** 2, 1.0)
    with pytest.raises(ValueError, match="calendar: expected names from"):
        calendar_features(stamps, ["week"])


def test_frame_checks_shapes():
    with pytest.raises(ValueError, match="expected 3 timestamps"):
        SeriesFrame(np.arange(2.0), np.zeros((3, 1)), ["v"])


def test_npz_padded_with_lengths_and_list_forms(tmp_path):
    X = np.zeros((3, 5, 2), dtype=np.float32)
    X[0, :2], X[1, :5], X[2, :3] = 1.0, 2.0, 3.0
    np.savez(tmp_path / "d.npz", X=X, y=np.array(["a", "b", "a"]), lengths=np.array([2, 5, 3]))
    data = read_npz(tmp_path / "d.npz")
    assert data.lengths.tolist() == [2, 5, 3] and data.labels.tolist() == ["a", "b", "a"]
    assert (data.sequences[2] == 3.0).all()
    save_npz(data, tmp_path / "again.npz")
    again = read_npz(tmp_path / "again.npz")
    assert [s.tolist() for s in again.sequences] == [s.tolist() for s in data.sequences]
    np.savez(tmp_path / "flat.npz", X=np.zeros((4, 7)), y=np.arange(4))
    assert read_npz(tmp_path / "flat.npz").num_channels == 1
    np.savez(tmp_path / "bad.npz", X=np.zeros((2, 5, 1)), y=np.arange(2), lengths=np.array([0, 9]))
    with pytest.raises(ValueError, match="lengths: expected 2 values in 1..5"):
        read_npz(tmp_path / "bad.npz")
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = np.zeros((3, 1)), np.zeros((5, 1))
    np.savez(tmp_path / "ragged.npz", X=ragged, y=np.arange(2))  # stored as a pickle
    with pytest.raises(ValueError, match="object array, which numpy stores as a pickle"):
        read_npz(tmp_path / "ragged.npz")
    np.savez(tmp_path / "nolabel.npz", X=np.zeros((2, 5, 1)))
    with pytest.raises(ValueError, match="expected arrays 'X' and 'y'"):
        read_npz(tmp_path / "nolabel.npz")


def test_long_csv_groups_by_series_and_sorts_time(tmp_path):
    frame = pd.DataFrame({"series_id": [7, 7, 7, 9, 9], "t": [2, 0, 1, 0, 1], "x": [3.0, 1.0, 2.0, 5.0, 6.0],
                          "label": ["up", "up", "up", "down", "down"]})
    data = read_long_csv(write_csv(tmp_path / "l.csv", frame))
    assert data.labels.tolist() == ["up", "down"]
    assert data.sequences[0][:, 0].tolist() == [1.0, 2.0, 3.0]
    frame.loc[0, "label"] = "down"
    with pytest.raises(ValueError, match="series 7: expected one label"):
        read_long_csv(write_csv(tmp_path / "m.csv", frame))


def test_sequence_set_checks_and_padding():
    with pytest.raises(ValueError, match="one label per sequence"):
        SequenceSet([np.zeros((3, 1))], np.array(["a", "b"]))
    with pytest.raises(ValueError, match="NaN"):
        SequenceSet([np.full((3, 1), np.nan)], np.array(["a"]))
    with pytest.raises(ValueError, match="one C"):
        SequenceSet([np.zeros((3, 1)), np.zeros((3, 2))], np.array(["a", "b"]))
    x, lengths = pad_batch([np.ones((2, 3)), np.ones((4, 3))])
    assert x.shape == (4, 2, 3) and lengths.tolist() == [2, 4]
    assert x[2:, 0].abs().sum() == 0


@pytest.mark.parametrize("name,length,step", [
    ("airline", 144, "<MonthBegin>"), ("sunspots", 2820, "<MonthBegin>"), ("taylor", 4032, "<30 * Minutes>"),
    ("heartrate", 150, "0.5"), ("msft", 7983, "1.0"), ("mitdb", 7500, "1.0"), ("yahoo", 1000, "1.0"),
    ("co2", 2284, "<Week: weekday=5>"),
])
def test_named_series_load_from_their_packages(name, length, step):
    pytest.importorskip("pmdarima")
    pytest.importorskip("sktime")
    from rnnkit.data.datasets import load_series

    data = load_series(name)
    assert len(data) == length and str(data.step) == step and np.isfinite(data.values).all()
    assert (data.labels is not None) == (name in ("mitdb", "yahoo"))


def test_named_classification_sets_keep_official_splits():
    pytest.importorskip("sktime")
    from rnnkit.data.datasets import load_classification

    train, test = load_classification("JapaneseVowels", "train"), load_classification("JapaneseVowels", "test")
    assert (len(train), len(test), train.num_channels) == (270, 370, 12)
    assert train.lengths.min() < train.lengths.max()  # variable length, kept as such
    motions = load_classification("BasicMotions", "test")
    assert (len(motions), motions.num_channels, int(motions.lengths.max())) == (40, 6, 100)
    with pytest.raises(ValueError, match="expected one of"):
        load_classification("MNIST", "train")


def test_co2_gaps_are_filled_or_masked():
    pytest.importorskip("statsmodels")
    from rnnkit.data.datasets import load_series

    masked = load_series("co2", missing="mask")
    assert np.isnan(masked.values).sum() == 59 and (~masked.observed).sum() == 59
    filled = load_series("co2")
    gap = int(np.flatnonzero(np.isnan(masked.values[:, 0]))[0])
    before, after = masked.values[gap - 1, 0], masked.values[gap + 1, 0]
    if not np.isnan(after):  # a one-week gap: the midpoint
        assert filled.values[gap, 0] == pytest.approx((before + after) / 2)
