"""Anomaly detection in sensor data: score each point by how badly an RNN trained on (mostly)
normal data predicts or reconstructs it.

The series (T points, C sensor channels) is split by time::

    | fit ........................ | validation | test (scored against labels) .......... |
    0                  train_fraction * (1 - validation_fraction)   train_fraction * T     T

Two detectors (``model.kind``):

- ``"forecaster"`` (LSTM-AD, Malhotra et al. 2015): an RNN reads the series and after each
  point predicts the next ``horizon`` points. Point ``x_t`` is thus predicted ``horizon``
  times (from ``t-1``, ``t-2``, ...); its score is the root mean square of those errors, each
  standardized by its spread on the fit part. Looking several steps ahead catches a missing
  pattern (a beat that does not come), which a next-step error alone barely sees. It
  streams: :meth:`Detector.update` takes one new point and keeps the RNN's state and the
  last ``horizon`` predictions (O(1) memory in the length of the stream).
- ``"autoencoder"`` (Malhotra et al. 2016): :class:`~rnnkit.models.autoencoder.SequenceAutoencoder`
  reconstructs the window of ``window`` points ending at ``t``; the score of ``x_t`` is the
  root mean square of that window's standardized errors (causal: ``update`` keeps the last
  ``window`` points).

With ``adapt`` > 0 each score is divided by the recent error level (the root of an
exponential moving average of the previous squared scores): on a drifting series whose
errors grow everywhere, a spike still stands out against its neighbours. With ``smooth`` > 1
the squared score is averaged exponentially over time (Hundman et al. 2018 smooth their
prediction errors so), so a stretch of moderately bad predictions outscores one isolated
miss. Both keep one running value each in the stream.

The threshold is a high quantile of the scores on the validation part (``threshold:
validation``, normal data assumed) or the score that flags a ``contamination`` share of all
points. Flagged points closer than ``merge_gap`` form one segment. With labels, ROC-AUC,
PR-AUC and the best F1 over thresholds are computed on the test part.
"""

from __future__ import annotations

import csv
import warnings
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.config import check_one_source
from rnnkit.data.datasets import load_series
from rnnkit.data.timeseries import Missing, SeriesFrame, read_series_csv
from rnnkit.models.autoencoder import SequenceAutoencoder
from rnnkit.models.sequence import RecurrentConfig, SequenceModel
from rnnkit.tasks.core.metrics import detection_scores, f1_at
from rnnkit.tasks.core.plotting import pyplot, save_figure
from rnnkit.tasks.core.registry import Task
from rnnkit.training import EarlyStoppingConfig, RandomBatches, StepOutput, TrainConfig


@dataclass
class AnomalyDataConfig:
    name: str | None = "mitdb"  # mitdb | yahoo, or null and ``path``
    path: str | None = None  # your CSV: sensor columns and optionally a 0/1 label column
    time_column: str | None = None
    value_columns: list[str] | None = None  # null: every numeric column but the label
    label_column: str | None = None  # for evaluation only; the named sets have theirs
    missing: Missing = "interpolate"
    train_fraction: float = 0.5  # the first part, assumed (mostly) normal, trains the model
    validation_fraction: float = 0.2  # the end of the training part: early stopping and threshold

    def __post_init__(self) -> None:
        check_one_source("data", self.name, self.path)
        for key in ("train_fraction", "validation_fraction"):
            if not 0 < getattr(self, key) < 1:
                raise ValueError(f"data.{key}: expected a fraction in (0, 1), got {getattr(self, key)}")


@dataclass
class DetectorConfig(RecurrentConfig):
    """The recurrent model (every :class:`RecurrentConfig` field) and how scores become flags."""

    hidden_size: int = 32
    kind: Literal["forecaster", "autoencoder"] = "forecaster"
    window: int = 64  # training window (forecaster); reconstruction window (autoencoder)
    horizon: int = 1  # forecaster: how many steps ahead each point predicts
    smooth: int = 1  # span of an exponential moving average of the squared scores (1: none)
    adapt: int = 0  # measure each score against the recent error level, averaged over this span (0: no)
    threshold: Literal["validation", "contamination"] = "validation"
    quantile: float = 0.999  # threshold: validation -> this quantile of the validation scores
    contamination: float = 0.01  # threshold: contamination -> flag this share of all points
    merge_gap: int = 10  # flagged points closer than this many steps are one segment

    def __post_init__(self) -> None:
        if self.window < 2:
            raise ValueError(f"model.window: expected at least 2, got {self.window}")
        if self.adapt < 0:
            raise ValueError(f"model.adapt: expected a span >= 1, or 0 for none, got {self.adapt}")
        if self.smooth < 1:
            raise ValueError(f"model.smooth: expected a span >= 1, got {self.smooth}")
        if self.horizon < 1:
            raise ValueError(f"model.horizon: expected a positive integer, got {self.horizon}")
        if not 0 < self.quantile < 1 or not 0 < self.contamination < 1:
            raise ValueError(f"model.quantile and model.contamination: expected fractions in (0, 1), "
                             f"got {self.quantile}, {self.contamination}")


