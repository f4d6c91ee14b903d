"""What a sequence-classification run can set: the data and its parts, the model, training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rnnkit.config import check_one_source
from rnnkit.models.classifier import ClassifierConfig
from rnnkit.training import EarlyStoppingConfig, TrainConfig


@dataclass
class ClassifyDataConfig:
    name: str | None = "BasicMotions"  # a UEA/UCR set (rnnkit.data.datasets), or null and ``path``
    path: str | None = None  # your training data: .npz or long-format .csv
    test_path: str | None = None  # your test data (same format); null: a test_fraction of ``path``
    test_fraction: float = 0.25  # only without a test file
    id_column: str = "series_id"  # long-format CSV columns
    time_column: str = "t"
    label_column: str = "label"
    normalize: Literal["channel", "none"] = "channel"
    validation_fraction: float = 0.2  # of the training data, stratified: early stopping and the kept weights
    class_weights: bool = False  # weigh the loss by inverse class frequency
    # auto: training sequences longer than 200 steps (median) get a convolutional front end that
    # pools them to about 100 steps (unless model.conv_channels sets one); off: every step as is
    shorten: Literal["auto", "off"] = "auto"
    seed: int = 0  # the validation (and test) split

    def __post_init__(self) -> None:
        check_one_source("data", self.name, self.path)
        if not 0 <= self.validation_fraction < 1 or not 0 < self.test_fraction < 1:
            raise ValueError(f"data.validation_fraction / test_fraction: expected fractions in [0, 1) / (0, 1), "
                             f"got {self.validation_fraction}, {self.test_fraction}")


@dataclass
class ClassifyConfig:
    task: Literal["classify"] = "classify"
    run_dir: str | None = None
    data: ClassifyDataConfig = field(default_factory=ClassifyDataConfig)
    model: ClassifierConfig = field(default_factory=ClassifierConfig)
    # 60 passes over the training part (at least 1,000 steps: small sets need more passes), stopping
    # after 10 evaluations without a better validation loss and keeping the best: a budget that
    # scales with the data, not a step count
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=60, min_steps=1000, steps=100_000, eval_every=10_000, batch_size=16,
        early_stopping=EarlyStoppingConfig(metric="val_loss", patience=10, restore_best=True)))

    def __post_init__(self) -> None:
        if self.train.early_stopping.metric and not self.data.validation_fraction:
            raise ValueError(f"train.early_stopping.metric: {self.train.early_stopping.metric!r} needs a validation "
                             f"part; expected data.validation_fraction > 0, or no early stopping "
                             f"(train.early_stopping.metric: '')")
