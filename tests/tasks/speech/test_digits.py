"""The spoken digits (espeak-ng voices, sox noise): noise at the asked SNR, whole speakers held
out, the synthesized set and its cache."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data.audio import read_transcripts, read_wav
from rnnkit.tasks.speech.digits import VARIANTS, DigitsConfig, add_noise, speaker_parts, synthesize_digits


def chirp(seconds: float = 0.5, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * (200 + 3000 * t) * t)).astype(np.float32)


def test_noise_at_the_asked_snr() -> None:
    rng = np.random.default_rng(0)
    speech = chirp()
    noise = rng.normal(size=40000).astype(np.float32)
    for snr in (20.0, 10.0, 0.0):
        noisy = add_noise(speech, noise, snr, np.random.default_rng(3))
        added = noisy - speech
        assert 10 * math.log10(np.mean(speech ** 2) / np.mean(added ** 2)) == pytest.approx(snr, abs=1e-4)


def test_digit_speakers_are_held_out() -> None:
    parts = speaker_parts(DigitsConfig())
    assert set(parts) == set(VARIANTS) and parts == speaker_parts(DigitsConfig())
    counts = {p: sum(1 for v in parts.values() if v == p) for p in ("train", "val", "test")}
    assert counts == {"train": len(VARIANTS) - 9 - 5, "val": 5, "test": 9}


def test_synthesized_digits(tmp_path: Path) -> None:
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox are not installed (apt-get install espeak-ng sox)")
    config = DigitsConfig(train=6, validation=2, test=3, test_snrs=["clean", "20"], seed=5)
    folder = synthesize_digits(config, tmp_path / "digits", progress=False)
    t = read_transcripts(folder)
    assert len(t) == 6 + (2 + 3) * 2 and t.parts.count("train") == 6 and t.parts.count("test") == 6
    speakers = {p: {s for s, q in zip(t.speakers, t.parts) if q == p} for p in ("train", "val", "test")}
    assert not speakers["train"] & speakers["test"] and not speakers["train"] & speakers["val"]
    assert all(set(text.split()) <= {"zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight",
                                     "nine"} for text in t.texts)
    rows = [(p, c) for p, c, q in zip(t.paths, t.conditions, t.parts) if q == "test"][:2]
    clean, noisy = read_wav(rows[0][0]), read_wav(rows[1][0])
    assert rows[0][1] == "clean" and rows[1][1] == "20" and len(clean) == len(noisy) > 1600
    snr = 10 * math.log10(np.mean(clean ** 2) / np.mean((noisy - clean) ** 2))
    assert snr == pytest.approx(20, abs=0.5)  # up to 16-bit rounding
    assert synthesize_digits(config, tmp_path / "digits") == folder  # cached