@dataclass
class AnomalyConfig:
    task: Literal["anomaly"] = "anomaly"
    run_dir: str | None = None
    data: AnomalyDataConfig = field(default_factory=AnomalyDataConfig)
    model: DetectorConfig = field(default_factory=DetectorConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=1000, batch_size=32, eval_every=100,
        early_stopping=EarlyStoppingConfig(metric="val_loss", patience=4, restore_best=True)))


def load_frame(config: AnomalyDataConfig) -> SeriesFrame:
    if config.name is not None:
        return load_series(config.name, missing=config.missing)
    return read_series_csv(config.path, config.time_column, config.value_columns, label_column=config.label_column,
                           missing=config.missing, spacing="infer" if config.time_column else "rows")


def split_points(n: int, config: AnomalyDataConfig) -> tuple[int, int]:
    """``(fit_end, test_start)``: the fit part is ``[0, fit_end)``, validation ``[fit_end, test_start)``."""
    test_start = int(round(n * config.train_fraction))
    fit_end = int(round(test_start * (1 - config.validation_fraction)))
    return fit_end, test_start


def build_detector_model(channels: int, config: DetectorConfig) -> nn.Module:
    if config.kind == "autoencoder":
        return SequenceAutoencoder(channels, config)
    if config.bidirectional:
        raise ValueError("model.bidirectional: the forecaster predicts from the past only; expected false")
    return SequenceModel(channels, channels * config.horizon, config, readout="all")


