"""Audio for speech recognition: WAV files in and out, the log-mel filterbank front end, and
transcribed folders (a CSV of file names and texts).

Front end (what Kaldi, librosa and torchaudio compute, written on ``torch.stft`` so it runs on
any device): frames of ``frame_ms`` every ``hop_ms`` under a periodic Hann window, centred
(zero-padded by half an FFT at both ends), power spectrum, ``n_mels`` triangular mel filters
(Slaney's mel scale and area normalisation, librosa's default; or HTK's), natural log. Deltas
are the regression of HTK and python_speech_features over ``±width`` frames, edges repeated.
Tests hold :func:`mel_filterbank`/:func:`log_mel` equal to librosa and :func:`deltas` to
python_speech_features on the same audio.

Shapes: a waveform is ``(N,)`` samples in [-1, 1]; features are time-major ``(T, F)``.
"""

from __future__ import annotations

import csv
import math
import struct
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch
from torch import Tensor

from rnnkit.extras import require
from rnnkit.files import atomic_open, input_file, read_csv_records


MIN_RATE, MAX_RATE = 1000, 768_000  # Hz: telephone speech to studio audio; outside, a damaged header


def read_wav(path: str | Path, sample_rate: int | None = None) -> np.ndarray:
    """The samples of a PCM WAV file as float32 in [-1, 1] (channels averaged), resampled to
    ``sample_rate`` when given and different (with scipy's polyphase filter)."""
    path = input_file(path, "a PCM WAV file")
    try:
        with wave.open(str(path), "rb") as handle:
            width, channels, rate = handle.getsampwidth(), handle.getnchannels(), handle.getframerate()
            frames = handle.getnframes()
            raw = handle.readframes(frames)
    except (wave.Error, EOFError, struct.error, ValueError) as error:
        raise ValueError(f"{path}: expected a PCM WAV file ({error or type(error).__name__})") from None
    if not MIN_RATE <= rate <= MAX_RATE:
        raise ValueError(f"{path}: a sample rate of {rate} Hz; expected {MIN_RATE} to {MAX_RATE} Hz")
    if channels < 1 or frames < 1:
        raise ValueError(f"{path}: {frames} frames of {channels} channel(s); expected audio")
    if len(raw) < frames * width * channels:
        raise ValueError(f"{path}: truncated: its header says {frames} frames, the file holds "
                         f"{len(raw) // (width * channels)}")
    if width == 1:
        samples = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128) / 128
    elif width in (2, 4):
        kind = np.int16 if width == 2 else np.int32
        samples = np.frombuffer(raw, kind).astype(np.float32) / float(2 ** (8 * width - 1))
    elif width == 3:
        bytes_ = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        values = bytes_[:, 0] | (bytes_[:, 1] << 8) | (bytes_[:, 2] << 16)
        samples = (np.where(values >= 2 ** 23, values - 2 ** 24, values) / 2 ** 23).astype(np.float32)
    else:
        raise ValueError(f"{path}: expected 8-, 16-, 24- or 32-bit PCM samples, got {8 * width}-bit")
    samples = samples.reshape(-1, channels).mean(axis=1)
    if sample_rate is not None and rate != sample_rate:
        resample_poly = require("scipy.signal", f"{path}: sampled at {rate} Hz, expected {sample_rate} Hz; "
                                f"resampling (or convert the file: sox in.wav -r {sample_rate} out.wav)").resample_poly
        divisor = math.gcd(rate, sample_rate)
        samples = resample_poly(samples, sample_rate // divisor, rate // divisor).astype(np.float32)
    return samples


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> Path:
    """16-bit PCM mono, clipped to [-1, 1]; written to a temporary name and renamed."""
    path = Path(path)
    pcm = (np.clip(samples, -1, 1) * 32767).round().astype("<i2")
    with atomic_open(path, "wb") as file, wave.open(file, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(pcm.tobytes())
    return path


def hz_to_mel(hz: Tensor, scale: Literal["slaney", "htk"] = "slaney") -> Tensor:
    if scale == "htk":
        return 2595.0 * torch.log10(1.0 + hz / 700.0)
    # Slaney: linear below 1 kHz (3 mels per 200 Hz), logarithmic above (27 mels per factor 6.4)
    linear = 3.0 * hz / 200.0
    return torch.where(hz >= 1000.0, 15.0 + torch.log(hz.clamp(min=1e-10) / 1000.0) / (math.log(6.4) / 27.0), linear)


def mel_to_hz(mel: Tensor, scale: Literal["slaney", "htk"] = "slaney") -> Tensor:
    if scale == "htk":
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    return torch.where(mel >= 15.0, 1000.0 * torch.exp((math.log(6.4) / 27.0) * (mel - 15.0)), 200.0 * mel / 3.0)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0, f_max: float | None = None,
                   scale: Literal["slaney", "htk"] = "slaney") -> Tensor:
    """Triangular filters ``(n_mels, n_fft // 2 + 1)`` with centres equally spaced in mels; Slaney's
    area normalisation (each filter scaled by 2 / its width in Hz) for the Slaney scale."""
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"f_min / f_max: expected 0 <= f_min < f_max <= {sample_rate / 2} Hz, got {f_min}, {f_max}")
    dtype = torch.float64
    bins = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=dtype)
    edges = mel_to_hz(torch.linspace(float(hz_to_mel(torch.tensor(f_min, dtype=dtype), scale)),
                                     float(hz_to_mel(torch.tensor(f_max, dtype=dtype), scale)), n_mels + 2,
                                     dtype=dtype), scale)
    widths = edges.diff()  # (n_mels + 1,)
    ramps = edges[:, None] - bins[None, :]  # (n_mels + 2, F)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    filters = torch.clamp(torch.minimum(rising, falling), min=0.0)
    if scale == "slaney":
        filters = filters * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return filters.float()


