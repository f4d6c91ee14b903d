"""Labelled sequences for classification: read them, encode labels, pad batches with lengths.

A :class:`SequenceSet` holds ``N`` sequences of ``C`` channels each, of any lengths:

    sequences  list of N arrays (T_i, C)
    labels     (N,) class names (strings), in the order the file gives them

Files: NPZ with ``X`` as ``(N, T, C)`` (with optional ``lengths`` (N,) trimming the
padding) and ``y`` (N,); or a long-format CSV with one row per time step (``series_id, t,
feature..., label``). A list of ``(T_i, C)`` arrays is a :class:`SequenceSet` in Python;
:func:`save_npz` writes it padded with its lengths (an NPZ object array would be a pickle,
which is never loaded).
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from rnnkit.extras import require
from rnnkit.data.timeseries import read_csv_frame
from rnnkit.files import InputError, atomic_open, input_file


@dataclass
class SequenceSet:
    sequences: list[np.ndarray]
    labels: np.ndarray

    def __post_init__(self) -> None:
        if len(self.sequences) != len(self.labels):
            raise ValueError(f"expected one label per sequence, got {len(self.sequences)} sequences "
                             f"and {len(self.labels)} labels")
        if not self.sequences:
            raise ValueError("expected at least one sequence, got none")
        channels = {s.shape[1] if s.ndim == 2 else -1 for s in self.sequences}
        if len(channels) != 1 or -1 in channels:
            raise ValueError(f"expected every sequence as (T_i, C) with one C, got channel counts {sorted(channels)}")
        for i, s in enumerate(self.sequences):
            if len(s) == 0:
                raise ValueError(f"sequence {i} is empty")
            if not np.isfinite(s).all():
                raise ValueError(f"sequence {i} has NaN or infinite values")
        self.labels = np.asarray([str(label) for label in self.labels])

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def num_channels(self) -> int:
        return self.sequences[0].shape[1]

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(s) for s in self.sequences])

    def subset(self, index: Sequence[int] | np.ndarray) -> "SequenceSet":
        return SequenceSet([self.sequences[i] for i in index], self.labels[np.asarray(index, dtype=np.int64)])


def _npy_members(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Each array of an NPZ file: its shape and dtype, from its header, checked against the bytes
    the archive holds for it (a header may claim any shape; nothing is allocated from it)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise InputError(f"{path}: not an NPZ file ({error}); expected numpy's np.savez format with arrays X and y") from None
    members = {}
    with archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            name = info.filename[:-4]
            try:
                with archive.open(info) as handle:
                    version = np.lib.format.read_magic(handle)
                    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                        np.lib.format.read_array_header_2_0
                    shape, _, dtype = read_header(handle)
                    header_size = handle.tell()
            except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
                raise InputError(f"{path}: array {name!r} is not a readable .npy member ({error})") from None
            if dtype.hasobject:
                raise InputError(f"{path}: {name} is an object array, which numpy stores as a pickle and rnnkit will "
                                 f"not load; save sequences of different lengths padded, with 'lengths' "
                                 f"(rnnkit.data.sequences.save_npz does this)")
            expected = math.prod(shape) * dtype.itemsize
            if expected != info.file_size - header_size:
                raise InputError(f"{path}: {name}'s header claims shape {shape} of {dtype} ({expected:,} bytes) but "
                                 f"the file holds {info.file_size - header_size:,} bytes for it; the file is damaged")
            members[name] = (shape, dtype)
    return members


def read_npz(path: str | Path) -> SequenceSet:
    """``X`` (N, T, C) or (N, T) real numbers [+ ``lengths`` (N,) whole numbers]; ``y`` (N,)."""
    path = input_file(path, "an NPZ file (arrays X and y)")
    members = _npy_members(path)
    if not {"X", "y"} <= set(members):
        raise InputError(f"{path}: expected arrays 'X' and 'y' (optional 'lengths'), got {sorted(members)}")
    if members["X"][1].kind not in "biuf":
        raise InputError(f"{path}: X holds {members['X'][1]} values; expected real numbers (bool, int or float)"
                         + (", not complex ones" if members["X"][1].kind == "c" else ""))
    with np.load(path, allow_pickle=False) as data:  # loading a file must not run code: no pickles
        X, y = data["X"], data["y"]
        lengths = data["lengths"] if "lengths" in members else None
    if X.ndim == 2:
        X = X[:, :, None]
    if X.ndim != 3:
        raise InputError(f"{path}: X: expected (N, T, C) or (N, T), got shape {X.shape}")
    if y.ndim != 1 or len(y) != len(X):
        raise InputError(f"{path}: y: expected one label per sequence, shape ({len(X)},), got shape {y.shape}")
    if lengths is None:
        sequences = list(X.astype(np.float32))
    else:
        if lengths.dtype.kind not in "iuf" or lengths.shape != (len(X),):
            raise InputError(f"{path}: lengths: expected {len(X)} whole numbers, got {lengths.dtype} of shape "
                             f"{lengths.shape}")
        whole = np.isfinite(lengths) & (lengths == np.round(lengths))
        if not whole.all():
            i = int(np.argmin(whole))
            raise InputError(f"{path}: lengths: expected whole numbers, got {lengths[i]} at index {i}")
        lengths = lengths.astype(np.int64)
        if (lengths < 1).any() or (lengths > X.shape[1]).any():
            raise InputError(f"{path}: lengths: expected {len(X)} values in 1..{X.shape[1]}, got {lengths}")
        sequences = [x[:n].astype(np.float32) for x, n in zip(X, lengths)]
    try:
        return SequenceSet(sequences, y)
    except ValueError as error:
        raise InputError(f"{path}: {error}") from None


def save_npz(data: SequenceSet, path: str | Path) -> Path:
    """Write ``data`` as padded ``X`` + ``lengths`` + ``y`` (readable by :func:`read_npz`)."""
    path = Path(path)
    T = int(data.lengths.max())
    X = np.zeros((len(data), T, data.num_channels), dtype=np.float32)
    for i, s in enumerate(data.sequences):
        X[i, : len(s)] = s
    with atomic_open(path, "wb") as handle:
        np.savez(handle, X=X, y=data.labels, lengths=data.lengths)
    return path


def read_long_csv(path: str | Path, id_column: str = "series_id", time_column: str = "t",
                  label_column: str = "label", feature_columns: Sequence[str] | None = None) -> SequenceSet:
    """One row per time step: ``series_id, t, features..., label``; rows sorted by ``t`` within each id."""
    pd = require("pandas", "reading a long-format CSV")

    path = Path(path)
    frame = read_csv_frame(path, "a long-format CSV (series_id, t, features, label)")
    for name in (id_column, time_column, label_column):
        if name not in frame.columns:
            raise ValueError(f"{path}: expected a column {name!r}, got columns {list(frame.columns)}")
    features = list(feature_columns) if feature_columns else [
        c for c in frame.columns if c not in (id_column, time_column, label_column)]
    if not features:
        raise ValueError(f"{path}: expected at least one feature column besides "
                         f"{id_column}, {time_column}, {label_column}")
    frame[time_column] = _orderable(frame[time_column], path, time_column)
    sequences, labels = [], []
    for key, rows in frame.groupby(id_column, sort=False):
        rows = rows.sort_values(time_column)
        if rows[time_column].duplicated().any():
            raise ValueError(f"{path}: series {key!r} repeats a value of {time_column!r}")
        if rows[label_column].nunique() != 1:
            raise ValueError(f"{path}: series {key!r}: expected one label, got {sorted(rows[label_column].unique())}")
        try:
            sequences.append(rows[features].to_numpy(dtype=np.float32))
        except ValueError as error:
            raise ValueError(f"{path}: series {key!r}: expected numeric features {features} ({error})") from None
        labels.append(rows[label_column].iloc[0])
    try:
        return SequenceSet(sequences, np.asarray(labels))
    except ValueError as error:
        raise InputError(f"{path}: {error}") from None


def _orderable(column: Any, path: Path, name: str) -> Any:
    """The time column as numbers or timestamps, to sort steps by; text would sort "10" before "2"."""
    pd = require("pandas", "reading a long-format CSV")

    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
        return column
    numbers = pd.to_numeric(column, errors="coerce")
    if numbers.notna().all():
        return numbers
    try:
        return pd.to_datetime(column, errors="raise", format="mixed")
    except (ValueError, TypeError):
        row = int(np.argmax(numbers.isna().to_numpy()))
        raise InputError(f"{path}: column {name!r} row {row}: expected numbers or timestamps to order the steps "
                         f"by, got {column.iloc[row]!r}") from None


def pad_batch(sequences: Sequence[np.ndarray]) -> tuple[Tensor, Tensor]:
    """``B`` arrays ``(T_i, C)`` -> ``x`` ``(T_max, B, C)`` zero-padded and ``lengths`` ``(B,)``."""
    lengths = torch.tensor([len(s) for s in sequences])
    x = torch.zeros(int(lengths.max()), len(sequences), sequences[0].shape[1])
    for b, s in enumerate(sequences):
        x[: len(s), b] = torch.from_numpy(np.asarray(s, dtype=np.float32))
    return x, lengths
