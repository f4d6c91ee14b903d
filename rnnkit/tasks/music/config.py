"""What a polyphonic-music run can set: the pieces and their parts, the piano roll, the model, training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rnnkit.config import check_one_source
from rnnkit.data.music import HIGH, LOW, Transpose
from rnnkit.models.music import MusicModelConfig
from rnnkit.training import EarlyStoppingConfig, TrainConfig


@dataclass
class MusicDataConfig:
    name: str | None = "chorales"  # music21's Bach chorales, or null and ``path``
    path: str | None = None  # a MIDI / MusicXML file or a folder of them
    step: float = 1.0  # quarter notes per frame (1: the JSB convention)
    low: int = LOW  # the lowest and highest MIDI pitch of the roll (default: the 88 piano keys)
    high: int = HIGH
    transpose: Transpose = "none"  # c: every piece to C major / C minor
    augment: int = 0  # training batches transposed by a random shift in [-augment, augment] semitones
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0  # the split by piece

    def __post_init__(self) -> None:
        check_one_source("data", self.name, self.path)
        if self.name is not None and self.name != "chorales":
            raise ValueError(f"data.name: expected 'chorales' (or null and a path), got {self.name!r}")
        if not 0 <= self.low < self.high <= 127:
            raise ValueError(f"data.low / data.high: expected MIDI pitches 0 <= low < high <= 127, got "
                             f"{self.low} / {self.high}")
        if not 0 < self.validation_fraction < 1 or not 0 < self.test_fraction < 1 \
                or self.validation_fraction + self.test_fraction >= 1:
            raise ValueError(f"data.validation_fraction / test_fraction: expected fractions in (0, 1) with a sum "
                             f"below 1, got {self.validation_fraction}, {self.test_fraction}")
        if self.augment < 0:
            raise ValueError(f"data.augment: expected a number of semitones >= 0, got {self.augment}")


@dataclass
class MusicConfig:
    task: Literal["music"] = "music"
    run_dir: str | None = None
    data: MusicDataConfig = field(default_factory=MusicDataConfig)
    model: MusicModelConfig = field(default_factory=MusicModelConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=100, min_steps=1000, steps=20_000, eval_every=10_000, batch_size=16,
        early_stopping=EarlyStoppingConfig(metric="val_nll", restore_best=True)))
    sample_length: int = 64  # frames of the report's sample
    sample_temperature: float = 1.0