@dataclass
class FeatureConfig:
    sample_rate: int = 16000
    n_mels: int = 40
    frame_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int | None = None  # default: the next power of two >= the frame
    f_min: float = 0.0
    f_max: float | None = None  # default: half the sample rate
    mel_scale: Literal["slaney", "htk"] = "slaney"
    deltas: int = 0  # 0: log-mels only; 1: + deltas; 2: + deltas and delta-deltas
    delta_width: int = 2
    normalize: bool = True  # per utterance: zero mean, unit variance per feature over time

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.n_mels <= 0 or self.hop_ms <= 0 or self.frame_ms < self.hop_ms:
            raise ValueError(f"features: expected positive sample_rate / n_mels and frame_ms >= hop_ms > 0, got "
                             f"{self.sample_rate}, {self.n_mels}, {self.frame_ms}, {self.hop_ms}")
        if self.deltas not in (0, 1, 2):
            raise ValueError(f"features.deltas: expected 0, 1 or 2, got {self.deltas}")

    @property
    def size(self) -> int:
        return self.n_mels * (1 + self.deltas)

    @property
    def frame_length(self) -> int:
        return round(self.sample_rate * self.frame_ms / 1000)

    @property
    def hop_length(self) -> int:
        return round(self.sample_rate * self.hop_ms / 1000)

    @property
    def fft_size(self) -> int:
        return self.n_fft or 1 << (self.frame_length - 1).bit_length()


def log_mel(waveform: Tensor, config: FeatureConfig, filters: Tensor | None = None, eps: float = 1e-6) -> Tensor:
    """``(N,) -> (T, n_mels)``: log of the mel-filtered power spectrum, ``T = 1 + N // hop``."""
    if waveform.dim() != 1 or waveform.numel() == 0:
        raise ValueError(f"waveform: expected a non-empty (N,) tensor, got shape {tuple(waveform.shape)}")
    n_fft = config.fft_size
    if filters is None:
        filters = mel_filterbank(config.sample_rate, n_fft, config.n_mels, config.f_min, config.f_max,
                                 config.mel_scale)
    window = torch.hann_window(config.frame_length, periodic=True, device=waveform.device, dtype=waveform.dtype)
    spectrum = torch.stft(waveform, n_fft, config.hop_length, config.frame_length, window, center=True,
                          pad_mode="constant", return_complex=True)  # (F, T)
    power = spectrum.real.square() + spectrum.imag.square()
    return torch.log(filters.to(power) @ power + eps).T


