"""The speech front end against librosa and python_speech_features on the same audio; WAV
files; transcript folders."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.data.audio import (FeatureConfig, deltas, features_of, log_mel, mel_filterbank, read_transcripts,
                               read_wav, write_wav)


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
