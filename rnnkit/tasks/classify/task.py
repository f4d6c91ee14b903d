"""Sequence classification: actions from sensors, speakers, gestures, shapes.

Data: a named UEA/UCR set with its official train/test split, or your own files (NPZ or a
long-format CSV, see :mod:`rnnkit.data.sequences`), a test file optional (else a seeded
stratified ``test_fraction`` of your file). Each channel is standardized by the training
part's mean and spread (``normalize: channel``). ``class_weights`` weighs the loss by inverse
class frequency, for imbalanced sets.

The protocol: a stratified ``validation_fraction`` of the training data is held out; every
evaluation during training reads it, and early stopping and the kept weights are chosen
there (0: no validation part, and the final weights are kept). The test part is sealed: the
official test file is not even read before the report, which scores it once.

Metrics: accuracy, macro F1 and the confusion matrix (rows: true, columns: predicted),
printed, saved as ``confusion.png`` and ``predictions.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.datasets import load_classification
from rnnkit.data.sequences import SequenceSet, pad_batch, read_long_csv, read_npz
from rnnkit.extras import require
from rnnkit.models.classifier import SequenceClassifier
from rnnkit.tasks.classify.config import ClassifyConfig, ClassifyDataConfig
from rnnkit.tasks.core.classification import evaluate_parts, test_report
from rnnkit.tasks.core.parts import Sealed, Split, describe
from rnnkit.tasks.core.registry import Task
from rnnkit.training import RandomBatches, StepOutput


def _read(path: str, config: ClassifyDataConfig) -> SequenceSet:
    if str(path).endswith(".npz"):
        return read_npz(path)
    return read_long_csv(path, config.id_column, config.time_column, config.label_column)


def _stratify(labels: np.ndarray) -> np.ndarray | None:
    _, counts = np.unique(labels, return_counts=True)
    return labels if counts.min() >= 2 else None


def _split_off(n: int, fraction: float, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded, stratified (where every class has two members) split of ``range(n)``."""
    model_selection = require("sklearn.model_selection", "splitting the sequences")
    kept, held = model_selection.train_test_split(np.arange(n), test_size=fraction, random_state=seed,
                                                  stratify=_stratify(labels))
    return np.sort(kept), np.sort(held)


def load_parts(config: ClassifyDataConfig) -> tuple[SequenceSet, dict[str, Any], Sealed[SequenceSet]]:
    """The training data (before its validation part is held out), a description of the test
    part, and the test part sealed (a test file is read only when opened)."""
    if config.name is not None:
        return (load_classification(config.name, "train"), {"source": f"{config.name}'s official test split"},
                Sealed(lambda: load_classification(config.name, "test")))
    data = _read(config.path, config)
    if config.test_path is not None:
        return data, {"source": str(config.test_path)}, Sealed(lambda: _read(config.test_path, config))
    kept, held = _split_off(len(data), config.test_fraction, data.labels, config.seed)
    return data.subset(kept), describe(held.tolist(), source=f"{config.test_fraction:g} of {config.path}"), \
        Sealed.of(data.subset(held))


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
    split: Split
    classes: list[str]
    parts: dict[str, Encoded]  # train and (when held out) val
    encode: Any  # SequenceSet -> Encoded, with the training part's scaling
    channels: int
    config: ClassifyConfig

    def test_part(self) -> Encoded:
        """The test part, encoded (it opens the sealed part: for the report)."""
        test = self.split.test.open()
        if test.num_channels != self.channels:
            raise ValueError(f"expected the same channels in training and test data, got {self.channels} "
                             f"and {test.num_channels}")
        unseen = sorted(str(c) for c in set(str(c) for c in test.labels) - set(self.classes))
        if unseen:
            raise ValueError(f"test labels {unseen} never occur in the training data (classes {self.classes})")
        return self.encode(test)


def build(config: ClassifyConfig, rank: int = 0) -> ClassifyJob:
    data = config.data
    train, test_record, sealed = load_parts(data)
    classes = sorted(str(c) for c in set(train.labels))
    if len(classes) < 2:
        raise ValueError(f"expected at least 2 classes in the training data, got {classes}")
    record: dict[str, Any] = {"test": test_record}
    validation = None
    if data.validation_fraction > 0:
        fit, held = _split_off(len(train), data.validation_fraction, train.labels, data.seed)
        train, validation = train.subset(fit), train.subset(held)
        record.update(train=describe(fit.tolist()), validation=describe(held.tolist()))
    else:
        record.update(train=describe(list(range(len(train)))), validation=None)
    stacked = np.concatenate(train.sequences)  # (sum T_i, C)
    loc, scale = (stacked.mean(0), np.maximum(stacked.std(0), 1e-8)) if data.normalize == "channel" else (0.0, 1.0)
    index = {c: i for i, c in enumerate(classes)}

    def encode(part: SequenceSet) -> Encoded:
        return Encoded([((s - loc) / scale).astype(np.float32) for s in part.sequences],
                       np.array([index[str(label)] for label in part.labels], dtype=np.int64))

    if validation is not None:
        unseen = sorted(set(str(c) for c in validation.labels) - set(classes))
        if unseen:
            raise ValueError(f"validation labels {unseen} never occur in the rest of the training data")
    parts = {"train": encode(train)}
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
        return evaluate_parts(m, {"val": parts["val"]}, len(classes)) if "val" in parts else {}

    n_train, batch_size = len(parts["train"].targets), config.train.batch_size
    batches = RandomBatches(
        lambda g: parts["train"].batch(torch.randint(0, n_train, (batch_size,), generator=g).numpy()),
        seed=config.train.seed + 1000 * rank)
    return ClassifyJob(model, step_fn, batches, evaluate, Split(record, sealed), classes, parts, encode,
                       train.num_channels, config)


def report(job: ClassifyJob, run_dir: Path) -> dict[str, Any]:
    """After training: test accuracy, macro F1, confusion matrix (text + PNG), predictions.csv."""
    name = job.config.data.name or Path(job.config.data.path).name
    return test_report(job.model, job.test_part(), job.classes, run_dir, name)


TASK = Task(ClassifyConfig, build, report)
