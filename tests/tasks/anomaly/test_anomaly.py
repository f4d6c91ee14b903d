"""Anomaly detection: streaming == whole-series scores, hand-checked metrics and segments, the
baselines, and the task end to end on a generated series with injected anomalies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rnnkit.cli.main import main as cli
from rnnkit.config import from_dict
from rnnkit.models.autoencoder import SequenceAutoencoder
from rnnkit.models.sequence import RecurrentConfig
from rnnkit.tasks import anomaly
from rnnkit.tasks.anomaly.baselines import isolation_forest, rolling_zscore
from rnnkit.tasks.core import run
from rnnkit.tasks.core.metrics import best_f1_threshold, f1_at, ranking_scores


def detector(kind, horizon=1, smooth=1, channels=2, cell="lstm", adapt=0):
    torch.manual_seed(0)
    config = anomaly.DetectorModelConfig(kind=kind, window=6, horizon=horizon,
                                         recurrent=RecurrentConfig(cell=cell, hidden_size=8))
    model = anomaly.build_detector_model(channels, config).double()
    rng = np.random.default_rng(1)
    return anomaly.Detector(model, config, anomaly.DetectionConfig(smooth=smooth, adapt=adapt),
                            loc=rng.normal(size=channels), scale=rng.uniform(0.5, 2, channels),
                            error_scale=rng.uniform(0.5, 2, channels * (horizon if kind == "forecaster" else 6)))


@pytest.mark.parametrize("kind,horizon,smooth,adapt,cell", [
    ("forecaster", 1, 1, 0, "lstm"), ("forecaster", 3, 1, 0, "gru"), ("forecaster", 3, 5, 0, "lstm"),
    ("forecaster", 1, 1, 7, "gru"), ("forecaster", 2, 3, 7, "lstm"),
    ("autoencoder", 1, 1, 0, "gru"), ("autoencoder", 1, 4, 0, "lstm"), ("autoencoder", 1, 1, 5, "lstm"),
])
def test_streaming_scores_equal_whole_series_scores(kind, horizon, smooth, adapt, cell):
    det = detector(kind, horizon, smooth, cell=cell, adapt=adapt)
    det.model.float()  # the model in float32, as trained; both paths run the same arithmetic
    values = np.random.default_rng(2).normal(size=(40, 2))
    whole = det.score(values)
    det.reset()
    streamed = np.array([det.update(x) for x in values])
    np.testing.assert_array_equal(np.isnan(whole), np.isnan(streamed))
    np.testing.assert_allclose(streamed[~np.isnan(streamed)], whole[~np.isnan(whole)], rtol=1e-4, atol=1e-5)
    first = 1 if kind == "forecaster" else 5
    assert np.isnan(whole[:first]).all() and not np.isnan(whole[first:]).any()


def test_forecaster_errors_are_predictions_made_j_steps_earlier():
    det = detector("forecaster", horizon=2, channels=1)
    det.model.float()
    values = np.random.default_rng(3).normal(size=(8, 1))
    errors = det.errors(values)  # (T, 2)
    x = torch.tensor((values - det.loc) / det.scale, dtype=torch.float32)
    with torch.no_grad():
        predictions = det.model(x[:-1].unsqueeze(1))[:, 0].view(7, 2, 1)  # [s, j-1] predicts x_{s+j}
    assert errors[5, 0] == pytest.approx(float(x[5, 0] - predictions[4, 0, 0]), abs=1e-6)
    assert errors[5, 1] == pytest.approx(float(x[5, 0] - predictions[3, 1, 0]), abs=1e-6)
    assert np.isnan(errors[1, 1]) and not np.isnan(errors[1, 0])


def test_autoencoder_reconstructs_in_time_order():
    torch.manual_seed(0)
    model = SequenceAutoencoder(3, RecurrentConfig(cell="gru", hidden_size=5))
    x = torch.randn(7, 2, 3)
    assert model(x).shape == (7, 2, 3)
    # batch independence: the second window alone reconstructs the same
    torch.testing.assert_close(model(x[:, 1:2]), model(x)[:, 1:2])
    with pytest.raises(ValueError, match="bidirectional"):
        SequenceAutoencoder(3, RecurrentConfig(bidirectional=True))


def test_adapt_and_smooth_by_hand():
    det = detector("forecaster", channels=1, adapt=3, smooth=3)  # both spans 3: alpha = 0.5
    state = det._fresh_state()
    assert np.isnan(det._post(float("nan"), state))
    assert det._post(2.0, state) == pytest.approx(2.0)  # 2 / sqrt(1); level -> (4 + 1) / 2; running -> 4
    # 3 / sqrt(2.5) = 1.897..., squared 3.6; running -> (3.6 + 4) / 2
    assert det._post(3.0, state) == pytest.approx(np.sqrt((9 / 2.5 + 4) / 2))


def test_segments_merge_close_flags():
    flagged = np.array([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1], dtype=bool)
    scores = np.arange(11.0)
    found = anomaly.segments(flagged, scores, merge_gap=3)
    assert [(s["start"], s["end"], s["length"], s["peak_score"]) for s in found] == [(1, 5, 5, 5.0), (10, 10, 1, 10.0)]


def test_detection_metrics_by_hand():
    labels = np.array([0, 0, 1, 1, 0])
    scores = np.array([0.1, 0.2, 0.8, 0.9, np.nan])  # the NaN (no score yet) is left out
    assert ranking_scores(labels, scores) == {"roc_auc": 1.0, "pr_auc": 1.0}
    threshold, f1 = best_f1_threshold(labels, scores)
    assert threshold == pytest.approx(0.8) and f1 == 1.0
    assert f1_at(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0]))["f1"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="both normal"):
        ranking_scores(np.zeros(3), np.ones(3))


def test_threshold_from_validation_labels_or_without_them():
    detection = anomaly.DetectionConfig(quantile=0.75)
    scores = np.array([0.1, 0.2, 0.3, 0.9, 0.4, 0.8])
    threshold, how = anomaly.choose_threshold(scores, np.array([0, 0, 0, 1, 0, 1]), detection)
    assert threshold == pytest.approx(0.8) and "maximizes F1 on the validation labels" in how
    threshold, how = anomaly.choose_threshold(scores, np.zeros(6, dtype=int), detection)
    assert threshold == pytest.approx(np.quantile(scores, 0.75)) and "no labelled anomaly" in how
    threshold, how = anomaly.choose_threshold(scores, None, detection)
    assert "set without labels" in how
    with pytest.raises(ValueError, match="detection.threshold=labels: the validation part holds no labelled"):
        anomaly.choose_threshold(scores, None, anomaly.DetectionConfig(threshold="labels"))


def test_rolling_zscore_by_hand_and_isolation_forest_shape():
    values = np.array([[1.0], [2.0], [3.0], [10.0]])
    z = rolling_zscore(values, 3)
    assert np.isnan(z[:3]).all()
    assert z[3] == pytest.approx(abs(10 - 2) / 1.0)  # mean 2, sample std 1 of (1, 2, 3)
    series = np.sin(np.arange(300) / 5.0)[:, None]
    series[250] += 5
    scores = isolation_forest(series, 10, 200, seed=0)
    assert np.isnan(scores[:9]).all() and np.nanargmax(scores) in range(250, 260)


def write_sensor_csv(path, n=1200, seed=0, bursts=(600, 800, 1000)):
    """Two sensors of a clean cycle with bursts the normal pattern never shows: with the tiny
    config's split (fit 480, validation 300), one burst in validation and two in test."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    a = np.sin(2 * np.pi * t / 25) + 0.05 * rng.standard_normal(n)
    b = np.cos(2 * np.pi * t / 25) + 0.05 * rng.standard_normal(n)
    label = np.zeros(n, dtype=int)
    for start in bursts:
        a[start : start + 8] += 2.5
        label[start : start + 8] = 1
    pd.DataFrame({"a": a, "b": b, "label": label}).to_csv(path, index=False)
    return path


