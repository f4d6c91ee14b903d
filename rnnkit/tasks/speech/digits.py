"""Spoken digit strings synthesized with espeak-ng, noise from sox: a speech recognition set
that installs from Debian's packages (``apt-get install espeak-ng sox``) and holds whole speakers
out.

Each utterance says one to seven digits ("zero" or "oh" for 0) in one of espeak-ng's English
accents (``ACCENTS``) and voice variants (``VARIANTS``, the "speakers": a variant changes the
voice's pitch, formants and timbre), at a random speed (words per minute) and pitch. Variants
are split between train, validation and test (seeded), so test speakers are never heard in
training. Noise: sox synthesizes white, pink and brown noise once; each noisy utterance adds a
seeded random stretch of one, scaled to the exact SNR over the utterance's power. Training
utterances draw their condition from ``train_snrs``; every test and validation utterance is
written once per condition of ``test_snrs`` (``clean`` is no noise), so the error rate per SNR
is of the same sentences and speakers.

The set is cached in ``$RNNKIT_CACHE/digits/<hash of the settings>/``: WAVs (16 kHz, 16-bit
mono) and ``transcripts.csv`` (path, text, speaker, accent, speed, pitch, condition, part),
built in a temporary folder that is renamed when complete.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rnnkit.data.audio import write_transcripts, write_wav

ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "croak", "klatt",
            "klatt2", "klatt3", "klatt4", "adam", "Alex", "Andy", "Annie", "aunty", "belinda", "benjamin", "boris",
            "caleb", "david", "ed", "edward", "grandma", "grandpa", "john", "linda", "max", "michel", "norbert",
            "paul", "quincy", "rob", "robert", "shelby", "steph", "travis", "victor", "zac")
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
NOISES = ("white", "pink", "brown")


@dataclass
class DigitsConfig:
    train: int = 4000  # utterances
    validation: int = 300  # sentences (each written once per test condition)
    test: int = 600
    test_speakers: float = 0.2  # fraction of the voice variants held out for test
    validation_speakers: float = 0.1
    min_digits: int = 1
    max_digits: int = 7
    speeds: list[int] = field(default_factory=lambda: [120, 240])  # words per minute, uniform in [low, high]
    pitches: list[int] = field(default_factory=lambda: [20, 80])  # espeak-ng's 0-99
    train_snrs: list[str] = field(default_factory=lambda: ["clean", "30", "20", "15", "10"])  # dB, or clean
    test_snrs: list[str] = field(default_factory=lambda: ["clean", "20", "10"])
    sample_rate: int = 16000
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.train, self.validation, self.test) < 1:
            raise ValueError(f"digits: expected at least one train / validation / test utterance, got {self.train}, "
                             f"{self.validation}, {self.test}")
        if not 1 <= self.min_digits <= self.max_digits:
            raise ValueError(f"digits: expected 1 <= min_digits <= max_digits, got {self.min_digits}, "
                             f"{self.max_digits}")
        if not (0 < self.test_speakers < 1 and 0 < self.validation_speakers < 1
                and self.test_speakers + self.validation_speakers < 1):
            raise ValueError("digits: expected test_speakers and validation_speakers in (0, 1) with sum < 1, got "
                             f"{self.test_speakers}, {self.validation_speakers}")
        for name in ("speeds", "pitches"):
            low_high = getattr(self, name)
            if len(low_high) != 2 or low_high[0] > low_high[1]:
                raise ValueError(f"digits.{name}: expected [low, high], got {low_high}")
        for snr in self.train_snrs + self.test_snrs:
            if snr != "clean":
                float(snr)  # a clear ValueError for a typo


def speaker_parts(config: DigitsConfig) -> dict[str, str]:
    """Voice variant -> ``train`` / ``val`` / ``test``, seeded."""
    order = np.random.default_rng(config.seed).permutation(len(VARIANTS))
    n_test = max(1, round(config.test_speakers * len(VARIANTS)))
    n_val = max(1, round(config.validation_speakers * len(VARIANTS)))
    return {VARIANTS[i]: "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
            for rank, i in enumerate(order)}


def say(text: str, voice: str, speed: int, pitch: int, sample_rate: int) -> np.ndarray:
    """espeak-ng's speech for ``text`` resampled by sox to ``sample_rate`` (16-bit mono), as float32."""
    try:
        speech = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
                                capture_output=True, check=True).stdout
        converted = subprocess.run(["sox", "-t", "wav", "-", "-r", str(sample_rate), "-c", "1", "-b", "16", "-t",
                                    "wav", "-"], input=speech, capture_output=True, check=True).stdout
    except subprocess.CalledProcessError as error:
        raise RuntimeError(f"{error.cmd[0]} failed for voice {voice!r} saying {text!r}: "
                           f"{error.stderr.decode(errors='replace').strip()[:200]}") from None
    with wave.open(io.BytesIO(converted)) as handle:
        raw = handle.readframes(handle.getnframes())
    return np.frombuffer(raw, "<i2").astype(np.float32) / 32768