class Detector:
    """Scores points with a trained model: all at once (:meth:`score`) or one by one (:meth:`update`).

    ``values`` are in the sensor's units ``(T, C)``; ``loc``/``scale`` ``(C,)`` standardize
    them as in training, ``error_scale`` ``(E,)`` standardizes the errors (see :meth:`errors`;
    :func:`calibrate` sets it from the fit part). Both ways give the
    same scores (NaN where there is no score yet: the first point, or the first
    ``window - 1`` for the autoencoder).
    """

    def __init__(self, model: nn.Module, config: DetectorConfig, loc: np.ndarray, scale: np.ndarray,
                 error_scale: np.ndarray | None = None, threshold: float | None = None) -> None:
        self.model, self.config = model.eval(), config
        self.loc, self.scale = np.asarray(loc, dtype=np.float64), np.asarray(scale, dtype=np.float64)
        self.error_scale = np.float64(1.0) if error_scale is None else np.asarray(error_scale, dtype=np.float64)
        self.threshold = threshold
        self.reset()

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _scaled(self, values: np.ndarray) -> Tensor:
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 1:
            values = values[:, None] if len(self.loc) == 1 else values[None, :]
        if values.shape[-1] != len(self.loc):
            raise ValueError(f"expected {len(self.loc)} channel(s), got values of shape {values.shape}")
        return torch.tensor((values - self.loc) / self.scale, dtype=torch.float32, device=self._device())

    def errors(self, values: np.ndarray) -> np.ndarray:
        """The model's standardized-unit errors behind each point's score, ``(T, E)`` (NaN: none).

        Forecaster: ``E = horizon * C``, column ``(j - 1) * C + c`` is ``x_tc`` minus its
        prediction made ``j`` steps earlier. Autoencoder: ``E = window * C``, the errors of the
        whole window ending at ``t``.
        """
        x = self._scaled(values)  # (T, C)
        T, C = x.shape
        config = self.config
        with torch.no_grad():
            if config.kind == "forecaster":
                L = config.horizon
                out = torch.full((T, L, C), float("nan"), dtype=torch.float64)
                if T > 1:
                    predicted = self.model(x[:-1].unsqueeze(1))[:, 0].view(T - 1, L, C)  # [s, j-1]: x_{s+j}
                    for j in range(1, min(L, T - 1) + 1):
                        out[j:, j - 1] = (x[j:] - predicted[: T - j, j - 1]).double().cpu()
                return out.view(T, L * C).numpy()
            W = config.window
            out = torch.full((T, W, C), float("nan"), dtype=torch.float64)
            windows = x.unfold(0, W, 1).permute(2, 0, 1) if T >= W else x.new_zeros(W, 0, C)  # (W, N, C)
            for start in range(0, windows.shape[1], 1024):
                chunk = windows[:, start : start + 1024]
                error = (chunk - self.model(chunk)).transpose(0, 1)  # (N, W, C)
                out[W - 1 + start : W - 1 + start + chunk.shape[1]] = error.double().cpu()
            return out.view(T, W * C).numpy()

    def combine(self, errors: np.ndarray) -> np.ndarray:
        """``(T, E)`` errors -> ``(T,)`` scores: the root mean square of the standardized errors."""
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no score yet
            return np.sqrt(np.nanmean((errors / self.error_scale) ** 2, axis=-1))

    def score(self, values: np.ndarray) -> np.ndarray:
        """Scores ``(T,)`` of a whole series (see the class docstring)."""
        raw = self.combine(self.errors(values))
        if self.config.smooth == 1 and not self.config.adapt:
            return raw
        out, state = np.full_like(raw, np.nan), self._fresh_state()
        for t, value in enumerate(raw):
            out[t] = self._post(value, state)
        return out

    def _fresh_state(self) -> dict[str, float | None]:
        return {"level": 1.0, "running": None}  # scores are in units of the fit part's spread: level 1

    def _post(self, score: float, state: dict[str, float | None]) -> float:
        """The steps after the model's error, shared by :meth:`score` and :meth:`update`:

        1. ``adapt``: divide by the root of an exponential moving average (span ``adapt``) of
           the previous squared scores, so a score is measured against the recent error level;
        2. ``smooth``: an exponential moving average (span ``smooth``) of the squared scores.
        NaN (no score yet) passes through and leaves both averages as they were.
        """
        if np.isnan(score):
            return float("nan") if state["running"] is None else float(np.sqrt(state["running"]))
        if self.config.adapt:
            level = state["level"]
            alpha = 2.0 / (self.config.adapt + 1)
            state["level"] = alpha * score**2 + (1 - alpha) * level
            score = score / np.sqrt(level)
        if self.config.smooth == 1:
            return float(score)
        alpha = 2.0 / (self.config.smooth + 1)
        running = state["running"]
        state["running"] = score**2 if running is None else alpha * score**2 + (1 - alpha) * running
        return float(np.sqrt(state["running"]))

    # -- streaming ----------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the stream: the next :meth:`update` starts a new series."""
        self._state: Any = None
        self._predictions: deque[Tensor] = deque(maxlen=self.config.horizon)  # the forecaster's last ones
        self._recent: deque[Tensor] = deque(maxlen=self.config.window)  # the autoencoder's window
        self._post_state = self._fresh_state()  # adapt's error level, smooth's running value

    def update(self, x_t: np.ndarray | float) -> float:
        """Score one new point ``(C,)`` (NaN while there is no score yet), then take it in."""
        x = self._scaled(np.atleast_1d(np.asarray(x_t, dtype=np.float64)))  # (1, C)
        C = x.shape[1]
        with torch.no_grad():
            if self.config.kind == "forecaster":
                L = self.config.horizon
                error = torch.full((L, C), float("nan"), dtype=torch.float64)
                for j, made in enumerate(reversed(self._predictions), start=1):  # made j steps ago
                    error[j - 1] = (x[0] - made[j - 1]).double().cpu()
                model: SequenceModel = self.model  # type: ignore[assignment]
                output, self._state = model.recurrent.step(x, self._state)
                self._predictions.append(model.head(output).view(L, C))  # all NaN errors at first: no score
            else:
                self._recent.append(x[0])
                if len(self._recent) < self.config.window:
                    return float("nan")
                window = torch.stack(list(self._recent)).unsqueeze(1)  # (W, 1, C)
                error = (window - self.model(window))[:, 0].double().cpu()  # (W, C)
        return self._post(float(self.combine(error.reshape(1, -1).numpy())[0]), self._post_state)

    # -- decisions ------------------------------------------------------------------------------
    def flag(self, scores: np.ndarray) -> np.ndarray:
        if self.threshold is None:
            raise ValueError("Detector.flag: no threshold set (see calibrate)")
        return np.nan_to_num(scores, nan=-np.inf) > self.threshold


