"""The classifier a user would otherwise reach for on time series: 1-nearest-neighbour DTW.

aeon's ``KNeighborsTimeSeriesClassifier`` with full-window dynamic time warping (dependent DTW
over all channels, on the raw series), the standard yardstick of the UEA/UCR archive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

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
    model.fit(_panel(train.sequences), np.asarray(train.labels))
    return model.predict(_panel(sequences))