def noise_bank(sample_rate: int, seconds: int = 30) -> dict[str, np.ndarray]:
    """sox's white, pink and brown noise, ``seconds`` long each."""
    bank = {}
    for kind in NOISES:
        out = subprocess.run(["sox", "-R", "-n", "-r", str(sample_rate), "-c", "1", "-b", "16", "-t", "wav", "-",
                              "synth", str(seconds), f"{kind}noise"], capture_output=True, check=True).stdout
        with wave.open(io.BytesIO(out)) as handle:
            bank[kind] = np.frombuffer(handle.readframes(handle.getnframes()), "<i2").astype(np.float32) / 32768
    return bank


def add_noise(speech: np.ndarray, noise: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """``speech`` plus a random stretch of ``noise`` scaled so that power(speech) / power(noise)
    is ``snr_db`` decibels."""
    if not np.any(speech):
        return speech
    start = int(rng.integers(0, len(noise) - len(speech))) if len(noise) > len(speech) else 0
    stretch = np.resize(noise[start:], len(speech))
    gain = np.sqrt(np.mean(speech ** 2) / (np.mean(stretch ** 2) * 10 ** (snr_db / 10)))
    return speech + gain * stretch


def digits_folder(config: DigitsConfig) -> Path:
    from rnnkit.data.text import cache_dir

    key = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode()).hexdigest()[:12]
    return cache_dir() / "digits" / key


def synthesize_digits(config: DigitsConfig, folder: str | Path | None = None, progress: bool = True) -> Path:
    """The folder of the digit set for ``config`` (made once; see the module docstring)."""
    folder = Path(folder) if folder is not None else digits_folder(config)
    if (folder / "transcripts.csv").exists():
        return folder
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(f"the spoken digits need {' and '.join(missing)}: apt-get install espeak-ng sox (or "
                           f"give your own recordings with data.path)")
    rng = np.random.default_rng(config.seed)
    parts = speaker_parts(config)
    speakers = {part: [v for v in VARIANTS if parts[v] == part] for part in ("train", "val", "test")}
    plans = []  # (part, text, variant, accent, speed, pitch, conditions)
    for part, count in (("train", config.train), ("val", config.validation), ("test", config.test)):
        for _ in range(count):
            length = int(rng.integers(config.min_digits, config.max_digits + 1))
            words = [("oh" if rng.random() < 0.5 else "zero") if d == 0 else DIGITS[d]
                     for d in rng.integers(0, 10, length)]
            conditions = ([config.train_snrs[int(rng.integers(len(config.train_snrs)))]] if part == "train"
                          else list(config.test_snrs))
            plans.append((part, " ".join(words), speakers[part][int(rng.integers(len(speakers[part])))],
                          ACCENTS[int(rng.integers(len(ACCENTS)))],
                          int(rng.integers(config.speeds[0], config.speeds[1] + 1)),
                          int(rng.integers(config.pitches[0], config.pitches[1] + 1)), conditions))
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "wav").mkdir(parents=True)
    bank = noise_bank(config.sample_rate)
    noise_rng = np.random.default_rng(config.seed + 1)
    noise_choices = [(NOISES[int(noise_rng.integers(len(NOISES)))], int(noise_rng.integers(2 ** 31)))
                     for plan in plans for _ in plan[6]]

    def speak(plan: tuple) -> np.ndarray:
        _, text, variant, accent, speed, pitch, _ = plan
        return say(text, f"{accent}+{variant}", speed, pitch, config.sample_rate)

    from tqdm import tqdm

    rows = []
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        voices = pool.map(speak, plans)
        choice = iter(noise_choices)
        for number, (plan, speech) in enumerate(tqdm(zip(plans, voices), total=len(plans), disable=not progress,
                                                     desc="synthesizing spoken digits (once)", unit="utt")):
            part, text, variant, accent, speed, pitch, conditions = plan
            for condition in conditions:
                kind, seed = next(choice)
                audio = speech if condition == "clean" else add_noise(
                    speech, bank[kind], float(condition), np.random.default_rng(seed))
                name = f"wav/{part}-{number:05d}-{condition}.wav"
                write_wav(partial / name, audio, config.sample_rate)
                rows.append({"path": name, "text": text, "speaker": variant, "accent": accent, "speed": speed,
                             "pitch": pitch, "condition": condition, "noise": "" if condition == "clean" else kind,
                             "part": part})
    write_transcripts(partial / "transcripts.csv", rows)
    (partial / "settings.json").write_text(json.dumps(asdict(config), indent=1))
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial.replace(folder)
    return folder
