"""The anomaly scores a user would otherwise compute: a rolling z-score and an isolation forest.

Both give one score per point (higher = more anomalous, NaN where there is none yet), like
:meth:`~rnnkit.tasks.anomaly.Detector.score`, so the same metric code ranks every method.
"""

from __future__ import annotations

import numpy as np

from rnnkit.extras import require


def rolling_zscore(values: np.ndarray, window: int) -> np.ndarray:
    """``|x_t - mean| / std`` over the previous ``window`` points, root mean square over channels."""
    pd = require("pandas", "the rolling z-score baseline")

    frame = pd.DataFrame(values)
    past = frame.shift(1).rolling(window, min_periods=window)
    z = ((frame - past.mean()) / past.std().replace(0.0, np.nan)).to_numpy()
    return np.sqrt(np.mean(z**2, axis=1))


def isolation_forest(values: np.ndarray, window: int, fit_end: int, seed: int) -> np.ndarray:
    """scikit-learn's IsolationForest on the windows of ``window`` points ending at each t,
    fit on those inside the fit part; the score is ``-score_samples`` (higher = more anomalous)."""
    from numpy.lib.stride_tricks import sliding_window_view
    IsolationForest = require("sklearn.ensemble", "the isolation forest baseline").IsolationForest

    windows = sliding_window_view(values, window, axis=0).reshape(len(values) - window + 1, -1)  # (N, C*W)
    model = IsolationForest(n_estimators=200, random_state=seed).fit(windows[: fit_end - window + 1])
    scores = np.full(len(values), np.nan)
    scores[window - 1 :] = -model.score_samples(windows)
    return scores
