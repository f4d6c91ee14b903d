"""Anomaly detection in sensor data: score each point by how badly an RNN trained on (mostly)
normal data predicts or reconstructs it.

The series (T points, C sensor channels) is split by time::

    | fit ..................... | validation ........ | test (reported once) ............ |
    0               fit_fraction * T      (fit + validation) * T                          T

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

With ``detection.adapt`` > 0 each score is divided by the recent error level (the root of an
exponential moving average of the previous squared scores): on a drifting series whose
errors grow everywhere, a spike still stands out against its neighbours. With ``detection.smooth`` > 1
the squared score is averaged exponentially over time (Hundman et al. 2018 smooth their
prediction errors so), so a stretch of moderately bad predictions outscores one isolated
miss. Both keep one running value each in the stream.

The protocol: the model trains on the fit part; early stopping watches the validation loss;
the error scales come from the fit part and the threshold from the validation part: the
score with the best F1 on its labels where it has labelled anomalies, else a high quantile of
its scores (no labels used; normal data assumed); the report says which. The job sees the
series only up to the test part; the whole series is sealed and opened by the report, which
scores it once: ROC-AUC and PR-AUC (threshold-free) and precision, recall and F1 at the
threshold chosen on validation, on the test part. Flagged points closer than ``merge_gap``
form one segment.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.datasets import load_series
from rnnkit.data.timeseries import SeriesFrame, read_series_csv
from rnnkit.files import atomic_open
from rnnkit.tasks.anomaly.baselines import isolation_forest, rolling_zscore
from rnnkit.tasks.anomaly.config import AnomalyConfig, AnomalyDataConfig, DetectionConfig
from rnnkit.tasks.anomaly.detector import Detector, build_detector_model, calibrate, choose_threshold, segments
from rnnkit.tasks.core.baselines import Candidates
from rnnkit.tasks.core.export import ExportSpec, example_generator, recurrent_spec
from rnnkit.tasks.core.metrics import f1_at, ranking_scores
from rnnkit.tasks.core.parts import Sealed, Split, fingerprint_bytes
from rnnkit.tasks.core.plotting import pyplot, save_figure
from rnnkit.tasks.core.registry import Task
from rnnkit.training import RandomBatches, StepOutput, model_device


def load_frame(config: AnomalyDataConfig) -> SeriesFrame:
    if config.name is not None:
        return load_series(config.name, missing=config.missing)
    return read_series_csv(config.path, config.time_column, config.value_columns, label_column=config.label_column,
                           missing=config.missing, spacing="infer" if config.time_column else "rows")


def split_points(n: int, config: AnomalyDataConfig) -> tuple[int, int]:
    """``(fit_end, test_start)``: fit ``[0, fit_end)``, validation ``[fit_end, test_start)``, test the rest."""
    fit_end = round(n * config.fit_fraction)
    return fit_end, round(n * (config.fit_fraction + config.validation_fraction))


def _labelled(labels: np.ndarray | None) -> bool:
    return labels is not None and 0 < int(labels.sum()) < len(labels)


@dataclass
class AnomalyJob:
    """The model and training pieces, the series before its test part (``seen``), and the whole
    series sealed in ``split.test``."""

    model: nn.Module
    step_fn: Any
    batches: RandomBatches
    evaluate: Any
    split: Split
    seen: SeriesFrame
    fit_end: int
    loc: np.ndarray
    scale: np.ndarray
    config: AnomalyConfig
    train_size: int  # training windows (each start in the fit part): what ``train.epochs`` counts passes over

    def detector(self) -> Detector:
        """A detector of the job's model, not yet calibrated (see :func:`calibrate_on_validation`)."""
        return Detector(self.model, self.config.model, self.config.detection, self.loc, self.scale)