def calibrate(detector: Detector, frame: SeriesFrame, config: AnomalyConfig) -> np.ndarray:
    """Set ``error_scale`` from the fit part and the threshold as configured; return all scores."""
    fit_end, test_start = split_points(len(frame), config.data)
    errors = detector.errors(frame.values)
    detector.error_scale = np.maximum(np.sqrt(np.nanmean(errors[:fit_end] ** 2, axis=0)), 1e-8)
    scores = detector.score(frame.values)
    if config.model.threshold == "validation":
        detector.threshold = float(np.nanquantile(scores[fit_end:test_start], config.model.quantile))
    else:
        detector.threshold = float(np.nanquantile(scores, 1 - config.model.contamination))
    return scores


def segments(flagged: np.ndarray, scores: np.ndarray, merge_gap: int) -> list[dict[str, Any]]:
    """Runs of flagged points (gaps shorter than ``merge_gap`` bridged): start, end (inclusive), peak."""
    found: list[dict[str, Any]] = []
    for t in np.flatnonzero(flagged):
        if found and t - found[-1]["end"] <= merge_gap:
            found[-1]["end"] = int(t)
        else:
            found.append({"start": int(t), "end": int(t)})
    for seg in found:
        seg["length"] = seg["end"] - seg["start"] + 1
        seg["peak_score"] = float(np.nanmax(scores[seg["start"] : seg["end"] + 1]))
    return found


@dataclass
class AnomalyJob:
    model: nn.Module
    step_fn: Any
    batches: RandomBatches
    evaluate: Any
    frame: SeriesFrame
    loc: np.ndarray
    scale: np.ndarray
    config: AnomalyConfig

    def detector(self) -> Detector:
        return Detector(self.model, self.config.model, self.loc, self.scale)