def tiny_config(path, kind="forecaster"):
    return from_dict(anomaly.AnomalyConfig, {
        "task": "anomaly",
        "data": {"name": None, "path": str(path), "label_column": "label", "fit_fraction": 0.4,
                 "validation_fraction": 0.25},
        "model": {"kind": kind, "window": 25, "recurrent": {"cell": "gru", "hidden_size": 16}},
        "detection": {"quantile": 0.99},
        "train": {"steps": 150, "batch_size": 16, "eval_every": 50, "progress": False,
                  "optimizer": {"name": "adam", "lr": 0.01},
                  "early_stopping": {"metric": "val_loss", "patience": 10, "restore_best": True}},
    })


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["forecaster", "autoencoder"])
def test_anomaly_task_end_to_end(tmp_path, kind, capsys):
    path = write_sensor_csv(tmp_path / "sensors.csv")
    run_dir, result = run.train(tiny_config(path, kind), tmp_path / "run")
    report = result.report
    assert report["metrics"]["test_roc_auc"] > 0.9  # the bursts stand far out of the learned pattern
    assert {"test_pr_auc", "test_precision", "test_recall", "test_f1"} <= set(report["metrics"])
    assert "validation labels" in report["threshold_rule"]  # the validation burst set the threshold
    written = pd.read_csv(run_dir / "scores.csv")
    clear = (written["score"] - report["threshold"]).abs() > 1e-5 * report["threshold"]  # away from the 6-digit rounding
    assert (written["flagged"] == (written["score"].fillna(-np.inf) >= report["threshold"]))[clear].all()
    assert "val_roc_auc" in result.last_eval and not any(k.startswith("test") for k in result.last_eval)
    for name in ("scores.csv", "anomalies.csv", "anomalies.png", "split.json"):
        assert (run_dir / name).exists()
    scores = pd.read_csv(run_dir / "scores.csv")
    assert scores.columns.tolist() == ["t", "a", "b", "score", "flagged", "label"]
    segments = pd.read_csv(run_dir / "anomalies.csv")
    assert ((segments["start"] <= 1007) & (segments["end"] >= 1000)).any()  # the second burst is reported
    assert cli(["evaluate", str(run_dir)]) == 0
    assert "val_loss" in capsys.readouterr().out


