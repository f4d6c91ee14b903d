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

import math
from collections.abc import Callable
from dataclasses import dataclass, field
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
from rnnkit.tasks.classify import baselines as classify_baselines
from rnnkit.tasks.classify.config import ClassifyConfig, ClassifyDataConfig
from rnnkit.tasks.core.baselines import Candidates
from rnnkit.tasks.core.export import ExportSpec, example_generator, sequence_spec
from rnnkit.tasks.core.classification import evaluate_parts, test_report
from rnnkit.tasks.core.data_report import class_balance, length_summary
from rnnkit.tasks.core.metrics import classification_scores
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
    data_notes: list[str] = field(default_factory=list)  # for the data report
    scaling: tuple[Any, Any] = (0.0, 1.0)  # the training part's per-channel (loc, scale): x -> (x - loc) / scale

    @property
    def train_size(self) -> int:
        """Training sequences: what ``train.epochs`` counts passes over."""
        return len(self.parts["train"].targets)

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


LONG, TARGET = 200, 100  # median training length beyond which sequences are shortened, and to about what


def shorten(config: ClassifyConfig, lengths: list[int]) -> str | None:
    """With ``data.shorten: auto``, long training sequences (median beyond :data:`LONG` steps) and no
    front end of the user's: set ``model.conv_*`` to a Conv1d + max-pooling that brings them to about
    :data:`TARGET` steps (in place: the run's config.yaml records it). Returns what was chosen."""
    model, median = config.model, float(np.median(lengths))
    if config.data.shorten != "auto" or model.conv_channels or median <= LONG:
        return None
    pool = math.ceil(median / TARGET)
    model.conv_channels = min(64, max(16, model.recurrent.hidden_size // 2))
    model.conv_kernel = min(15, 2 * (pool // 2) + 1) if pool > 2 else 5
    model.conv_pool = pool
    return (f"front end (data.shorten auto): the sequences are long (median {median:.0f} steps), so a Conv1d of "
            f"{model.conv_channels} channels (width {model.conv_kernel}) and max-pooling over {pool} steps shorten "
            f"them to about {math.ceil(median / pool)} before the recurrent stack")


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
    shortened = shorten(config, [len(s) for s in train.sequences])
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
    notes = [f"channels: {train.num_channels}", *class_balance(train.labels, weighted=data.class_weights),
             length_summary([len(s) for s in train.sequences], "steps"), *([shortened] if shortened else [])]
    if validation is None:
        notes.append("warning: no validation part (data.validation_fraction 0): the last step's weights are kept, "
                     "chosen by nothing")
    return ClassifyJob(model, step_fn, batches, evaluate, Split(record, sealed), classes, parts, encode,
                       train.num_channels, config, notes, (loc, scale))


def report(job: ClassifyJob, run_dir: Path) -> dict[str, Any]:
    """After training: test accuracy, macro F1, confusion matrix (text + PNG), predictions.csv."""
    name = job.config.data.name or Path(job.config.data.path).name
    return test_report(job.model, job.test_part(), job.classes, run_dir, name)


MAX_DTW_CELLS = 3e9  # train x test sequences x length^2: about a minute of aeon's DTW on 2 cores


def baselines(job: ClassifyJob) -> Candidates:
    """1-NN DTW and a linear model on summary features, trained on the model's training part
    (standardized as the model sees it) and scored on the test part."""
    test, train = job.test_part(), job.parts["train"]
    fit = SequenceSet(train.sequences, train.targets)
    classes = range(len(job.classes))

    def scored(predict: Callable[[SequenceSet, list[np.ndarray]], np.ndarray]) -> Callable[[], dict[str, float]]:
        def score() -> dict[str, float]:
            predicted = np.asarray(predict(fit, test.sequences)).astype(np.int64)  # class indices, as labels
            metrics = classification_scores(test.targets, predicted, classes)
            return {"test_accuracy": metrics["accuracy"], "test_macro_f1": metrics["macro_f1"]}
        return score

    candidates = Candidates({"linear (summary features)": scored(classify_baselines.linear_summary)})
    length = float(np.mean([len(s) for s in train.sequences + test.sequences]))
    cells = len(train.sequences) * len(test.sequences) * length**2
    if cells > MAX_DTW_CELLS:
        candidates.skipped["1-NN DTW"] = (f"too slow here: {len(train.sequences)} x {len(test.sequences)} sequences "
                                          f"of {length:.0f} steps on average")
    else:
        candidates.run["1-NN DTW"] = scored(classify_baselines.one_nn_dtw)
    return candidates


def export_spec(job: ClassifyJob, streaming: bool) -> ExportSpec:
    """``rnnkit export``: ``(x, lengths) -> logits``, ``x`` standardized as in training (the sidecar
    has the scaling and the class names)."""
    if streaming:
        raise ValueError("the classifier reads a whole sequence before it answers: export it without --streaming")
    C = job.channels

    def x(b: int, t: int) -> Tensor:
        return torch.randn(t, b, C, generator=example_generator(b, t))

    loc, scale = (np.broadcast_to(np.asarray(v, dtype=np.float64), (C,)).tolist() for v in job.scaling)
    spec = sequence_spec(job.model, x, "x", {0: "time", 1: "batch"}, ["logits"], 12,
                         {"x": "sequences (time, batch, channels), each channel standardized: (x - loc) / scale",
                          "logits": "class logits (batch, classes), in the order of classes"})
    spec.extra = {"classes": job.classes, "loc": loc, "scale": scale}
    return spec


TASK = Task(ClassifyConfig, build, report, baselines=baselines, export=export_spec,
            search_space={"model.recurrent.bidirectional": {"choices": [False, True]},
                          "model.head_dropout": {"low": 0.0, "high": 0.5}})