def build(config: AnomalyConfig, rank: int = 0) -> AnomalyJob:
    frame = load_frame(config.data)
    n, W = len(frame), config.model.window
    fit_end, test_start = split_points(n, config.data)
    if fit_end < W + 2 or test_start - fit_end < W + 2 or n - test_start < 2:
        raise ValueError(f"data: {n} points split into fit {fit_end}, validation {test_start - fit_end}, test "
                         f"{n - test_start}; expected more than window + 1 = {W + 1} in fit and validation")
    fit = frame.values[:fit_end]
    loc, scale = fit.mean(axis=0), np.maximum(fit.std(axis=0), 1e-8)
    series = torch.tensor((frame.values - loc) / scale, dtype=torch.float32)  # (T, C)
    model = build_detector_model(frame.num_series, config.model)
    L = config.model.horizon
    length = W + L if config.model.kind == "forecaster" else W
    batch_size = config.train.batch_size

    def windows(starts: Tensor) -> Tensor:
        index = starts[:, None] + torch.arange(length)[None, :]  # (B, L)
        return series[index].transpose(0, 1)  # (L, B, C)

    def loss(m: nn.Module, w: Tensor) -> Tensor:
        if config.model.kind == "forecaster":  # after reading w[:s+1], predict w[s+1 .. s+L]
            targets = torch.stack([w[j : j + W] for j in range(1, L + 1)], dim=2)  # (W, B, L, C)
            return F.mse_loss(m(w[:W]), targets.flatten(2))
        return F.mse_loss(m(w), w)

    def step_fn(m: nn.Module, batch: Tensor, carry: Any) -> StepOutput:
        return StepOutput(loss(m, batch))

    validation = windows(torch.arange(fit_end, test_start - length + 1, max(1, length // 2)))

    def evaluate(m: nn.Module) -> dict[str, float]:
        scores = {"val_loss": loss(m, validation.to(next(m.parameters()).device)).item()}
        if frame.labels is not None and 0 < frame.labels[test_start:].sum() < n - test_start:
            detector = Detector(m, config.model, loc, scale)
            test_scores = detector.score(frame.values)[test_start:]
            scores.update({f"test_{k}": v for k, v in detection_scores(frame.labels[test_start:], test_scores).items()
                           if k != "best_f1_threshold"})
        return scores

    batches = RandomBatches(lambda g: windows(torch.randint(0, fit_end - length + 1, (batch_size,), generator=g)),
                            seed=config.train.seed + 1000 * rank)
    return AnomalyJob(model, step_fn, batches, evaluate, frame, loc, scale, config)


def detect(job: AnomalyJob) -> dict[str, Any]:
    """Calibrate a detector on the job's series and flag it: scores, flags, segments, metrics."""
    detector = job.detector()
    scores = calibrate(detector, job.frame, job.config)
    flagged = detector.flag(scores)
    _, test_start = split_points(len(job.frame), job.config.data)
    result: dict[str, Any] = {"detector": detector, "scores": scores, "flagged": flagged, "test_start": test_start,
                              "segments": segments(flagged, scores, job.config.model.merge_gap), "metrics": {}}
    labels = job.frame.labels
    if labels is not None and 0 < labels[test_start:].sum() < len(labels) - test_start:
        test = slice(test_start, None)
        result["metrics"] = {**detection_scores(labels[test], scores[test]),
                             **{f"threshold_{k}": v for k, v in f1_at(labels[test], flagged[test]).items()}}
    return result


def write_scores(frame: SeriesFrame, result: dict[str, Any], folder: Path) -> list[Path]:
    """``scores.csv`` (every point) and ``anomalies.csv`` (one row per flagged segment)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    scores_path, segments_path = folder / "scores.csv", folder / "anomalies.csv"
    tmp = scores_path.with_name(scores_path.name + ".tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["t"] + frame.names + ["score", "flagged"] + (["label"] if frame.labels is not None else []))
        for t in range(len(frame)):
            row = [_time(frame, t)] + [f"{v:.6g}" for v in frame.values[t]]
            row += [f"{result['scores'][t]:.6g}", int(result["flagged"][t])]
            if frame.labels is not None:
                row.append(int(frame.labels[t]))
            writer.writerow(row)
    tmp.replace(scores_path)
    paths.append(scores_path)
    tmp = segments_path.with_name(segments_path.name + ".tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["start", "end", "start_time", "end_time", "length", "peak_score"])
        for seg in result["segments"]:
            writer.writerow([seg["start"], seg["end"], _time(frame, seg["start"]), _time(frame, seg["end"]),
                             seg["length"], f"{seg['peak_score']:.6g}"])
    tmp.replace(segments_path)
    paths.append(segments_path)
    return paths


def _time(frame: SeriesFrame, t: int) -> str:
    value = frame.time[t]
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value, unit="s"))
    return f"{float(value):g}"


def plot_detection(frame: SeriesFrame, result: dict[str, Any], path: str | Path, title: str = "") -> Path | None:
    """The series with flagged segments shaded (and true anomalies marked), and the score with the threshold."""
    plt = pyplot()
    if plt is None:
        return None
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(12, 6), sharex=True)
    t = np.arange(len(frame))
    for c in range(frame.num_series):
        top.plot(t, frame.values[:, c], linewidth=0.8, label=frame.names[c])
    for i, seg in enumerate(result["segments"]):
        top.axvspan(seg["start"], seg["end"] + 1, color="tab:red", alpha=0.3, label="flagged" if i == 0 else None)
    if frame.labels is not None and frame.labels.any():
        marked = np.flatnonzero(frame.labels)
        top.scatter(marked, frame.values[marked, 0], s=8, color="black", zorder=3, label="labelled anomaly")
    top.axvline(result["test_start"], color="grey", linestyle="--", linewidth=1)
    top.set_title(title or "Sensor values; flagged segments shaded; the dashed line starts the test part")
    top.legend(loc="upper left")
    bottom.plot(t, result["scores"], color="tab:purple", linewidth=0.8, label="score")
    bottom.axhline(result["detector"].threshold, color="tab:red", linestyle="--", label="threshold")
    bottom.set_yscale("log")
    bottom.set_title("Anomaly score (standardized error, log scale)")
    bottom.legend(loc="upper left")
    return save_figure(figure, path)


def report(job: AnomalyJob, run_dir: Path) -> dict[str, Any]:
    """After training: calibrate, flag, write scores/anomalies CSVs and the plot."""
    result = detect(job)
    files = write_scores(job.frame, result, run_dir)
    files.append(plot_detection(job.frame, result, run_dir / "anomalies.png"))
    return {"metrics": result["metrics"], "threshold": result["detector"].threshold,
            "segments": len(result["segments"]), "flagged_points": int(result["flagged"].sum()),
            "files": [str(f) for f in files if f]}


TASK = Task(AnomalyConfig, build, report)
