"""Property-based tests: generated CSVs, NPZs, configs and WAV headers.

Each reader, given any file Hypothesis makes, either returns data that is what the file says
(checked against an independent reading) and usable (finite, the right shapes), or raises a
clear error: a ``ValueError`` (``ConfigError`` and ``InputError`` are ones) or a
``FileNotFoundError`` whose message names the file. Any other exception is a failure.
"""

from __future__ import annotations

import io
import math
import os
import struct
import wave
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnkit.config import ConfigError, load_yaml
from rnnkit.data.audio import MAX_RATE, MIN_RATE, read_wav
from rnnkit.data.sequences import read_npz
from rnnkit.data.timeseries import MAX_MAGNITUDE, read_series_csv
from rnnkit.tasks.core import run

# CI runs a fixed set of 60 examples per property (derandomized: the same every run); a longer,
# random search: RNNKIT_EXAMPLES=2000 pytest tests/robustness/test_properties.py
EXAMPLES = os.environ.get("RNNKIT_EXAMPLES")
SETTINGS = settings(max_examples=int(EXAMPLES or 60), derandomize=EXAMPLES is None, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
CLEAR = (ValueError, FileNotFoundError)


def clear_error(error: BaseException, path: Path) -> bool:
    return isinstance(error, CLEAR) and str(path) in str(error)


# -- CSV series ---------------------------------------------------------------------------------------
cells = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr),
    st.integers(-10**6, 10**6).map(str),
    st.sampled_from(["", "nan", "NaN", "inf", "-inf", "Infinity", "1e300", "-1e298", "1e31", "twelve", "1,5", " 3 ",
                     "0x10", "\u00e9t\u00e9", "1e-320"]),
)


def parse_cell(text: str) -> float:
    """An independent reading of a cell: a float, or NaN for an empty cell (missing)."""
    stripped = text.strip()
    if stripped == "":
        return math.nan
    return float(stripped)


@SETTINGS
@given(rows=st.lists(st.lists(cells, min_size=2, max_size=2), min_size=0, max_size=30))
def test_series_csv_is_read_as_written_or_refused_naming_the_file(tmp_path, rows):
    path = tmp_path / "series.csv"
    with open(path, "w", newline="") as handle:
        handle.write("a,b\n" + "".join(",".join(f'"{c}"' if "," in c else c for c in row) + "\n" for row in rows))
    try:
        frame = read_series_csv(path, missing="mask")
    except Exception as error:  # noqa: BLE001 - the property is about which ones
        assert clear_error(error, path), f"{type(error).__name__}: {error}"
        return
    expected = np.array([[parse_cell(c) for c in row] for row in rows], dtype=np.float64).reshape(len(rows), 2)
    seen = ~np.isnan(expected)
    assert frame.values.shape == expected.shape
    assert np.isfinite(frame.values[seen]).all() and (np.abs(frame.values[seen]) <= MAX_MAGNITUDE).all()
    np.testing.assert_array_equal(np.isnan(frame.values), ~seen)
    np.testing.assert_allclose(frame.values[seen], expected[seen], rtol=1e-12)


@SETTINGS
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_as_a_csv_are_refused_or_read_as_finite_numbers(tmp_path, data):
    path = tmp_path / "bytes.csv"
    path.write_bytes(data)
    try:
        frame = read_series_csv(path, missing="interpolate")
    except Exception as error:  # noqa: BLE001
        assert clear_error(error, path), f"{type(error).__name__}: {error}"
        return
    assert np.isfinite(frame.values).all()


# -- NPZ ------------------------------------------------------------------------------------------------
dtypes = st.sampled_from(["<f4", "<f8", "<i8", "|b1", "<c8", "<U3", "|u1", "<f2"])
shapes = st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple)


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    dtype, shape = np.dtype(draw(dtypes)), draw(shapes)
    size = int(np.prod(shape)) if shape else 1
    if dtype.kind == "U":
        values = draw(st.lists(st.sampled_from(["a", "b", "cc"]), min_size=size, max_size=size))
    elif dtype.kind == "b":
        values = draw(st.lists(st.booleans(), min_size=size, max_size=size))
    else:
        values = draw(st.lists(st.floats(-4, 4) | st.sampled_from([math.nan, math.inf, 0.5, 3.0]),
                               min_size=size, max_size=size))
        if dtype.kind in "iu":
            values = [abs(int(v)) if math.isfinite(v) else 0 for v in values]
    return np.array(values, dtype=dtype).reshape(shape)


@SETTINGS
@given(members=st.dictionaries(st.sampled_from(["X", "y", "lengths", "other"]), arrays(), max_size=4),
       cut=st.integers(0, 64))