def deltas(features: Tensor, width: int = 2) -> Tensor:
    """``(T, F) -> (T, F)``: ``d_t = sum_n n (c_{t+n} - c_{t-n}) / (2 sum_n n^2)``, n = 1..width,
    the first and last frames repeated past the ends."""
    if width < 1:
        raise ValueError(f"delta width: expected >= 1, got {width}")
    padded = torch.cat([features[:1].expand(width, -1), features, features[-1:].expand(width, -1)])
    length = features.shape[0]
    out = sum(n * (padded[width + n : width + n + length] - padded[width - n : width - n + length])
              for n in range(1, width + 1))
    return out / (2 * sum(n * n for n in range(1, width + 1)))


def features_of(waveform: Tensor, config: FeatureConfig, filters: Tensor | None = None) -> Tensor:
    """The front end: log-mels, deltas as ``config.deltas`` asks, per-utterance normalisation;
    ``(N,) -> (T, config.size)``."""
    mels = log_mel(waveform, config, filters)
    parts = [mels]
    for _ in range(config.deltas):
        parts.append(deltas(parts[-1], config.delta_width))
    out = torch.cat(parts, dim=1)
    if config.normalize:
        out = (out - out.mean(0)) / (out.std(0, unbiased=False) + 1e-5)
    return out


@dataclass
class Transcripts:
    """Audio files with their texts and, optionally, a speaker, a condition (e.g. an SNR) and a
    part (train / val / test) each."""

    paths: list[Path]
    texts: list[str]
    speakers: list[str] | None = None
    conditions: list[str] | None = None
    parts: list[str] | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, index: Sequence[int]) -> "Transcripts":
        pick = (lambda values: None if values is None else [values[i] for i in index])
        return Transcripts([self.paths[i] for i in index], [self.texts[i] for i in index], pick(self.speakers),
                           pick(self.conditions), pick(self.parts))


def read_transcripts(path: str | Path, path_column: str = "path", text_column: str = "text",
                     speaker_column: str | None = "speaker", condition_column: str | None = "condition",
                     part_column: str | None = "part") -> Transcripts:
    """A CSV of audio files and their transcripts; ``path`` is the CSV or a folder holding
    ``transcripts.csv``. File paths are relative to the CSV's folder (or absolute). The speaker,
    condition and part columns are used when present (parts: ``train``, ``val``, ``test``)."""
    path = Path(path)
    csv_path = path / "transcripts.csv" if path.is_dir() else path
    if not csv_path.exists():
        raise FileNotFoundError(f"{csv_path}: no such file (expected a CSV with columns {path_column!r} and "
                                f"{text_column!r}, or a folder holding transcripts.csv)")
    rows = read_csv_records(csv_path, "transcripts (CSV with a header row)")[1]
    if not rows:
        raise ValueError(f"{csv_path}: no rows")
    missing = [c for c in (path_column, text_column) if c not in rows[0]]
    if missing:
        raise ValueError(f"{csv_path}: expected columns {missing}, got {list(rows[0])}")
    root = csv_path.parent
    paths = [Path(r[path_column]) if Path(r[path_column]).is_absolute() else root / r[path_column] for r in rows]
    optional = (lambda column: [r[column] for r in rows] if column and column in rows[0] else None)
    parts = optional(part_column)
    if parts is not None and not set(parts) <= {"train", "val", "test"}:
        raise ValueError(f"{csv_path}: column {part_column!r}: expected train, val or test, got "
                         f"{sorted(set(parts) - {'train', 'val', 'test'})[:3]}")
    return Transcripts(paths, [r[text_column].strip() for r in rows], optional(speaker_column),
                       optional(condition_column), parts)


def write_transcripts(path: Path, rows: Sequence[dict[str, object]]) -> Path:
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path
