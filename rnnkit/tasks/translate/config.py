"""What a sequence-to-sequence run can set: the pairs and their parts, each side's vocabulary,
the encoder-decoder, decoding, training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rnnkit.config import check_one_source
from rnnkit.data.text import Level
from rnnkit.models.seq2seq import Seq2SeqConfig
from rnnkit.training import EarlyStoppingConfig, TrainConfig


@dataclass
class TranslateDataConfig:
    name: str | None = "cmudict"  # cmudict (graphemes to phonemes), bible (verses), or null and ``path``
    path: str | None = None  # a TSV of source<TAB>target, or the sources with ``target_path``
    target_path: str | None = None  # the targets, line by line aligned with ``path``
    separator: str = "\t"
    source_level: Level = "char"
    target_level: Level = "word"
    # one vocabulary for both sides at the target's level, with tied embeddings and copying
    # (model.copy): auto when half the targets' tokens occur in the sources (paraphrase, spelling
    # modernization, normalization in one script); the run's config.yaml records the choice
    shared_vocabulary: bool | Literal["auto"] = "auto"
    lowercase: bool = False  # the sources
    min_count: int = 1
    source_max_vocab: int | None = None
    target_max_vocab: int | None = None
    stress: bool = False  # cmudict: keep the stress digits of the vowels
    source_module: str = "engKJV2006eb"  # bible: the SWORD modules (diatheke -b system -k modulelist)
    target_module: str = "spaRV1909eb"
    validation_fraction: float = 0.05  # of the groups (words, books; each pair its own group in your pairs)
    test_fraction: float = 0.05
    validation_groups: list[str] = field(default_factory=list)  # or name them (books of the Bible: "Ruth", ...)
    test_groups: list[str] = field(default_factory=list)
    seed: int = 0  # the split (by word for cmudict, by book for the Bible)
    max_length: int = 200  # training pairs longer than this (tokens, either side) are left out
    eval_size: int = 1000  # validation sources decoded at each evaluation

    def __post_init__(self) -> None:
        check_one_source("data", self.name, self.path)
        if self.name is not None and self.name not in ("cmudict", "bible"):
            raise ValueError(f"data.name: expected 'cmudict' or 'bible' (or null and a path), got {self.name!r}")
        if self.target_path is not None and self.path is None:
            raise ValueError("data.target_path: expected data.path (the sources) too")


@dataclass
class TranslateConfig:
    task: Literal["translate"] = "translate"
    run_dir: str | None = None
    data: TranslateDataConfig = field(default_factory=TranslateDataConfig)
    model: Seq2SeqConfig = field(default_factory=Seq2SeqConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=10, min_steps=1000, steps=50_000, eval_every=10_000, batch_size=64,
        early_stopping=EarlyStoppingConfig(metric="val_loss", restore_best=True)))
    label_smoothing: float = 0.1
    sampling: float = 0.0  # scheduled sampling: the probability of feeding the model's own token
    beam: int = 5
    length_penalty: float = 1.0
    # decoding never repeats an n-gram of this length (0: no blocking); auto: the report picks
    # 0, 3 or 4 by the validation metric, and the run's config.yaml records the choice
    no_repeat_ngram: int | Literal["auto"] = "auto"
    max_output: int = 60  # tokens at most per output (beyond the source length ratio below)
    max_output_ratio: float = 3.0  # and at most this many per source token
    metric: Literal["auto", "g2p", "bleu"] = "auto"

    def __post_init__(self) -> None:
        if not 0 <= self.label_smoothing < 1 or not 0 <= self.sampling <= 1:
            raise ValueError(f"label_smoothing / sampling: expected [0, 1) / [0, 1], got {self.label_smoothing}, "
                             f"{self.sampling}")
        if self.no_repeat_ngram != "auto" and (isinstance(self.no_repeat_ngram, bool) or self.no_repeat_ngram < 0):
            raise ValueError(f"no_repeat_ngram: expected 0 (off), an n-gram length or auto, got {self.no_repeat_ngram!r}")
        if self.beam < 1:
            raise ValueError(f"beam: expected a width >= 1, got {self.beam}")
