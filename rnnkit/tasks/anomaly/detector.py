"""Scoring points with a trained model: the :class:`Detector`, its calibration, segments.

A detector turns the model's errors into one score per point (see :mod:`rnnkit.tasks.anomaly.task`
for the two kinds of model) and scores into flags with a threshold set on the validation part.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.layers import stack_states, unstack_state
from rnnkit.models.autoencoder import SequenceAutoencoder
from rnnkit.models.sequence import SequenceModel
from rnnkit.tasks.anomaly.config import DetectionConfig, DetectorModelConfig
from rnnkit.tasks.core.metrics import best_f1_threshold
from rnnkit.training import model_device


def build_detector_model(channels: int, config: DetectorModelConfig) -> nn.Module:
    if config.kind == "autoencoder":
        return SequenceAutoencoder(channels, config.recurrent)
    return SequenceModel(channels, channels * config.horizon, config.recurrent, readout="all")



@dataclass
class DetectorStream:
    """What scoring one series point by point carries from a point to the next (see
    :meth:`Detector.update_many`). Tensors are in model units, on the model's device."""

    state: Any = None  # forecaster: the recurrent state after the last point (batch 1); None before the first
    predictions: list[Tensor] = field(default_factory=list)  # forecaster: the last `horizon` predictions (L, C)
    recent: list[Tensor] = field(default_factory=list)  # autoencoder: the last `window` points (C,)
    post: dict[str, float | None] = field(default_factory=dict)  # adapt's error level, smooth's running value


class Detector:
    """Scores points with a trained model: all at once (:meth:`score`) or one by one (:meth:`update`).

    ``values`` are in the sensor's units ``(T, C)``; ``loc``/``scale`` ``(C,)`` standardize
    them as in training, ``error_scale`` ``(E,)`` standardizes the errors (see :meth:`errors`;
    :func:`calibrate` sets it from the fit part). Both ways give the
    same scores (NaN where there is no score yet: the first point, or the first
    ``window - 1`` for the autoencoder).
    """

    def __init__(self, model: nn.Module, config: DetectorModelConfig, detection: DetectionConfig, loc: np.ndarray,
                 scale: np.ndarray, error_scale: np.ndarray | None = None, threshold: float | None = None) -> None:
        self.model, self.config, self.detection = model.eval(), config, detection
        self.loc, self.scale = np.asarray(loc, dtype=np.float64), np.asarray(scale, dtype=np.float64)
        self.error_scale = np.float64(1.0) if error_scale is None else np.asarray(error_scale, dtype=np.float64)
        self.threshold = threshold
        self.reset()

    def _device(self) -> torch.device:
        return model_device(self.model)

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
        if self.detection.smooth == 1 and not self.detection.adapt:
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
        if self.detection.adapt:
            level = state["level"]
            alpha = 2.0 / (self.detection.adapt + 1)
            state["level"] = alpha * score**2 + (1 - alpha) * level
            score = score / np.sqrt(level)
        if self.detection.smooth == 1:
            return float(score)
        alpha = 2.0 / (self.detection.smooth + 1)
        running = state["running"]
        state["running"] = score**2 if running is None else alpha * score**2 + (1 - alpha) * running
        return float(np.sqrt(state["running"]))

    # -- streaming ----------------------------------------------------------------------------
    def new_stream(self) -> DetectorStream:
        """A series not yet begun, for :meth:`update_many`."""
        return DetectorStream(post=self._fresh_state())

    def reset(self) -> None:
        """Forget the stream: the next :meth:`update` starts a new series."""
        self.stream = self.new_stream()

    def update(self, x_t: np.ndarray | float) -> float:
        """Score one new point ``(C,)`` (NaN while there is no score yet), then take it in."""
        return self.update_many([self.stream], [x_t])[0]

    def update_many(self, streams: Sequence[DetectorStream], points: Sequence[np.ndarray | float]) -> list[float]:
        """:meth:`update` for several independent series at once, one point ``(C,)`` each, in one
        batched forward pass; each stream gets the score it would get alone."""
        if len(streams) != len(points) or not streams:
            raise ValueError(f"update_many: expected one point per stream, got {len(points)} for {len(streams)}")
        xs = [self._scaled(np.atleast_1d(np.asarray(p, dtype=np.float64))) for p in points]  # each (1, C)
        C = xs[0].shape[1]
        errors: list[Tensor | None] = [None] * len(streams)
        with torch.no_grad():
            if self.config.kind == "forecaster":
                L = self.config.horizon
                for i, (stream, x) in enumerate(zip(streams, xs)):
                    error = torch.full((L, C), float("nan"), dtype=torch.float64)
                    for j, made in enumerate(reversed(stream.predictions), start=1):  # made j steps ago
                        error[j - 1] = (x[0] - made[j - 1]).double().cpu()
                    errors[i] = error  # all NaN at first: no score
                model: SequenceModel = self.model  # type: ignore[assignment]
                states = [model.recurrent.initial_state(1) if s.state is None else s.state for s in streams]
                output, state = model.recurrent.step(torch.cat(xs), stack_states(states))
                predicted = model.head(output).view(len(streams), L, C)
                for i, (stream, own) in enumerate(zip(streams, unstack_state(state))):
                    stream.state = own
                    stream.predictions = [*stream.predictions, predicted[i].clone()][-L:]
            else:
                W = self.config.window
                for stream, x in zip(streams, xs):
                    stream.recent = [*stream.recent, x[0]][-W:]
                ready = [i for i, stream in enumerate(streams) if len(stream.recent) == W]
                if ready:
                    windows = torch.stack([torch.stack(streams[i].recent) for i in ready], dim=1)  # (W, B', C)
                    error = (windows - self.model(windows)).double().cpu()
                    for k, i in enumerate(ready):
                        errors[i] = error[:, k]  # (W, C)
        return [float("nan") if error is None  # the autoencoder's window is not full yet
                else self._post(float(self.combine(error.reshape(1, -1).numpy())[0]), stream.post)
                for stream, error in zip(streams, errors)]

    # -- decisions ------------------------------------------------------------------------------
    def flag(self, scores: np.ndarray) -> np.ndarray:
        """``score >= threshold`` (the convention of :func:`~rnnkit.tasks.core.metrics.best_f1_threshold`);
        no score yet (NaN) is never flagged."""
        if self.threshold is None:
            raise ValueError("Detector.flag: no threshold set (see calibrate)")
        return np.nan_to_num(scores, nan=-np.inf) >= self.threshold


