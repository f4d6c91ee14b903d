"""What a language-modelling run can set: the text and its blocks, the vocabulary, the model, training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rnnkit.config import check_one_source
from rnnkit.data.text import Level
from rnnkit.models.language import LanguageModelConfig
from rnnkit.training import TrainConfig


@dataclass
class LanguageDataConfig:
    name: str | None = "shakespeare"  # the named corpus, or null and ``path``
    path: str | None = None  # a text file or a folder of .txt files
    level: Level = "char"
    min_count: int = 1  # rarer tokens of the training block become <unk>
    max_vocab: int | None = None
    vocabulary: str | None = None  # a saved vocab.json to use instead of building one (e.g. shared by two models)
    validation_fraction: float = 0.05
    test_fraction: float = 0.05
    bptt: int = 100  # truncated BPTT chunk length
    random_length: bool = False  # AWD-LSTM's random chunk lengths
    eval_batch_size: int = 16
    eval_tokens: int | None = None  # evaluate on at most this many validation tokens during training

    def __post_init__(self) -> None:
        check_one_source("data", self.name, self.path)
        if self.name is not None and self.name != "shakespeare":
            raise ValueError(f"data.name: expected 'shakespeare' (or null and a path), got {self.name!r}")


@dataclass
class LanguageConfig:
    task: Literal["language"] = "language"
    run_dir: str | None = None
    data: LanguageDataConfig = field(default_factory=LanguageDataConfig)
    model: LanguageModelConfig = field(default_factory=LanguageModelConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=10, min_steps=500, steps=20_000, eval_every=10_000, batch_size=32))
    sample_prompt: str = "\n"  # the report's sample starts here
    sample_length: int = 500
