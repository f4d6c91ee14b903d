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

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from rnnkit.extras import require
from rnnkit.files import atomic_open


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


def read_npz(path: str | Path) -> SequenceSet:
    """``X`` (N, T, C) or (N, T) [+ ``lengths`` (N,)]; ``y`` (N,)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    with np.load(path, allow_pickle=False) as data:  # loading a file must not run code: no pickles
        keys = set(data.files)
        if not {"X", "y"} <= keys:
            raise ValueError(f"{path}: expected arrays 'X' and 'y' (optional 'lengths'), got {sorted(keys)}")
        try:
            X, y = data["X"], data["y"]
        except ValueError:  # an object array (a list of arrays) is stored as a pickle
            raise ValueError(f"{path}: X or y is an object array, which numpy stores as a pickle and rnnkit "
                             f"will not load; save sequences of different lengths padded, with 'lengths' "
                             f"(rnnkit.data.sequences.save_npz does this)") from None
        lengths = data["lengths"] if "lengths" in keys else None
    if X.ndim == 2:
        X = X[:, :, None]
    if X.ndim != 3:
        raise ValueError(f"{path}: X: expected (N, T, C) or (N, T), got shape {X.shape}")
    if lengths is None:
        sequences = list(X.astype(np.float32))
    else:
        lengths = np.asarray(lengths, dtype=np.int64)
        if lengths.shape != (len(X),) or (lengths < 1).any() or (lengths > X.shape[1]).any():
            raise ValueError(f"{path}: lengths: expected {len(X)} values in 1..{X.shape[1]}, got {lengths}")
        sequences = [x[:n].astype(np.float32) for x, n in zip(X, lengths)]
    return SequenceSet(sequences, y)


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
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    frame = pd.read_csv(path)
    for name in (id_column, time_column, label_column):
        if name not in frame.columns:
            raise ValueError(f"{path}: expected a column {name!r}, got columns {list(frame.columns)}")
    features = list(feature_columns) if feature_columns else [
        c for c in frame.columns if c not in (id_column, time_column, label_column)]
    if not features:
        raise ValueError(f"{path}: expected at least one feature column besides "
                         f"{id_column}, {time_column}, {label_column}")
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
    return SequenceSet(sequences, np.asarray(labels))


def pad_batch(sequences: Sequence[np.ndarray]) -> tuple[Tensor, Tensor]:
    """``B`` arrays ``(T_i, C)`` -> ``x`` ``(T_max, B, C)`` zero-padded and ``lengths`` ``(B,)``."""
    lengths = torch.tensor([len(s) for s in sequences])
    x = torch.zeros(int(lengths.max()), len(sequences), sequences[0].shape[1])
    for b, s in enumerate(sequences):
        x[: len(s), b] = torch.from_numpy(np.asarray(s, dtype=np.float32))
    return x, lengths