def build(config: AnomalyConfig, rank: int = 0) -> AnomalyJob:
    series = load_frame(config.data)
    n, W = len(series), config.model.window
    fit_end, test_start = split_points(n, config.data)
    if fit_end < W + 2 or test_start - fit_end < W + 2 or n - test_start < 2:
        raise ValueError(f"data: {n} points split into fit {fit_end}, validation {test_start - fit_end}, test "
                         f"{n - test_start}; expected more than window + 1 = {W + 1} in fit and validation")
    seen = series.head(test_start)
    fit = seen.values[:fit_end]
    loc, scale = fit.mean(axis=0), np.maximum(fit.std(axis=0), 1e-8)
    scaled = torch.tensor((seen.values - loc) / scale, dtype=torch.float32)  # (T_seen, C)
    model = build_detector_model(series.num_series, config.model)
    L = config.model.horizon
    length = W + L if config.model.kind == "forecaster" else W
    batch_size = config.train.batch_size

    def windows(starts: Tensor) -> Tensor:
        index = starts[:, None] + torch.arange(length)[None, :]  # (B, L)
        return scaled[index].transpose(0, 1)  # (L, B, C)

    def loss(m: nn.Module, w: Tensor) -> Tensor:
        if config.model.kind == "forecaster":  # after reading w[:s+1], predict w[s+1 .. s+L]
            targets = torch.stack([w[j : j + W] for j in range(1, L + 1)], dim=2)  # (W, B, L, C)
            return F.mse_loss(m(w[:W]), targets.flatten(2))
        return F.mse_loss(m(w), w)

    def step_fn(m: nn.Module, batch: Tensor, carry: Any) -> StepOutput:
        return StepOutput(loss(m, batch))

    validation = windows(torch.arange(fit_end, test_start - length + 1, max(1, length // 2)))
    validation_labels = None if seen.labels is None else seen.labels[fit_end:]

    def evaluate(m: nn.Module) -> dict[str, float]:
        scores = {"val_loss": loss(m, validation.to(model_device(m))).item()}
        if _labelled(validation_labels):  # how well the validation anomalies stand out, whatever the threshold
            detector = Detector(m, config.model, config.detection, loc, scale)
            val_scores, _ = calibrate(detector, seen.values, fit_end, seen.labels)
            scores.update({f"val_{k}": v for k, v in ranking_scores(validation_labels, val_scores[fit_end:]).items()})
        return scores

    labels = series.labels
    split = Split({"points": n, "values before test": fingerprint_bytes(np.ascontiguousarray(seen.values).tobytes()),
                   "fit": {"points": [0, fit_end]},
                   "validation": {"points": [fit_end, test_start],
                                  "anomalies": None if labels is None else int(labels[fit_end:test_start].sum())},
                   "test": {"points": [test_start, n]}},
                  Sealed.of(series))
    batches = RandomBatches(lambda g: windows(torch.randint(0, fit_end - length + 1, (batch_size,), generator=g)),
                            seed=config.train.seed + 1000 * rank)
    return AnomalyJob(model, step_fn, batches, evaluate, split, seen, fit_end, loc, scale, config, fit_end - length + 1)


def calibrate_on_validation(job: AnomalyJob) -> tuple[Detector, str]:
    """A detector of the job's model with its error scales set on the fit part and its threshold
    on the validation part (no test data read); and how the threshold was chosen."""
    detector = job.detector()
    _, how = calibrate(detector, job.seen.values, job.fit_end, job.seen.labels)
    return detector, how


def detect(job: AnomalyJob) -> dict[str, Any]:
    """Calibrate on fit and validation, then score and flag the whole series (it opens the test
    part): scores, flags, segments, and the test part's metrics where it has labels."""
    detector, how = calibrate_on_validation(job)
    series = job.split.test.open()
    scores = detector.score(series.values)
    flagged = detector.flag(scores)
    test_start = len(job.seen)
    result: dict[str, Any] = {"detector": detector, "threshold_rule": how, "scores": scores, "flagged": flagged,
                              "test_start": test_start, "series": series,
                              "segments": segments(flagged, scores, job.config.detection.merge_gap), "metrics": {}}
    labels = series.labels
    if _labelled(None if labels is None else labels[test_start:]):
        test = slice(test_start, None)
        result["metrics"] = {**ranking_scores(labels[test], scores[test]), **f1_at(labels[test], flagged[test])}
    return result


def write_scores(frame: SeriesFrame, result: dict[str, Any], folder: Path) -> list[Path]:
    """``scores.csv`` (every point) and ``anomalies.csv`` (one row per flagged segment)."""
    scores_path, segments_path = folder / "scores.csv", folder / "anomalies.csv"
    with atomic_open(scores_path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["t"] + frame.names + ["score", "flagged"] + (["label"] if frame.labels is not None else []))
        for t in range(len(frame)):
            row = [_time(frame, t)] + [f"{v:.6g}" for v in frame.values[t]]
            row += [f"{result['scores'][t]:.6g}", int(result["flagged"][t])]
            if frame.labels is not None:
                row.append(int(frame.labels[t]))
            writer.writerow(row)
    with atomic_open(segments_path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["start", "end", "start_time", "end_time", "length", "peak_score"])
        for seg in result["segments"]:
            writer.writerow([seg["start"], seg["end"], _time(frame, seg["start"]), _time(frame, seg["end"]),
                             seg["length"], f"{seg['peak_score']:.6g}"])
    return [scores_path, segments_path]


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
    """After training: calibrate on validation, score the whole series (the one read of the
    test part), write scores/anomalies CSVs and the plot."""
    result = detect(job)
    series = result["series"]
    files = write_scores(series, result, run_dir)
    files.append(plot_detection(series, result, run_dir / "anomalies.png"))
    return {"metrics": {f"test_{k}": v for k, v in result["metrics"].items()},
            "threshold": result["detector"].threshold, "threshold_rule": result["threshold_rule"],
            "segments": len(result["segments"]), "flagged_points": int(result["flagged"].sum()),
            "text": f"threshold {result['detector'].threshold:.4g}: {result['threshold_rule']}",
            "files": [str(f) for f in files if f]}


def threshold_metrics(scores: np.ndarray, labels: np.ndarray, fit_end: int, test_start: int,
                      detection: DetectionConfig) -> dict[str, Any]:
    """Test metrics of any method's scores, its threshold chosen on the validation part exactly
    as the detectors' is (:func:`choose_threshold`), and how it was chosen (``threshold_rule``)."""
    threshold, how = choose_threshold(scores[fit_end:test_start], labels[fit_end:test_start], detection)
    flagged = np.nan_to_num(scores, nan=-np.inf) >= threshold
    test = slice(test_start, None)
    return {**ranking_scores(labels[test], scores[test]), **f1_at(labels[test], flagged[test]), "threshold_rule": how}


def baselines(job: AnomalyJob) -> Candidates:
    """A rolling z-score and an isolation forest on windows, fitted on the fit part, their
    thresholds chosen on validation by the detectors' rule, scored on the labelled test part."""
    series = job.split.test.open()
    test_start, window = len(job.seen), job.config.model.window
    labels = series.labels
    methods = {"rolling z-score": lambda: rolling_zscore(series.values, window),
               "isolation forest": lambda: isolation_forest(series.values, window, job.fit_end, job.config.train.seed)}
    if not _labelled(None if labels is None else labels[test_start:]):
        return Candidates(skipped={name: "the test part has no labelled anomalies to score on" for name in methods})

    def scored(make: Callable[[], np.ndarray]) -> Callable[[], dict[str, float]]:
        def score() -> dict[str, float]:
            metrics = threshold_metrics(make(), labels, job.fit_end, test_start, job.config.detection)
            return {f"test_{k}": v for k, v in metrics.items() if k != "threshold_rule"}
        return score

    return Candidates({name: scored(make) for name, make in methods.items()})


def export_spec(job: AnomalyJob, streaming: bool) -> ExportSpec:
    """``rnnkit export``: the forecaster's predictions of the next ``horizon`` points after each
    point, its state in and out (a point per call when ``streaming``); the autoencoder's
    reconstruction of whole windows. Points standardized by the sidecar's loc and scale."""
    model, config = job.model, job.config.model
    C = len(job.loc)
    extra = {"loc": job.loc.tolist(), "scale": job.scale.tolist(), "kind": config.kind}
    units = "standardized: (x - loc) / scale per channel"
    if config.kind == "autoencoder":
        if streaming:
            raise ValueError("the autoencoder reconstructs whole windows of model.window points: export it without "
                             "--streaming")
        W = config.window
        spec = ExportSpec(model, lambda b, t: (torch.randn(W, b, C, generator=example_generator(b, t)),),
                          ["windows"], ["reconstruction"], {"windows": {1: "batch"}}, W,
                          {"windows": f"windows of {W} points (window, batch, channels), {units}",
                           "reconstruction": "the windows as the model rebuilds them (same shape)"}, extra)
        return spec
    L = config.horizon

    def run_all(x: Tensor, state: Any) -> tuple[Tensor, Any]:
        output, state = model.recurrent(x, state)
        return model.head(output), state

    def run_step(x: Tensor, state: Any) -> tuple[Tensor, Any]:
        output, state = model.recurrent.step(x, state)
        return model.head(output), state

    def points(b: int, t: int) -> Tensor:
        return torch.randn(*((b, C) if streaming else (t, b, C)), generator=example_generator(b, t))

    ahead = f"after each point, the next {L} points predicted: column (j - 1) * channels + c is channel c, j ahead"
    if streaming:
        spec = recurrent_spec(model, model.recurrent, run_step, points, "x", {0: "batch"}, "predictions", 1,
                              {"x": f"one point (batch, channels), {units}", "predictions": f"(batch, {L * C}): {ahead}"})
    else:
        spec = recurrent_spec(model, model.recurrent, run_all, points, "x", {0: "time", 1: "batch"}, "predictions", 16,
                              {"x": f"points (time, batch, channels), {units}",
                               "predictions": f"(time, batch, {L * C}): {ahead}"})
    spec.extra = extra
    return spec


TASK = Task(AnomalyConfig, build, report, baselines=baselines, export=export_spec)
