"""Metrics shared by the tasks and their baselines, so that every method is scored by one code.

Forecasting (numpy, formulas in each docstring); classification and detection are
scikit-learn's functions (accuracy, macro F1, confusion matrix, ROC-AUC, average
precision), gathered here with the one derived number they lack (the best F1 over thresholds,
for choosing a threshold on validation data).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rnnkit.extras import require


def mase_scale(history: np.ndarray, season: int) -> np.ndarray:
    """Per series: the in-sample MAE of the seasonal naive forecast, ``mean |y_t - y_{t-m}|``.

    ``history`` ``(T, S)`` (NaN where missing). Hyndman & Koehler (2006) scale MASE by this.
    """
    if len(history) <= season:
        raise ValueError(f"MASE: expected more than season={season} history points, got {len(history)}")
    scale = np.nanmean(np.abs(history[season:] - history[:-season]), axis=0)
    return np.where(scale > 0, scale, np.nan)


def forecast_errors(actual: np.ndarray, point: np.ndarray, scale: np.ndarray,
                    lower: np.ndarray | None = None, upper: np.ndarray | None = None) -> dict[str, float]:
    """Scores of forecasts from several origins, averaged over origins, steps and series.

    ``actual``, ``point``, ``lower``, ``upper``: ``(O, K, S)`` (NaN in ``actual`` = missing,
    left out); ``scale``: ``(O, S)`` each origin's :func:`mase_scale`.

    - MAE ``mean |y - y_hat|``; RMSE ``sqrt(mean (y - y_hat)^2)``
    - sMAPE ``mean 200 |y - y_hat| / (|y| + |y_hat|)`` (percent, 0..200)
    - MASE ``mean over origins and series of MAE_o / scale_o``
    - coverage: the share of actual values inside ``[lower, upper]``
    """
    seen = ~np.isnan(actual)
    if not seen.any():
        raise ValueError("forecast_errors: every actual value is missing")
    error = np.where(seen, actual - point, np.nan)
    denominator = np.abs(actual) + np.abs(point)
    ratio = np.where(denominator > 0, 2 * np.abs(error) / np.where(denominator > 0, denominator, 1), 0.0)
    per_origin_mae = np.nanmean(np.abs(error), axis=1)  # (O, S)
    scores = {
        "mae": float(np.nanmean(np.abs(error))),
        "rmse": float(np.sqrt(np.nanmean(error**2))),
        "smape": float(100 * np.nanmean(np.where(seen, ratio, np.nan))),
        "mase": float(np.nanmean(per_origin_mae / scale)),
    }
    if lower is not None and upper is not None:
        inside = (actual >= lower) & (actual <= upper)
        scores["coverage"] = float(inside[seen].mean())
    return scores


def classification_scores(true: Sequence[Any], predicted: Sequence[Any], classes: Sequence[Any]) -> dict[str, Any]:
    """Accuracy, macro F1 and the confusion matrix (rows: true class, columns: predicted)."""
    sklearn_metrics = require("sklearn.metrics", "classification metrics")
    return {
        "accuracy": float(sklearn_metrics.accuracy_score(true, predicted)),
        "macro_f1": float(sklearn_metrics.f1_score(true, predicted, labels=list(classes), average="macro",
                                                   zero_division=0)),
        "confusion": sklearn_metrics.confusion_matrix(true, predicted, labels=list(classes)).tolist(),
    }


def _scored(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points that have a score (NaN: none yet), checked to hold both kinds of label."""
    keep = ~np.isnan(np.asarray(scores, dtype=np.float64))
    labels, scores = np.asarray(labels)[keep], np.asarray(scores, dtype=np.float64)[keep]
    if len(labels) == 0 or labels.min() == labels.max():
        raise ValueError("detection scores: expected both normal (0) and anomalous (1) labels among scored points")
    return labels, scores


def ranking_scores(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """How well ``scores`` (higher = more anomalous) rank the anomalies (``labels`` 1) above the
    normal points, whatever the threshold: ROC-AUC and PR-AUC (average precision). NaN scores
    (no score yet) are left out."""
    sklearn_metrics = require("sklearn.metrics", "anomaly metrics")
    labels, scores = _scored(labels, scores)
    return {"roc_auc": float(sklearn_metrics.roc_auc_score(labels, scores)),
            "pr_auc": float(sklearn_metrics.average_precision_score(labels, scores))}


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """The threshold (flag ``score >= threshold``) with the best F1 on these labels, and that F1.

    Choosing it needs labels: do it on validation data, never on the data you report."""
    sklearn_metrics = require("sklearn.metrics", "anomaly metrics")
    labels, scores = _scored(labels, scores)
    precision, recall, thresholds = sklearn_metrics.precision_recall_curve(labels, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best = int(np.argmax(f1[:-1]))
    return float(thresholds[best]), float(f1[best])


def f1_at(labels: np.ndarray, flagged: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of a fixed set of flagged points."""
    sklearn_metrics = require("sklearn.metrics", "anomaly metrics")
    precision, recall, f1, _ = sklearn_metrics.precision_recall_fscore_support(labels, flagged, average="binary",
                                                                               zero_division=0)
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def bleu_scores(references: Sequence[str], hypotheses: Sequence[str]) -> dict[str, float]:
    """Corpus BLEU and chrF of ``hypotheses`` against one reference each (sacrebleu)."""
    sacrebleu = require("sacrebleu", "BLEU and chrF")
    return {"bleu": sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score,
            "chrf": sacrebleu.corpus_chrf(list(hypotheses), [list(references)]).score}
