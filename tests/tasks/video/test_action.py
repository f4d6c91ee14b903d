"""Action recognition: the Moving MNIST motion parts (balanced fixed clips, digits split,
seeded training clips), batches with lengths, and a run end to end with its baselines."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnkit.cli.main import main
from rnnkit.data import video
from rnnkit.tasks.core import run
from rnnkit.tasks.video import action
from tests.tiny import video_action_config

pytest.importorskip("sklearn")


def test_clip_part_batches_are_time_major_with_lengths():
    clips = np.arange(3 * 4 * 1 * 2 * 2, dtype=np.float32).reshape(3, 4, 1, 2, 2)
    part = action.ClipPart(clips, np.array([4, 2, 3]), np.array([0, 1, 0]))
    x, lengths, y = part.batch(np.array([1, 2]))
    assert x.shape == (3, 2, 1, 2, 2)  # as long as the longest of the two
    np.testing.assert_array_equal(x[:, 0].numpy(), clips[1, :3])
    assert lengths.tolist() == [2, 3] and y.tolist() == [1, 0]


def test_motion_parts(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    digits = (np.random.default_rng(0).random((100, 28, 28)) > 0.7).astype(np.float32)
    monkeypatch.setattr(video, "load_mnist_digits", lambda: (digits, np.repeat(np.arange(10), 10)))
    config = run.resolve_config({"task": "video_action", "data": {"size": 32, "frames": 6, "validation_clips": 14,
                                                                  "test_clips": 21},
                                 "model": {"cnn_channels": [4], "hidden_size": 8}})
    job = action.build(config)
    assert job.classes == list(video.MOTIONS)
    assert np.bincount(job.validation.targets).tolist() == [2] * 7  # every pattern alike
    assert job.validation.clips.shape == (14, 6, 1, 32, 32) and job.split.test.reads == 0
    static = job.validation.clips[job.validation.targets == video.MOTIONS.index("static")]
    assert (static == static[:, :1]).all()
    x, lengths, y = job.batches.next()
    assert x.shape == (6, 16, 1, 32, 32) and (lengths == 6).all() and y.max() < 7
    assert np.bincount(action.build(config).split.test.open().targets).tolist() == [3] * 7


@pytest.mark.slow
@pytest.mark.baselines
def test_a_run_with_its_baselines_then_predict(tmp_path, capsys):
    config = run.resolve_config({"task": "video_action", **video_action_config(tmp_path),
                                 "train": {"steps": 12, "eval_every": 6, "batch_size": 4, "progress": False}})
    run_dir, result = run.train(config, tmp_path / "run")
    assert set(result.report["metrics"]) == {"test_accuracy", "test_macro_f1"}
    assert set(result.report["baselines"]["metrics"]) == {"single-frame CNN", "frame-difference CNN"}
    assert "true \\ predicted" in result.report["text"]
    assert (run_dir / "confusion.png").exists() and (run_dir / "predictions.csv").exists()
    assert json.loads((run_dir / "split.json").read_text())["classes"] == ["left", "right"]
    assert main(["predict", str(run_dir), "--clip", str(tmp_path / "clips" / "c0"), "--clip",
                 str(tmp_path / "clips" / "c1")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "predicted\tp(left)\tp(right)\tclip" and len(lines) == 3
    probabilities = [float(v) for v in lines[1].split("\t")[1:3]]
    assert sum(probabilities) == pytest.approx(1, abs=1e-3) and lines[1].endswith("c0")


@pytest.mark.parametrize("task", ["video_prediction", "video_action", "video_caption"])
def test_every_video_data_section_refuses_bad_settings(task):
    from rnnkit.config import ConfigError

    for change, message in ((["data.channels=2"], "data.channels: expected 1 \\(grey\\) or 3 \\(RGB\\), got 2"),
                            (["data.size=16"], "Moving MNIST needs a canvas of at least the digits' 28 pixels"),
                            (["data.test_fraction=0.9"], "data.validation_fraction / test_fraction: expected"),
                            (["data.name=kinetics"], "data.name: expected 'moving_mnist"),
                            (["data.num_digits=0"], "data.num_digits: expected a positive int, got 0")):
        with pytest.raises((ValueError, ConfigError), match=message):
            run.resolve_config({"task": task}, change)
