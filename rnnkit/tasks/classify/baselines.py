"""The classifiers a user would otherwise reach for on sequences: 1-nearest-neighbour DTW, and a
linear model on summary features.

- 1-NN DTW: aeon's ``KNeighborsTimeSeriesClassifier`` with full-window dynamic time warping
  (dependent DTW over all channels), the standard yardstick of the UEA/UCR archive.
- Linear: scikit-learn's logistic regression on per-channel statistics and the sequence
  resampled to a fixed number of points (:func:`summary_features`), which any length fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from rnnkit.data.sequences import SequenceSet
from rnnkit.extras import require


def _panel(sequences: Sequence[np.ndarray]) -> Any:
    """aeon's input: ``(N, C, T)``, or a list of ``(C, T_i)`` when the lengths differ."""
    series = [s.T.astype(np.float64) for s in sequences]
    return np.stack(series) if len({s.shape for s in series}) == 1 else series


def one_nn_dtw(train: SequenceSet, sequences: Sequence[np.ndarray]) -> np.ndarray:
    """The label of each of ``sequences`` ``(T_i, C)``: that of its nearest training sequence under DTW."""
    neighbours = require("aeon.classification.distance_based", "the 1-NN DTW baseline")
    model = neighbours.KNeighborsTimeSeriesClassifier(n_neighbors=1, distance="dtw")
    threads = torch.get_num_threads()
    try:
        model.fit(_panel(train.sequences), np.asarray(train.labels))
        return model.predict(_panel(sequences))
    finally:  # aeon's numba sets the OpenMP pool it shares with torch to every core; put the process's back
        torch.set_num_threads(threads)


SUMMARY_POINTS = 16  # each sequence resampled to this many points for the linear model


def summary_features(sequences: Sequence[np.ndarray]) -> np.ndarray:
    """``(N, F)`` features of sequences ``(T_i, C)`` of any lengths: per channel the mean, standard
    deviation, minimum, maximum, first and last value and the slope of a least-squares line, and
    the sequence resampled (linear interpolation) to :data:`SUMMARY_POINTS` points; plus the length."""
    rows = []
    grid = np.linspace(0.0, 1.0, SUMMARY_POINTS)
    for s in sequences:
        s = np.asarray(s, dtype=np.float64)
        t = np.linspace(0.0, 1.0, len(s)) if len(s) > 1 else np.zeros(1)
        centred = t - t.mean()
        slope = (centred @ (s - s.mean(0))) / max(float(centred @ centred), 1e-12)
        resampled = np.stack([np.interp(grid, t, s[:, c]) for c in range(s.shape[1])], axis=1) if len(s) > 1 \
            else np.repeat(s, SUMMARY_POINTS, axis=0)
        rows.append(np.concatenate([s.mean(0), s.std(0), s.min(0), s.max(0), s[0], s[-1], slope,
                                    resampled.ravel(), [np.log(len(s))]]))
    return np.stack(rows)


def linear_summary(train: SequenceSet, sequences: Sequence[np.ndarray]) -> np.ndarray:
    """The label of each of ``sequences`` by a logistic regression on :func:`summary_features`
    (standardized on the training sequences)."""
    linear_model = require("sklearn.linear_model", "the linear baseline")
    pipeline = require("sklearn.pipeline", "the linear baseline")
    preprocessing = require("sklearn.preprocessing", "the linear baseline")
    model = pipeline.make_pipeline(preprocessing.StandardScaler(), linear_model.LogisticRegression(max_iter=2000))
    model.fit(summary_features(train.sequences), np.asarray(train.labels))
    return model.predict(summary_features(sequences))
