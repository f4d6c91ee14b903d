"""Video frame prediction: the metrics and baselines by hand, Moving MNIST parts (digits
split, fixed clips, seeded training clips), and a run end to end from the command line with
generation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnkit.cli.main import main
from rnnkit.data import video
from rnnkit.tasks.core import run
from rnnkit.tasks.video import prediction
from tests.tiny import video_prediction_config

pytest.importorskip("skimage")


def test_frame_metrics_by_hand():
    truth = np.zeros((2, 3, 1, 4, 4), dtype=np.float32)
    predicted = truth.copy()
    predicted[0, 0, 0, 0, :2] = 0.5  # two pixels off by 0.5 in one frame of six
    metrics = prediction.frame_metrics(predicted, truth)
    assert metrics["mse"] == pytest.approx(2 * 0.25 / 6)  # summed over the frame's pixels, averaged over frames
    assert metrics["mae"] == pytest.approx(2 * 0.5 / 6)
    assert metrics["mse_by_step"] == pytest.approx([0.25, 0.0, 0.0])
    assert metrics["ssim_by_step"][1:] == pytest.approx([1.0, 1.0]) and metrics["ssim_by_step"][0] < 1
    assert np.mean(metrics["ssim_by_step"]) == pytest.approx(metrics["ssim"])  # the same frames, each weighed once
    same = prediction.frame_metrics(truth + 0.3, truth + 0.3)
    assert same["ssim"] == pytest.approx(1.0) and same["mse"] == 0


def test_ssim_of_8bit_frames_by_hand():
    # SSIM of a constant frame c against a black one: every window gives C1 / (c^2 + C1), with
    # C1 = (0.01 * data range)^2 (the variances and covariance are 0, so the C2 terms cancel)
    np.testing.assert_array_equal(prediction.to_8bit(np.array([-0.1, 0.003, 0.5, 0.999, 1.0, 1.2])),
                                  [0, 0, 127, 254, 255, 255])  # clipped, then truncated: uint8(x * 255)
    black = np.zeros((1, 1, 1, 8, 8))
    faint = prediction.frame_metrics(black + 0.003, black)
    assert faint["ssim"] == pytest.approx(1e-4 / (0.003 ** 2 + 1e-4))  # 0.917: the float SSIM sees the haze
    assert faint["ssim_8bit"] == 1.0  # 0.003 * 255 < 1: gone from the 8-bit frame
    hazy = prediction.frame_metrics(black + 0.02, black)
    assert hazy["ssim"] == pytest.approx(1e-4 / (0.02 ** 2 + 1e-4))  # 0.2
    c1 = (0.01 * 255) ** 2
    assert hazy["ssim_8bit"] == pytest.approx(c1 / (5 ** 2 + c1))  # 0.02 * 255 = 5.1 -> 5


def test_baselines_by_hand():
    inputs = np.zeros((1, 3, 1, 1, 2), dtype=np.float32)
    inputs[0, :, 0, 0, 0] = [0.1, 0.2, 0.4]  # rising by 0.2 a frame at the end
    inputs[0, :, 0, 0, 1] = [0.9, 0.9, 0.7]  # falling by 0.2
    np.testing.assert_allclose(prediction.copy_last(inputs, 2)[0, :, 0, 0], [[0.4, 0.7], [0.4, 0.7]])
    np.testing.assert_allclose(prediction.extrapolate(inputs, 3)[0, :, 0, 0],
                               [[0.6, 0.5], [0.8, 0.3], [1.0, 0.1]], atol=1e-6)
    np.testing.assert_allclose(prediction.extrapolate(inputs, 5)[0, 4, 0, 0], [1.0, 0.0], atol=1e-6)  # clipped


def test_moving_mnist_parts(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    digits = (rng.random((100, 28, 28)) > 0.7).astype(np.float32)
    monkeypatch.setattr(video, "load_mnist_digits", lambda: (digits, np.repeat(np.arange(10), 10)))
    config = run.resolve_config({"task": "video_prediction", "data": {"size": 32, "input_frames": 3,
                                 "output_frames": 2, "validation_clips": 5, "test_clips": 6},
                                 "model": {"hidden_channels": [2], "kernel_size": 3}})
    job = prediction.build(config)
    again = prediction.build(config)
    assert job.validation.shape == (5, 5, 1, 32, 32)
    np.testing.assert_array_equal(job.validation, again.validation)  # fixed, read from the cache
    assert job.split.test.reads == 0
    test = job.split.test.open()
    assert test.shape == (6, 5, 1, 32, 32) and not np.array_equal(test[:5], job.validation)
    record = job.split.record["digits"]
    assert record["train"]["size"] == 80 and record["val"]["size"] == 10 and record["test"]["size"] == 10
    first = job.batches.next()
    assert first.shape == (5, 16, 1, 32, 32)  # (frames, batch, C, H, W), drawn from the training digits
    np.testing.assert_array_equal(first, again.batches.next())  # seeded


@pytest.mark.slow
@pytest.mark.baselines
def test_train_generate_from_the_command_line(tmp_path, capsys):
    config = {"task": "video_prediction", **video_prediction_config(tmp_path),
              "train": {"steps": 30, "eval_every": 10, "batch_size": 4, "progress": False}}
    (tmp_path / "config.yaml").write_text(json.dumps(config))
    assert main(["train", str(tmp_path / "config.yaml"), "--run-dir", str(tmp_path / "run")]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    metrics = summary["report"]["metrics"]
    assert set(metrics) == {"test_mse", "test_mae", "test_ssim", "test_ssim_8bit"}
    assert set(summary["report"]["baselines"]["metrics"]) == {"last frame", "linear extrapolation"}
    for name in ("predictions.png", "prediction.gif", "rollout.gif", "error_by_step.png"):
        assert (tmp_path / "run" / name).exists()
    capsys.readouterr()
    assert main(["generate", str(tmp_path / "run"), "--length", "7", "--prime", str(tmp_path / "clips" / "c0"),
                 "--out", str(tmp_path / "out.gif")]) == 0
    assert "wrote" in capsys.readouterr().out
    from PIL import Image

    with Image.open(tmp_path / "out.gif") as gif:
        assert gif.n_frames == 3 + 7  # the input frames, then the rollout
    assert main(["generate", str(tmp_path / "run"), "--length", "5"]) == 2  # your clips: --prime is needed
    assert "--prime: expected a clip to continue" in capsys.readouterr().err
