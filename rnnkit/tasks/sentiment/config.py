"""What a sentiment (text classification) run can set: the texts and their parts, the vocabulary,
the classifier, the optional pre-training of a language model, training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rnnkit.config import check_one_source
from rnnkit.data.text import Level
from rnnkit.models.text_classifier import TextClassifierConfig
from rnnkit.training import EarlyStoppingConfig, OptimizerConfig, ScheduleConfig, TrainConfig

NAMED = ("polarity",)


@dataclass
class SentimentDataConfig:
    name: str | None = "polarity"  # Pang & Lee's sentence polarity set, or null and ``path``
    path: str | None = None  # a .csv (header row) or .jsonl file
    text_column: str = "text"
    label_column: str = "label"
    part_column: str | None = None  # a column of train / validation / test; null: split as below
    folds: int = 0  # > 1: stratified k-fold cross-validation, the test part is fold ``fold``
    fold: int = 0
    validation_fraction: float = 0.1  # of the whole (of the rest, with folds); picks the kept weights
    test_fraction: float = 0.1  # of the whole, without folds or a part column
    seed: int = 0  # the split
    level: Literal["auto"] | Level = "auto"  # auto: words, or characters where the texts are not split into words
    lowercase: bool = False
    min_count: int = 1  # without pre-training: rarer training words become <unk>
    max_vocab: int | None = None
    # keep the first max_length tokens of longer texts; auto: as many as 95% of the training texts
    # have (at least 16; the run's config.yaml records the number); null: every token
    max_length: int | Literal["auto"] | None = "auto"

    def __post_init__(self) -> None:
        check_one_source("data", self.name, self.path)
        if self.name is not None and self.name not in NAMED:
            raise ValueError(f"data.name: expected one of {list(NAMED)} (or null and a path), got {self.name!r}")
        if self.folds == 1 or self.folds < 0 or (self.folds > 1 and not 0 <= self.fold < self.folds):
            raise ValueError(f"data.folds / data.fold: expected folds 0 (no cross-validation) or >= 2 and "
                             f"0 <= fold < folds, got {self.folds} / {self.fold}")
        if not 0 < self.validation_fraction < 1 or not 0 < self.test_fraction < 1 \
                or self.validation_fraction + self.test_fraction >= 1:
            raise ValueError(f"data.validation_fraction / test_fraction: expected fractions in (0, 1) with a sum "
                             f"below 1, got {self.validation_fraction}, {self.test_fraction}")
        if self.max_length not in (None, "auto") and self.max_length < 1:
            raise ValueError(f"data.max_length: expected a positive number of tokens or null, got {self.max_length}")


@dataclass
class PretrainConfig:
    """The language model the classifier starts from (same embedding and stack as the classifier)."""

    enabled: bool = False
    run_dir: str | None = None  # default: <run>/pretrain; a shared folder trains it once for many classifiers
    name: str | None = "reviews"  # unlabelled text: 'reviews' (Pang & Lee's 1,500 full movie reviews)
    path: str | None = None  # or a text file / folder of .txt files; both null: the training texts
    min_count: int = 2
    max_vocab: int | None = 20000
    bptt: int = 70
    embedding_dropout: float = 0.0  # the language model's own regularizers (not the classifier's)
    input_dropout: float = 0.1
    output_dropout: float = 0.2
    dropout: float = 0.0  # between layers
    weight_drop: float = 0.0
    tie_weights: bool = True
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=3000, batch_size=32, eval_every=500, checkpoint_every=500,
        optimizer=OptimizerConfig(lr=3e-3), schedule=ScheduleConfig(name="cosine"),
        early_stopping=EarlyStoppingConfig(metric="val_loss", restore_best=True)))

    def __post_init__(self) -> None:
        if self.name is not None and self.path is not None:
            raise ValueError(f"pretrain: expected name or path, got both ({self.name!r}, {self.path!r})")
        if self.name is not None and self.name != "reviews":
            raise ValueError(f"pretrain.name: expected 'reviews' (or null and a path), got {self.name!r}")


@dataclass
class SentimentConfig:
    task: Literal["sentiment"] = "sentiment"
    run_dir: str | None = None
    data: SentimentDataConfig = field(default_factory=SentimentDataConfig)
    model: TextClassifierConfig = field(default_factory=TextClassifierConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    # 20 passes over the training texts (at least 500 steps), stopping after 4 evaluations without a
    # better validation loss and keeping the best: a budget that scales with the data, not a step count
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=20, min_steps=500, steps=100_000, eval_every=10_000, checkpoint_every=10_000, batch_size=32,
        early_stopping=EarlyStoppingConfig(metric="val_loss", patience=4, restore_best=True)))
