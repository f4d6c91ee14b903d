"""The speech front end against librosa and python_speech_features on the same audio; WAV
files; transcript folders; the synthesized digit set."""

from __future__ import annotations

import math
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.data.audio import (FeatureConfig, deltas, features_of, log_mel, mel_filterbank, read_transcripts,
                               read_wav, write_wav)
from rnnkit.data.digits import VARIANTS, DigitsConfig, add_noise, speaker_parts, synthesize_digits


def chirp(seconds: float = 0.73, rate: int = 16000, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(seed).normal(0, 0.05, len(t))
    return (0.5 * np.sin(2 * np.pi * (200 + 3000 * t) * t) + noise).astype(np.float32)


@pytest.mark.parametrize("scale", ["slaney", "htk"])
def test_mel_filterbank_equals_librosa(scale: str) -> None:
    librosa = pytest.importorskip("librosa")
    ours = mel_filterbank(16000, 512, 40, 20.0, 7600.0, scale).numpy()
    theirs = librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, fmin=20.0, fmax=7600.0, htk=scale == "htk",
                                 norm="slaney" if scale == "slaney" else None)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-7)


def test_log_mel_equals_librosa() -> None:
    librosa = pytest.importorskip("librosa")
    y = chirp()
    config = FeatureConfig(sample_rate=16000, n_mels=40, frame_ms=25, hop_ms=10)
    ours = log_mel(torch.from_numpy(y), config).numpy()
    mel = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, hop_length=160, win_length=400, window="hann",
                                         center=True, pad_mode="constant", power=2.0, n_mels=40)
    assert ours.shape == (1 + len(y) // 160, 40) == mel.T.shape
    np.testing.assert_allclose(ours, np.log(mel.T + 1e-6), atol=2e-3)


def test_deltas_equal_python_speech_features() -> None:
    psf = pytest.importorskip("python_speech_features")
    features = np.random.default_rng(1).normal(size=(23, 5))
    for width in (1, 2, 3):
        ours = deltas(torch.from_numpy(features), width).numpy()
        np.testing.assert_allclose(ours, psf.delta(features, width), atol=1e-12)


def test_features_stack_deltas_and_normalize() -> None:
    config = FeatureConfig(n_mels=20, deltas=2)
    out = features_of(torch.from_numpy(chirp()), config)
    assert out.shape == (1 + int(0.73 * 16000) // 160, 60) and config.size == 60
    torch.testing.assert_close(out.mean(0), torch.zeros(60), atol=1e-4, rtol=0)
    torch.testing.assert_close(out.std(0, unbiased=False), torch.ones(60), atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="features.deltas: expected 0, 1 or 2, got 3"):
        FeatureConfig(deltas=3)
    with pytest.raises(ValueError, match=r"waveform: expected a non-empty \(N,\) tensor"):
        log_mel(torch.zeros(0), config)


def test_wav_round_trip_formats_and_resampling(tmp_path: Path) -> None:
    y = chirp(0.2)
    back = read_wav(write_wav(tmp_path / "a.wav", y, 16000))
    np.testing.assert_allclose(back, y, atol=2 / 32767)  # 16-bit quantization (written x 32767, read / 32768)
    t = np.arange(8000) / 8000
    stereo = np.stack([np.sin(2 * np.pi * 440 * t)] * 2, axis=1) * 0.5
    with wave.open(str(tmp_path / "stereo8k.wav"), "wb") as handle:  # 8 kHz, two channels, 32-bit
        handle.setnchannels(2)
        handle.setsampwidth(4)
        handle.setframerate(8000)
        handle.writeframes((stereo * 2 ** 31).astype("<i4").tobytes())
    mono = read_wav(tmp_path / "stereo8k.wav")
    np.testing.assert_allclose(mono, stereo[:, 0], atol=1e-6)
    pytest.importorskip("scipy")
    upsampled = read_wav(tmp_path / "stereo8k.wav", sample_rate=16000)
    assert len(upsampled) == 16000
    peak = np.argmax(np.abs(np.fft.rfft(upsampled))) * 16000 / len(upsampled)
    assert peak == pytest.approx(440, abs=1)
    (tmp_path / "bad.wav").write_bytes(b"RIFF nonsense")
    with pytest.raises(ValueError, match="expected a PCM WAV file"):
        read_wav(tmp_path / "bad.wav")


def test_read_transcripts(tmp_path: Path) -> None:
    write_wav(tmp_path / "x.wav", chirp(0.1), 16000)
    (tmp_path / "transcripts.csv").write_text("path,text,speaker\nx.wav, one two ,ann\n")
    t = read_transcripts(tmp_path)
    assert t.paths == [tmp_path / "x.wav"] and t.texts == ["one two"] and t.speakers == ["ann"]
    assert t.conditions is None and t.parts is None
    (tmp_path / "other.csv").write_text("file,words\nx.wav,one\n")
    with pytest.raises(ValueError, match=r"expected columns \['path', 'text'\]"):
        read_transcripts(tmp_path / "other.csv")
    assert read_transcripts(tmp_path / "other.csv", "file", "words").texts == ["one"]
    (tmp_path / "parts.csv").write_text("path,text,part\nx.wav,one,training\n")
    with pytest.raises(ValueError, match="expected train, val or test, got \\['training'\\]"):
        read_transcripts(tmp_path / "parts.csv")


def test_noise_at_the_asked_snr() -> None:
    rng = np.random.default_rng(0)
    speech = chirp(0.5)
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
