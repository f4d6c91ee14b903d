"""Video captioning: slots read back from captions and the scores by hand, the Moving MNIST
captioned parts, a run with both baselines, and ``rnnkit caption``."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.cli.main import main
from rnnkit.data import video
from rnnkit.tasks.core import run
from rnnkit.tasks.video import caption
from tests.tiny import video_caption_config

pytest.importorskip("sacrebleu")


def test_slots_read_back_and_scores_by_hand():
    text = "the digit 3 is moving left and right while the digit 7 is moving in a circle"
    assert caption.read_slots(text, 2) == [(3, 0), (7, 3)]
    assert caption.read_slots("the digit 5 is moving", 2) == [(-1, -1), (-1, -1)]  # no motion: not a slot
    slots = np.array([[[3, 0], [7, 3]], [[1, 1], [2, 2]]])
    references = [text, "the digit 1 is moving up and down while the digit 2 is moving diagonally"]
    hypotheses = [text, "the digit 1 is moving up and down while the digit 9 is moving diagonally"]
    scores = caption.caption_scores(references, hypotheses, slots)
    assert scores["exact"] == 0.5
    assert (scores["digit_1"], scores["motion_1"], scores["digit_2"], scores["motion_2"]) == (1.0, 1.0, 0.5, 1.0)
    assert scores["slot_accuracy"] == 7 / 8
    assert 0 < scores["bleu"] < 100


def test_words_encode_and_decode():
    words = caption.Words.of(["a bar moves left", "a bar moves right"])
    ids = words.encode("a bar moves left")
    assert ids[-1] == words.end and words.bos == len(words.vocabulary) - 2
    assert words.decode(ids) == "a bar moves left"


@pytest.mark.slow
@pytest.mark.baselines
def test_moving_mnist_captions_with_both_baselines(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    digits = np.zeros((100, 28, 28), dtype=np.float32)
    digits[:, 8:20, 8:20] = 1
    monkeypatch.setattr(video, "load_mnist_digits", lambda: (digits, np.repeat(np.arange(10), 10)))
    config = run.resolve_config({"task": "video_caption",
                                 "data": {"size": 32, "frames": 4, "validation_clips": 6, "test_clips": 8},
                                 "model": {"cnn_channels": [4], "seq2seq": {"recurrent": {"hidden_size": 8},
                                                                            "embedding_size": 8}},
                                 "train": {"steps": 6, "eval_every": 3, "batch_size": 4, "progress": False},
                                 "beam": 2, "eval_size": 4})
    job = caption.build(config)
    assert job.validation.slots.shape == (6, 2, 2) and job.split.test.reads == 0
    assert all(caption.read_slots(c, 2) == [tuple(s) for s in slots]
               for c, slots in zip(job.validation.captions, job.validation.slots.tolist()))
    _, result = run.train(config, tmp_path / "run")
    metrics = result.report["metrics"]
    assert {"test_bleu", "test_exact", "test_digit_1", "test_motion_2", "test_slot_accuracy"} <= set(metrics)
    assert set(result.report["baselines"]["metrics"]) == {"most frequent caption",
                                                          "slot classifiers (no language model)"}
    assert (tmp_path / "run" / "captions.tsv").exists()


@pytest.mark.slow
def test_caption_from_the_command_line(tmp_path, capsys):
    config = run.resolve_config({"task": "video_caption", **video_caption_config(tmp_path),
                                 "train": {"steps": 4, "eval_every": 2, "batch_size": 4, "progress": False}})
    run.train(config, tmp_path / "run")
    capsys.readouterr()
    assert main(["caption", str(tmp_path / "run"), "--clip", str(tmp_path / "clips" / "c0"),
                 "--clip", str(tmp_path / "clips" / "c1"), "--beam", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(str(tmp_path / "clips" / "c0") + "\t")
    assert main(["caption", str(tmp_path / "run")]) == 2
    assert "expected at least one clip" in capsys.readouterr().err


def test_every_kth_frame_keeps_frames_0_k_2k_and_counts_them():
    clips = np.arange(3 * 5, dtype=np.float32).reshape(3, 5, 1, 1, 1)
    read, lengths = caption.every_kth_frame(clips, np.array([5, 4, 1]), 2)
    assert read[:, :, 0, 0, 0].tolist() == [[0, 2, 4], [5, 7, 9], [10, 12, 14]]
    assert lengths.tolist() == [3, 2, 1]  # frames 0, 2, 4 / 0, 2 / 0
    with pytest.raises(ValueError, match="data.frame_step: expected a positive int, got 0"):
        run.resolve_config({"task": "video_caption", "data": {"frame_step": 0}})
