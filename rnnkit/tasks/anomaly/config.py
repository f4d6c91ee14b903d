"""What an anomaly-detection run can set: the series and its parts, the detector's model, how
scores become flags, training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rnnkit.config import check_one_source
from rnnkit.data.timeseries import Missing
from rnnkit.models import RecurrentConfig
from rnnkit.training import EarlyStoppingConfig, TrainConfig


@dataclass
class AnomalyDataConfig:
    """The series and its three parts, by time: fit | validation | test (the rest)."""

    name: str | None = "mitdb"  # mitdb | yahoo, or null and ``path``
    path: str | None = None  # your CSV: sensor columns and optionally a 0/1 label column
    time_column: str | None = None
    value_columns: list[str] | None = None  # null: every numeric column but the label
    label_column: str | None = None  # for thresholds and scores; the named sets have theirs
    missing: Missing = "interpolate"
    fit_fraction: float = 0.4  # the first part, assumed (mostly) normal, trains the model
    validation_fraction: float = 0.2  # the next: early stopping, the threshold (labelled or not)

    def __post_init__(self) -> None:
        check_one_source("data", self.name, self.path)
        for key in ("fit_fraction", "validation_fraction"):
            if not 0 < getattr(self, key) < 1:
                raise ValueError(f"data.{key}: expected a fraction in (0, 1), got {getattr(self, key)}")
        if self.fit_fraction + self.validation_fraction >= 1:
            raise ValueError(f"data.fit_fraction + data.validation_fraction: expected below 1 (the rest is the test "
                             f"part), got {self.fit_fraction} + {self.validation_fraction}")


@dataclass
class DetectorModelConfig:
    """The network that predicts (``forecaster``) or reconstructs (``autoencoder``) the series."""

    kind: Literal["forecaster", "autoencoder"] = "forecaster"
    window: int = 64  # training window (forecaster); reconstruction window (autoencoder)
    horizon: int = 1  # forecaster: how many steps ahead each point predicts
    recurrent: RecurrentConfig = field(default_factory=lambda: RecurrentConfig(hidden_size=32))

    def __post_init__(self) -> None:
        if self.window < 2:
            raise ValueError(f"model.window: expected at least 2, got {self.window}")
        if self.horizon < 1:
            raise ValueError(f"model.horizon: expected a positive integer, got {self.horizon}")
        if self.recurrent.bidirectional:
            raise ValueError("model.recurrent.bidirectional: a detector scores each point from the past only (it "
                             "streams); expected false")


@dataclass
class DetectionConfig:
    """How the model's errors become scores, and scores become flagged segments.

    ``threshold``: ``labels`` picks the score that maximizes F1 on the validation part's labels;
    ``quantile`` takes the ``quantile`` of the validation scores, using no labels (normal
    validation data assumed); ``auto`` is ``labels`` when the validation part holds labelled
    anomalies, else ``quantile``. The report says which it used.
    """

    smooth: int = 1  # span of an exponential moving average of the squared scores (1: none)
    adapt: int = 0  # measure each score against the recent error level, averaged over this span (0: no)
    threshold: Literal["auto", "labels", "quantile"] = "auto"
    quantile: float = 0.999  # threshold: quantile -> this quantile of the validation scores
    merge_gap: int = 10  # flagged points closer than this many steps are one segment

    def __post_init__(self) -> None:
        if self.adapt < 0:
            raise ValueError(f"detection.adapt: expected a span >= 1, or 0 for none, got {self.adapt}")
        if self.smooth < 1:
            raise ValueError(f"detection.smooth: expected a span >= 1, got {self.smooth}")
        if not 0 < self.quantile < 1:
            raise ValueError(f"detection.quantile: expected a fraction in (0, 1), got {self.quantile}")
        if self.merge_gap < 0:
            raise ValueError(f"detection.merge_gap: expected a number of steps >= 0, got {self.merge_gap}")


@dataclass
class AnomalyConfig:
    task: Literal["anomaly"] = "anomaly"
    run_dir: str | None = None
    data: AnomalyDataConfig = field(default_factory=AnomalyDataConfig)
    model: DetectorModelConfig = field(default_factory=DetectorModelConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=20, min_steps=500, steps=10_000, eval_every=10_000, batch_size=32,
        early_stopping=EarlyStoppingConfig(metric="val_loss", patience=4, restore_best=True)))
