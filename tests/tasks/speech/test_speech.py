"""The CTC speech task end to end on generated "speech" (each word a tone with harmonics, each
speaker its own pitch), with `rnnkit transcribe`; error rates by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli.main import main
from rnnkit.data.audio import write_wav
from rnnkit.tasks import speech
from rnnkit.tasks.core import run

pytest.importorskip("jiwer")
WORDS = {"lo": 300.0, "mid": 800.0, "hi": 1900.0}


def say(words: list[str], pitch: float, rng: np.random.Generator, rate: int = 8000) -> np.ndarray:
    pieces = [np.zeros(int(rate * rng.uniform(0.03, 0.08)))]
    for word in words:
        t = np.arange(int(rate * rng.uniform(0.12, 0.2))) / rate
        f = WORDS[word] * pitch
        tone = np.sin(2 * np.pi * f * t) + 0.4 * np.sin(4 * np.pi * f * t)
        pieces += [0.4 * tone * np.hanning(len(t)), np.zeros(int(rate * rng.uniform(0.04, 0.1)))]
    audio = np.concatenate(pieces)
    return (audio + rng.normal(0, 0.01, len(audio))).astype(np.float32)


def write_recordings(folder: Path, speakers: int = 8, per_speaker: int = 14, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["path,text,speaker"]
    for s in range(speakers):
        pitch = rng.uniform(0.9, 1.1)
        for u in range(per_speaker):
            words = list(rng.choice(list(WORDS), size=int(rng.integers(1, 4))))
            write_wav(folder / f"s{s}-{u}.wav", say(words, pitch, rng), 8000)
            rows.append(f"s{s}-{u}.wav,{' '.join(words)},speaker{s}")
    (folder / "transcripts.csv").write_text("\n".join(rows) + "\n")
    return folder


def config_for(folder: Path, **train) -> object:
    data = {"name": None, "path": str(folder), "validation_fraction": 0.25, "test_fraction": 0.25, "seed": 1}
    return run.resolve_config({
        "task": "speech", "data": data,
        "features": {"sample_rate": 8000, "n_mels": 16, "frame_ms": 25, "hop_ms": 10},
        "model": {"recurrent": {"cell": "gru", "hidden_size": 32, "num_layers": 1, "bidirectional": True}, "subsample": 2,
                  "spec_augment": True, "freq_masks": 1, "freq_width": 2, "time_masks": 1, "time_width": 0.05},
        "train": {"steps": 250, "batch_size": 16, "eval_every": 125, "progress": False, "seed": 0,
                  "optimizer": {"name": "adam", "lr": 0.01}, **train},
        "beam": 4,
    }, [])


def test_error_rates_by_hand() -> None:
    scores = speech.error_rates(["one two three", "four five", "six"], ["one too three", "four five", ""])
    assert scores["wer"] == pytest.approx((1 + 0 + 1) / 6)
    assert scores["ser"] == pytest.approx(2 / 3)
    assert speech.error_rates(["One"], ["one"])["wer"] == 0  # references lowercased like the labels


@pytest.mark.slow
def test_speech_end_to_end_and_transcribe(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = write_recordings(tmp_path / "recordings")
    config = config_for(folder)
    run_dir, result = run.train(config, tmp_path / "run")
    metrics = result.report["metrics"]
    assert metrics["test_wer"] < 0.15, metrics  # tones of three pitches: learnt, on unseen speakers
    assert set(metrics) == {"test_wer", "test_ser"}  # no condition column
    assert (run_dir / "predictions.csv").exists() and (run_dir / "labels.json").exists()
    assert (run_dir / "posteriors.png").exists()
    test_speakers = {line.split(",")[1] for line in (run_dir / "predictions.csv").read_text().splitlines()[1:]}
    assert len(test_speakers) == 2  # whole speakers held out
    wavs = [str(folder / "s0-0.wav"), str(folder / "s7-3.wav")]
    assert main(["transcribe", str(run_dir), *wavs, "--beam", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    model, labels, loaded = speech.load_transcriber(run_dir)
    expected = speech.transcribe_files(model, labels, loaded, wavs, beam=1)
    assert lines == [f"{w}\t{t}" for w, t in zip(wavs, expected)]
    assert all(set(t.split()) <= set(WORDS) for t in expected)


def test_speech_conditions_and_parts_columns(tmp_path: Path) -> None:
    folder = write_recordings(tmp_path / "recordings", speakers=3, per_speaker=6)
    lines = (folder / "transcripts.csv").read_text().splitlines()
    rows = [lines[0] + ",condition,part"]
    for i, line in enumerate(lines[1:]):
        rows.append(line + f",{'clean' if i % 2 else 'noisy'},{['train', 'val', 'test'][i % 3]}")
    (folder / "transcripts.csv").write_text("\n".join(rows) + "\n")
    run_dir, result = run.train(config_for(folder, steps=4, eval_every=2), tmp_path / "run")
    assert {"test_wer_clean", "test_wer_noisy", "test_ser_clean", "test_ser_noisy"} <= set(result.report["metrics"])
    (run_dir / "labels.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"no labels.json \(a run writes it when it starts\): it was removed"):
        speech.load_transcriber(run_dir)
    from rnnkit.tasks import translate

    with pytest.raises(ValueError, match="expected a translate \\(sequence to sequence\\) run, got task 'speech'"):
        translate.load_translator(run_dir)


def test_speech_errors(tmp_path: Path) -> None:
    folder = write_recordings(tmp_path / "recordings", speakers=2, per_speaker=2)
    with pytest.raises(ValueError, match="no val / test utterances"):
        run.train(config_for(folder), tmp_path / "run")
    with pytest.raises(ValueError, match="expected a width >= 1, got 0"):
        run.resolve_config({"task": "speech", "beam": 0}, [])
    with pytest.raises(ValueError, match="model.subsample: expected frames per step >= 1, got 0"):
        run.resolve_config({"task": "speech", "model": {"subsample": 0}}, [])


@pytest.mark.slow
def test_spoken_digits_preset_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox are not installed (apt-get install espeak-ng sox)")
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    from rnnkit.config import load_source

    tiny = ["data.digits.train=8", "data.digits.validation=2", "data.digits.test=3", "train.steps=3",
            "train.eval_every=3", "train.progress=false", "model.recurrent.hidden_size=16",
            "model.recurrent.num_layers=1", "model.recurrent.dropout=0"]
    config = run.resolve_config(load_source("speech-digits"), tiny)
    _, result = run.train(config, tmp_path / "run")  # synthesizes the set first (the task's prepare)
    metrics = result.report["metrics"]
    assert {"test_wer_clean", "test_wer_20", "test_wer_10", "test_ser_clean"} <= set(metrics)
    assert list((tmp_path / "cache" / "digits").iterdir())  # cached where RNNKIT_CACHE says