def choose_threshold(scores: np.ndarray, labels: np.ndarray | None, detection: DetectionConfig) -> tuple[float, str]:
    """The threshold from the validation part's ``scores`` (and ``labels``, 0/1, when there are
    any), by ``detection.threshold``; and how it was chosen, in words, for the report."""
    labelled = labels is not None and 0 < int(np.sum(labels)) < len(labels)
    rule = detection.threshold if detection.threshold != "auto" else ("labels" if labelled else "quantile")
    if rule == "labels":
        if not labelled:
            raise ValueError("detection.threshold=labels: the validation part holds no labelled anomaly (or only "
                             "anomalies); expected labels of both kinds there, or detection.threshold: quantile")
        threshold, f1 = best_f1_threshold(labels, scores)
        return threshold, (f"the score that maximizes F1 on the validation labels ({int(np.sum(labels))} anomalous of "
                           f"{len(labels)} points; validation F1 {f1:.3f})")
    threshold = float(np.nanquantile(scores, detection.quantile))
    why = "the validation part holds no labelled anomaly" if not labelled else "detection.threshold: quantile"
    return threshold, f"the {detection.quantile:.1%} quantile of the validation scores, set without labels ({why})"


def calibrate(detector: Detector, values: np.ndarray, fit_end: int, labels: np.ndarray | None = None
              ) -> tuple[np.ndarray, str]:
    """Set the detector's error scales from the fit part ``values[:fit_end]`` and its threshold
    from the validation part ``values[fit_end:]`` (with its ``labels`` if any). ``values`` must
    end before the test part. Returns the scores of ``values`` and how the threshold was chosen."""
    errors = detector.errors(values)
    detector.error_scale = np.maximum(np.sqrt(np.nanmean(errors[:fit_end] ** 2, axis=0)), 1e-8)
    scores = detector.score(values)
    validation_labels = None if labels is None else labels[fit_end:]
    detector.threshold, how = choose_threshold(scores[fit_end:], validation_labels, detector.detection)
    return scores, how


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
