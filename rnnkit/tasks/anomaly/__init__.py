"""Anomaly detection in sensor data: score each point by how badly an RNN trained on (mostly)
normal data predicts or reconstructs it.

See :mod:`rnnkit.tasks.anomaly.task`."""

from rnnkit.tasks.anomaly.task import (
    TASK,
    AnomalyConfig,
    AnomalyDataConfig,
    AnomalyJob,
    Detector,
    DetectorConfig,
    build,
    build_detector_model,
    calibrate,
    detect,
    load_frame,
    plot_detection,
    report,
    segments,
    split_points,
    write_scores,
)

__all__ = ['TASK', 'AnomalyConfig', 'AnomalyDataConfig', 'AnomalyJob', 'Detector', 'DetectorConfig', 'build', 'build_detector_model', 'calibrate', 'detect', 'load_frame', 'plot_detection', 'report', 'segments', 'split_points', 'write_scores']
