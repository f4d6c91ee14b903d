"""Anomaly detection in sensor data: an RNN forecaster or autoencoder, scores, thresholds, segments.

    rnnkit train anomaly-yahoo          # a preset; rnnkit presets lists the others

See :mod:`rnnkit.tasks.anomaly.task` for the parts and the protocol, :mod:`.detector` for
scoring and streaming, :mod:`.baselines` for the rolling z-score and the isolation forest.
"""

from rnnkit.tasks.anomaly.config import AnomalyConfig, AnomalyDataConfig, DetectionConfig, DetectorModelConfig
from rnnkit.tasks.anomaly.detector import Detector, DetectorStream, build_detector_model, calibrate, choose_threshold, segments
from rnnkit.tasks.anomaly.task import (
    TASK,
    AnomalyJob,
    build,
    calibrate_on_validation,
    detect,
    load_frame,
    plot_detection,
    report,
    split_points,
    threshold_metrics,
    write_scores,
)

__all__ = [
    "TASK",
    "AnomalyConfig",
    "AnomalyDataConfig",
    "AnomalyJob",
    "DetectionConfig",
    "Detector",
    "DetectorStream",
    "DetectorModelConfig",
    "build",
    "build_detector_model",
    "calibrate",
    "calibrate_on_validation",
    "choose_threshold",
    "detect",
    "load_frame",
    "plot_detection",
    "report",
    "segments",
    "split_points",
    "threshold_metrics",
    "write_scores",
]
