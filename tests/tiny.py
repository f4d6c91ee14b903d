"""Small generated data sets and tiny configs for every task: the tests that need a real run of
each application (the protocol, the command line) build them from here."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SMALL = {"hidden_size": 8}


def forecast_config(folder: Path) -> dict:
    t = np.arange(120)
    pd.DataFrame({"y": 10 + np.sin(2 * np.pi * t / 12)}).to_csv(folder / "series.csv", index=False)
    return {"data": {"name": None, "path": str(folder / "series.csv"), "window": 12, "horizon": 3, "test_size": 12,
                     "validation_size": 9, "stride": 3},
            "model": {"recurrent": SMALL}}


def anomaly_config(folder: Path) -> dict:
    t = np.arange(400)
    label = np.zeros(400, dtype=int)
    values = np.sin(t / 4.0)
    for start in (200, 330):  # one anomaly in validation, one in test
        values[start : start + 3] += 3
        label[start : start + 3] = 1
    pd.DataFrame({"a": values, "label": label}).to_csv(folder / "sensors.csv", index=False)
    return {"data": {"name": None, "path": str(folder / "sensors.csv"), "label_column": "label",
                     "fit_fraction": 0.4, "validation_fraction": 0.3},
            "model": {"window": 10, "recurrent": SMALL}}


def classify_config(folder: Path) -> dict:
    from rnnkit.data.sequences import SequenceSet, save_npz

    rng = np.random.default_rng(0)
    for name, n in (("train", 24), ("test", 8)):
        sequences = [rng.normal(size=(int(rng.integers(5, 9)), 2)).astype(np.float32) for _ in range(n)]
        save_npz(SequenceSet(sequences, np.array(["a", "b"] * (n // 2))), folder / f"{name}.npz")
    return {"data": {"name": None, "path": str(folder / "train.npz"), "test_path": str(folder / "test.npz"),
                     "validation_fraction": 0.25},
            "model": {"recurrent": SMALL}}


def language_config(folder: Path) -> dict:
    (folder / "text.txt").write_text("the cat sat on the mat. " * 60)
    return {"data": {"name": None, "path": str(folder / "text.txt"), "bptt": 8, "eval_batch_size": 2},
            "model": {"recurrent": {**SMALL, "num_layers": 1}, "embedding_size": 8}, "sample_length": 5}


def sentiment_config(folder: Path) -> dict:
    with open(folder / "texts.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(60):
            writer.writerow([f"{'good fine' if i % 2 else 'bad awful'} film number {i}", "pos" if i % 2 else "neg"])
    return {"data": {"name": None, "path": str(folder / "texts.csv")},
            "model": {"recurrent": SMALL, "embedding_size": 8}}


def music_config(folder: Path) -> dict:
    pytest.importorskip("mido")
    from rnnkit.data.music import write_midi

    (folder / "midi").mkdir()
    for i in range(10):
        roll = np.zeros((8, 88), dtype=np.uint8)
        roll[np.arange(8), 39 + (np.arange(8) + i) % 5] = 1
        write_midi(roll, folder / "midi" / f"p{i}.mid")
    return {"data": {"name": None, "path": str(folder / "midi"), "validation_fraction": 0.2, "test_fraction": 0.2},
            "model": {"recurrent": SMALL}, "sample_length": 4}


def translate_config(folder: Path) -> dict:
    pytest.importorskip("jiwer")
    words = [f"{a}{b}" for a in "abcdef" for b in "ghijk"]
    (folder / "pairs.tsv").write_text("".join(f"{w}\t{' '.join(w.upper())}\n" for w in words))
    return {"data": {"name": None, "path": str(folder / "pairs.tsv"), "validation_fraction": 0.2,
                     "test_fraction": 0.2, "eval_size": 5},
            "model": {"recurrent": {**SMALL, "num_layers": 1}, "embedding_size": 8},
            "metric": "g2p", "beam": 2, "max_output": 6}


def speech_config(folder: Path) -> dict:
    pytest.importorskip("jiwer")
    from rnnkit.data.audio import write_wav

    rng = np.random.default_rng(0)
    rows = ["path,text,speaker"]
    for s in range(6):
        for u in range(3):
            tone = np.sin(2 * np.pi * (300 + 200 * u) * np.arange(2400) / 8000) * 0.3
            write_wav(folder / f"s{s}u{u}.wav", (tone + rng.normal(0, 0.01, 2400)).astype(np.float32), 8000)
            rows.append(f"s{s}u{u}.wav,{['lo', 'mid', 'hi'][u]},speaker{s}")
    (folder / "transcripts.csv").write_text("\n".join(rows) + "\n")
    return {"data": {"name": None, "path": str(folder), "validation_fraction": 0.2, "test_fraction": 0.2},
            "features": {"sample_rate": 8000, "n_mels": 8},
            "model": {"recurrent": {**SMALL, "num_layers": 1}}, "beam": 2}


def video_prediction_config(folder: Path) -> dict:
    pytest.importorskip("skimage")
    from PIL import Image

    for clip in range(6):  # a bright square moving right, one pixel a frame, from a different start each clip
        (folder / "clips" / f"c{clip}").mkdir(parents=True)
        for t in range(8):
            frame = np.zeros((8, 8), dtype=np.uint8)
            frame[2:5, (clip + t) % 6:(clip + t) % 6 + 3] = 255
            Image.fromarray(frame).save(folder / "clips" / f"c{clip}" / f"{t}.png")
    return {"data": {"name": None, "path": str(folder / "clips"), "size": 8, "input_frames": 3, "output_frames": 2,
                     "validation_fraction": 0.2, "test_fraction": 0.2},
            "model": {"hidden_channels": [4], "kernel_size": 3, "patch": 2}, "rollout": 4, "examples": 1}


def video_action_config(folder: Path) -> dict:
    pytest.importorskip("sklearn")
    from PIL import Image

    rows = ["clip,label"]
    for clip in range(12):  # a bright bar moving right or left, 4 to 6 frames
        label = "right" if clip % 2 else "left"
        (folder / "clips" / f"c{clip}").mkdir(parents=True)
        for t in range(4 + clip % 3):
            frame = np.zeros((8, 8), dtype=np.uint8)
            column = 1 + t if label == "right" else 6 - t
            frame[:, column] = 255
            Image.fromarray(frame).save(folder / "clips" / f"c{clip}" / f"{t}.png")
        rows.append(f"c{clip},{label}")
    (folder / "clips" / "labels.csv").write_text("\n".join(rows) + "\n")
    return {"data": {"name": None, "path": str(folder / "clips"), "size": 8, "validation_fraction": 0.25,
                     "test_fraction": 0.25},
            "model": {"cnn_channels": [4], "hidden_size": 8}}


def video_caption_config(folder: Path) -> dict:
    pytest.importorskip("sacrebleu")
    from PIL import Image

    rows = ["clip,caption"]
    for clip in range(10):  # a bar moving right or left, described
        right = clip % 2 == 1
        (folder / "clips" / f"c{clip}").mkdir(parents=True)
        for t in range(4 + clip % 2):
            frame = np.zeros((8, 8), dtype=np.uint8)
            frame[:, 1 + t if right else 6 - t] = 255
            Image.fromarray(frame).save(folder / "clips" / f"c{clip}" / f"{t}.png")
        rows.append(f"c{clip},a bar moves {'right' if right else 'left'}")
    (folder / "clips" / "captions.csv").write_text("\n".join(rows) + "\n")
    return {"data": {"name": None, "path": str(folder / "clips"), "size": 8, "validation_fraction": 0.2,
                     "test_fraction": 0.2},
            "model": {"cnn_channels": [4], "seq2seq": {"recurrent": {"hidden_size": 8}, "embedding_size": 8}},
            "beam": 2, "max_output": 6, "eval_size": 4}


CONFIGS = {
    "adding": lambda folder: {"data": {"length": 6, "validation_size": 16, "test_size": 16},
                              "model": {"recurrent": SMALL}},
    "copy": lambda folder: {"data": {"length": 4, "validation_size": 16, "test_size": 16},
                            "model": {"recurrent": SMALL}},
    "forecast": forecast_config,
    "anomaly": anomaly_config,
    "classify": classify_config,
    "language": language_config,
    "sentiment": sentiment_config,
    "music": music_config,
    "translate": translate_config,
    "speech": speech_config,
    "video_action": video_action_config,
    "video_caption": video_caption_config,
    "video_prediction": video_prediction_config,
}