def test_anomaly_split_errors(tmp_path):
    path = write_sensor_csv(tmp_path / "s.csv", n=100)
    config = tiny_config(path)
    config.model.window = 40
    with pytest.raises(ValueError, match="expected more than window"):
        anomaly.build(config)
    with pytest.raises(ValueError, match="detection.smooth"):
        anomaly.DetectionConfig(smooth=0)
    with pytest.raises(ValueError, match="fit_fraction \\+ data.validation_fraction: expected below 1"):
        anomaly.AnomalyDataConfig(fit_fraction=0.6, validation_fraction=0.4)


@pytest.mark.slow
def test_without_validation_labels_the_threshold_is_set_without_labels(tmp_path):
    path = write_sensor_csv(tmp_path / "sensors.csv", bursts=(800, 1000))  # none in validation
    config = tiny_config(path)
    config.train.steps = 30
    _, result = run.train(config, tmp_path / "run")
    assert "no labelled anomaly" in result.report["threshold_rule"] and "val_roc_auc" not in result.last_eval


@pytest.mark.parametrize("kind,smooth,adapt", [("forecaster", 3, 5), ("autoencoder", 2, 0)])
def test_update_many_gives_each_stream_what_it_gets_alone(kind, smooth, adapt):
    """Three series scored point by point together (one batched pass per point, the streams at
    different ages) == each scored alone by update."""
    det = detector(kind, horizon=2 if kind == "forecaster" else 1, smooth=smooth, adapt=adapt)
    det.model.float()
    rng = np.random.default_rng(4)
    series = [rng.normal(size=(n, 2)) for n in (12, 9, 15)]
    streams = [det.new_stream() for _ in series]
    together: list[list[float]] = [[] for _ in series]
    for t in range(max(len(v) for v in series)):
        active = [i for i, v in enumerate(series) if 2 * i <= t < len(v)]  # series i joins at point 2i
        for i, score in zip(active, det.update_many([streams[i] for i in active], [series[i][t] for i in active])):
            together[i].append(score)
    for i, values in enumerate(series):
        det.reset()
        alone = np.array([det.update(x) for x in values[2 * i :]])
        got = np.array(together[i])
        assert len(got) == len(alone) and np.isfinite(got[-1])
        np.testing.assert_array_equal(np.isnan(got), np.isnan(alone))
        np.testing.assert_allclose(got[~np.isnan(got)], alone[~np.isnan(alone)], rtol=1e-5, atol=1e-6)


def test_update_many_refuses_a_point_count_that_does_not_match():
    det = detector("forecaster")
    with pytest.raises(ValueError, match="one point per stream"):
        det.update_many([det.new_stream(), det.new_stream()], [np.zeros(2)])
