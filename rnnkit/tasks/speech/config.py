"""What a speech-recognition run can set: the recordings and their parts, the features, the
acoustic model, decoding, training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rnnkit.config import check_one_source
from rnnkit.data.audio import FeatureConfig
from rnnkit.models.acoustic import AcousticConfig
from rnnkit.tasks.speech.digits import DigitsConfig
from rnnkit.training import EarlyStoppingConfig, TrainConfig


@dataclass
class SpeechDataConfig:
    name: str | None = "digits"  # spoken digits (espeak-ng + sox), or null and ``path``
    path: str | None = None  # a folder holding transcripts.csv, or the CSV
    path_column: str = "path"
    text_column: str = "text"
    speaker_column: str = "speaker"
    condition_column: str = "condition"
    part_column: str = "part"
    level: Literal["word", "char"] = "word"
    lowercase: bool = True
    validation_fraction: float = 0.1  # of the speakers (of the utterances when there are none)
    test_fraction: float = 0.1
    seed: int = 0
    eval_size: int = 500  # validation utterances decoded at each evaluation
    digits: DigitsConfig = field(default_factory=DigitsConfig)

    def __post_init__(self) -> None:
        check_one_source("data", self.name, self.path)
        if self.name is not None and self.name != "digits":
            raise ValueError(f"data.name: expected 'digits' (or null and a path), got {self.name!r}")


@dataclass
class SpeechConfig:
    task: Literal["speech"] = "speech"
    run_dir: str | None = None
    data: SpeechDataConfig = field(default_factory=SpeechDataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: AcousticConfig = field(default_factory=AcousticConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=30, min_steps=1000, steps=30_000, eval_every=10_000, batch_size=32,
        early_stopping=EarlyStoppingConfig(metric="val_wer", mode="min", restore_best=True)))
    beam: int = 8  # prefix beam search width for the test part and `rnnkit transcribe`; 1: greedy

    def __post_init__(self) -> None:
        if self.beam < 1:
            raise ValueError(f"beam: expected a width >= 1, got {self.beam}")
        if self.data.digits.sample_rate != self.features.sample_rate and self.data.name == "digits":
            raise ValueError(f"data.digits.sample_rate {self.data.digits.sample_rate} differs from "
                             f"features.sample_rate {self.features.sample_rate}: expected the same")
