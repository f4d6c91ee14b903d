"""Sequence classification: actions from sensors, speakers, gestures, shapes.

Data: a named UEA/UCR set with its official train/test split, or your own files (NPZ or a
long-format CSV, see :mod:`rnnkit.data.sequences`), a test file optional. Each channel is
standardized by the training set's mean and spread (``normalize: channel``). A stratified
``validation_fraction`` of the training set picks the kept weights (early stopping);
0 trains the full step budget on all of it. ``class_weights`` weighs the loss by inverse
class frequency, for imbalanced sets.

Metrics: accuracy, macro F1 and the confusion matrix (rows: true, columns: predicted),
printed, saved as ``confusion.png`` and ``predictions.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.config import check_one_source
from rnnkit.data.datasets import load_classification
from rnnkit.data.sequences import SequenceSet, pad_batch, read_long_csv, read_npz
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.tasks.core.classification import evaluate_parts, test_report
from rnnkit.tasks.core.registry import Task
from rnnkit.training import EarlyStoppingConfig, RandomBatches, StepOutput, TrainConfig


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
    validation_fraction: float = 0.2
    class_weights: bool = False  # weigh the loss by inverse class frequency
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
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=1000, batch_size=16, eval_every=50,
        early_stopping=EarlyStoppingConfig(metric="val_loss", patience=6, restore_best=True)))


def load_splits(config: ClassifyDataConfig) -> tuple[SequenceSet, SequenceSet]:
    """The training and test sets as configured."""
    from sklearn.model_selection import train_test_split

    if config.name is not None:
        return load_classification(config.name, "train"), load_classification(config.name, "test")

    def read(path: str) -> SequenceSet:
        if str(path).endswith(".npz"):
            return read_npz(path)
        return read_long_csv(path, config.id_column, config.time_column, config.label_column)

    data = read(config.path)
    if config.test_path is not None:
        return data, read(config.test_path)
    train, test = train_test_split(np.arange(len(data)), test_size=config.test_fraction, random_state=config.seed,
                                   stratify=_stratify(data.labels))
    return data.subset(train), data.subset(test)


def _stratify(labels: np.ndarray) -> np.ndarray | None:
    _, counts = np.unique(labels, return_counts=True)
    return labels if counts.min() >= 2 else None


@dataclass
class Encoded:
    """Standardized sequences and class indices, ready for batches."""

    sequences: list[np.ndarray]
    targets: np.ndarray  # (N,) indices into ``classes``

    def batch(self, index: np.ndarray) -> tuple[Tensor, Tensor, Tensor]:
        """``x`` ``(T, B, C)``, ``lengths`` ``(B,)``, ``y`` ``(B,)``."""
        x, lengths = pad_batch([self.sequences[i] for i in index])
        return x, lengths, torch.from_numpy(self.targets[index])


@dataclass
class ClassifyJob:
    model: SequenceClassifier
    step_fn: Any
    batches: RandomBatches
    evaluate: Any
    classes: list[str]
    parts: dict[str, Encoded]
    config: ClassifyConfig


def build(config: ClassifyConfig, rank: int = 0) -> ClassifyJob:
    from sklearn.model_selection import train_test_split

    data = config.data
    train, test = load_splits(data)
    if train.num_channels != test.num_channels:
        raise ValueError(f"expected the same channels in training and test data, got {train.num_channels} "
                         f"and {test.num_channels}")
    classes = sorted(str(c) for c in set(train.labels))
    unseen = sorted(str(c) for c in set(test.labels) - set(classes))
    if unseen:
        raise ValueError(f"test labels {unseen} never occur in the training data (classes {classes})")
    if len(classes) < 2:
        raise ValueError(f"expected at least 2 classes in the training data, got {classes}")
    validation = None
    if data.validation_fraction > 0:
        fit, held = train_test_split(np.arange(len(train)), test_size=data.validation_fraction,
                                     random_state=data.seed, stratify=_stratify(train.labels))
        train, validation = train.subset(fit), train.subset(held)
    stacked = np.concatenate(train.sequences)  # (sum T_i, C)
    loc, scale = (stacked.mean(0), np.maximum(stacked.std(0), 1e-8)) if data.normalize == "channel" else (0.0, 1.0)
    index = {c: i for i, c in enumerate(classes)}

    def encode(part: SequenceSet) -> Encoded:
        return Encoded([((s - loc) / scale).astype(np.float32) for s in part.sequences],
                       np.array([index[label] for label in part.labels], dtype=np.int64))

    parts = {"train": encode(train), "test": encode(test)}
    if validation is not None:
        parts["val"] = encode(validation)
    counts = np.bincount(parts["train"].targets, minlength=len(classes))
    weight = torch.tensor(len(parts["train"].targets) / (len(classes) * np.maximum(counts, 1)), dtype=torch.float32) \
        if data.class_weights else None
    model = SequenceClassifier(train.num_channels, len(classes), config.model)

    def step_fn(m: nn.Module, batch: tuple[Tensor, Tensor, Tensor], carry: Any) -> StepOutput:
        x, lengths, y = batch
        w = weight.to(x.device) if weight is not None else None
        return StepOutput(F.cross_entropy(m(x, lengths), y, weight=w))

    def evaluate(m: nn.Module) -> dict[str, float]:
        return evaluate_parts(m, {k: v for k, v in parts.items() if k != "train"}, len(classes))

    n_train, batch_size = len(parts["train"].targets), config.train.batch_size
    batches = RandomBatches(
        lambda g: parts["train"].batch(torch.randint(0, n_train, (batch_size,), generator=g).numpy()),
        seed=config.train.seed + 1000 * rank)
    return ClassifyJob(model, step_fn, batches, evaluate, classes, parts, config)


def report(job: ClassifyJob, run_dir: Path) -> dict[str, Any]:
    """After training: test accuracy, macro F1, confusion matrix (text + PNG), predictions.csv."""
    name = job.config.data.name or Path(job.config.data.path).name
    return test_report(job.model, job.parts["test"], job.classes, run_dir, name)


TASK = Task(ClassifyConfig, build, report)