def test_npz_is_read_as_written_or_refused_naming_the_file(tmp_path, members, cut):
    buffer = io.BytesIO()
    np.savez(buffer, **members)
    data = buffer.getvalue()
    path = tmp_path / "data.npz"
    path.write_bytes(data[: len(data) - cut] if cut else data)  # cut: a truncated download
    try:
        result = read_npz(path)
    except Exception as error:  # noqa: BLE001
        assert clear_error(error, path), f"{type(error).__name__}: {error}"
        return
    X = members["X"] if members["X"].ndim == 3 else members["X"][:, :, None]
    assert len(result) == len(X) == len(members["y"]) and members["y"].ndim == 1
    lengths = members["lengths"].astype(int) if "lengths" in members else [X.shape[1]] * len(X)
    for sequence, x, n in zip(result.sequences, X, lengths):
        assert np.isfinite(sequence).all() and len(sequence) == n >= 1
        np.testing.assert_array_equal(sequence, x[:n].astype(np.float32))
    assert result.labels.tolist() == [str(v) for v in members["y"]]


# -- configs ----------------------------------------------------------------------------------------------
scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(["adding", "lstm", "gru", "", "cpu", "auto", "min"]))
keys = st.sampled_from(["task", "data", "model", "train", "recurrent", "cell", "hidden_size", "steps", "length",
                        "optimizer", "lr", "batch_size", "max_seconds", "early_stopping", "metric", "junk"])
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=12)


@SETTINGS
@given(data=st.dictionaries(keys, values, max_size=5))
def test_any_config_mapping_is_resolved_or_refused_as_a_config_error(tmp_path, data):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"task": "adding", **data}))
    try:
        config = run.resolve_config(load_yaml(path))
    except Exception as error:  # noqa: BLE001
        assert isinstance(error, ValueError), f"{type(error).__name__}: {error}"
        return
    assert config.task == "adding" and config.train.steps >= 1 and math.isfinite(config.train.optimizer.lr)


@SETTINGS
@given(text=st.text(max_size=200))
def test_any_text_as_a_config_file_is_a_mapping_or_a_config_error_naming_it(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        data = load_yaml(path)
    except ConfigError as error:
        assert str(path) in str(error)
        return
    assert isinstance(data, dict)


# -- WAV headers -------------------------------------------------------------------------------------------
@SETTINGS
@given(fmt=st.sampled_from([1, 1, 1, 3, 2, 0xFFFE]), channels=st.integers(0, 3), rate=st.integers(0, 2_000_000),
       bits=st.sampled_from([0, 8, 16, 24, 32, 12]), frames=st.integers(0, 400), claimed=st.integers(0, 5000),
       seed=st.integers(0, 2**16))
def test_wav_headers_give_the_samples_or_a_clear_error(tmp_path, fmt, channels, rate, bits, frames, claimed, seed):
    """A RIFF/WAVE header with arbitrary fields over ``frames`` of payload (``claimed`` bytes said)."""
    width = bits // 8
    payload = np.random.default_rng(seed).integers(0, 256, frames * max(width * channels, 1), dtype=np.uint8).tobytes()
    fmt_chunk = struct.pack("<HHIIHH", fmt, channels, rate, rate * width * channels, width * channels, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt_chunk + b"data" + struct.pack("<I", claimed) + payload
    path = tmp_path / "a.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    try:
        samples = read_wav(path)
    except Exception as error:  # noqa: BLE001
        assert clear_error(error, path), f"{type(error).__name__}: {error}"
        return
    assert fmt == 1 and MIN_RATE <= rate <= MAX_RATE and channels >= 1
    assert samples.dtype == np.float32 and np.isfinite(samples).all() and np.abs(samples).max(initial=0) <= 1
    with wave.open(str(path)) as handle:  # the standard library's reading of the same file
        raw = handle.readframes(handle.getnframes())
    if width == 2:
        expected = np.frombuffer(raw, "<i2").reshape(-1, channels).astype(np.float32).mean(axis=1) / 32768
        np.testing.assert_allclose(samples, expected, atol=1e-6)


def test_a_wav_that_holds_less_than_its_header_says_is_truncated(tmp_path):
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(8000)
        handle.writeframes(np.zeros(1000, "<i2").tobytes())
    path = tmp_path / "cut.wav"
    path.write_bytes(buffer.getvalue()[:-500])
    with pytest.raises(ValueError, match=r"cut.wav: truncated: its header says 1000 frames, the file holds 750"):
        read_wav(path)
