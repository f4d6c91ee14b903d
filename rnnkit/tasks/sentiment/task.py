"""Sentiment analysis (text classification), optionally from a pre-trained language model.

Data: Pang & Lee's movie-review sentence polarity set (``name: polarity``), or your CSV /
JSONL file with a text column and a label column (any number of classes). The parts come
from your file's ``part_column`` (train / validation / test), from ``folds``-fold stratified
cross-validation (test = fold ``fold``), or from a seeded stratified split
(``validation_fraction`` and ``test_fraction`` of the whole). Texts are tokenized at the word
(whitespace) or character level; words seen fewer than ``min_count`` times in training are
``<unk>``.

Model: :class:`~rnnkit.models.text_classifier.TextClassifier`, batches of whole texts padded
to the longest with their ``lengths``, so padding never reaches the recurrent state, the
pooling or the loss.

The protocol: every evaluation during training reads the validation texts; early stopping
and the kept weights are chosen there; the test texts are sealed and read once, by the report.

Transfer (``pretrain.enabled``, :mod:`rnnkit.tasks.sentiment.pretrain`): the classifier starts
from a language model pre-trained on unlabelled text, and all weights are then fine-tuned on
the labelled texts.

After training: test accuracy, macro F1, the confusion matrix (printed, ``confusion.png``),
``predictions.csv``, ``vocab.json``. :func:`predict_run` (``rnnkit predict RUN_DIR``) gives
class probabilities for new texts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.text import LabeledTexts, Vocabulary
from rnnkit.files import read_text
from rnnkit.models.text_classifier import TextClassifier, transfer_language_model
from rnnkit.tasks.core import run
from rnnkit.tasks.core.classification import evaluate_parts, predict_logits, test_report
from rnnkit.tasks.core.parts import Sealed, Split, describe
from rnnkit.tasks.core.registry import Task
from rnnkit.tasks.sentiment.config import SentimentConfig
from rnnkit.tasks.sentiment.data import EncodedTexts, encode_texts, load_texts, split_indices
from rnnkit.tasks.sentiment.pretrain import pretrain_dir, prepare
from rnnkit.training import RandomBatches, StepOutput, trained_weights


@dataclass
class SentimentJob:
    model: TextClassifier
    step_fn: Any
    batches: RandomBatches
    evaluate: Any
    split: Split  # the test texts, sealed
    vocab: Vocabulary
    classes: list[str]
    parts: dict[str, EncodedTexts]  # train and val
    encode: Callable[[LabeledTexts], EncodedTexts]
    config: SentimentConfig

    @property
    def artifacts(self) -> dict[str, bytes]:
        """Written beside the weights before training and bound to them: the vocabulary and the
        class names in the order of the model's outputs."""
        return {"vocab.json": self.vocab.to_json().encode(),
                "classes.json": (json.dumps(self.classes, ensure_ascii=False) + "\n").encode()}


def build(config: SentimentConfig, rank: int = 0) -> SentimentJob:
    data = config.data
    everything = load_texts(data)
    rows = split_indices(everything, data)
    texts = {name: everything.subset(index) for name, index in rows.items() if name != "test"}
    classes = sorted(set(texts["train"].labels))
    if len(classes) < 2:
        raise ValueError(f"expected at least 2 classes in the training texts, got {classes}")
    unseen = sorted(set(texts["val"].labels) - set(classes))
    if unseen:
        raise ValueError(f"labels {unseen} occur in the validation texts but never in training (classes {classes})")
    split = Split({name: describe(index.tolist()) for name, index in
                   (("train", rows["train"]), ("validation", rows["val"]), ("test", rows["test"]))},
                  Sealed(lambda: everything.subset(rows["test"])))
    state = None
    if config.pretrain.enabled:
        folder = pretrain_dir(config)
        if not (folder / "forward" / "summary.json").exists():
            raise FileNotFoundError(f"{folder}: no pre-trained language model; `rnnkit train` trains it first")
        vocab = Vocabulary.load(folder / "vocab.json")
        state = trained_weights(folder / "forward")
    else:
        training_text = "\n".join(texts["train"].texts)
        vocab = Vocabulary.build(training_text.lower() if data.lowercase else training_text, data.level,
                                 data.min_count, data.max_vocab)
    index = {c: i for i, c in enumerate(classes)}

    def encode(part: LabeledTexts) -> EncodedTexts:
        unknown = sorted(set(part.labels) - set(classes))
        if unknown:
            raise ValueError(f"labels {unknown} never occur in the training texts (classes {classes})")
        return EncodedTexts(encode_texts(part.texts, vocab, data.lowercase, data.max_length),
                            np.array([index[label] for label in part.labels], dtype=np.int64))

    parts = {name: encode(part) for name, part in texts.items()}
    model = TextClassifier(len(vocab), len(classes), config.model)
    if state is not None:
        transfer_language_model(model, state)

    def step_fn(m: nn.Module, batch: tuple[Tensor, Tensor, Tensor], carry: Any) -> StepOutput:
        ids, lengths, y = batch
        return StepOutput(F.cross_entropy(m(ids, lengths), y))

    def evaluate(m: nn.Module) -> dict[str, float]:
        return evaluate_parts(m, {"val": parts["val"]}, len(classes))

    n_train, batch_size = len(parts["train"].targets), config.train.batch_size
    batches = RandomBatches(
        lambda g: parts["train"].batch(torch.randint(0, n_train, (batch_size,), generator=g).numpy()),
        seed=config.train.seed + 1000 * rank)
    return SentimentJob(model, step_fn, batches, evaluate, split, vocab, classes, parts, encode, config)


def report(job: SentimentJob, run_dir: Path) -> dict[str, Any]:
    """After training: test accuracy, macro F1, confusion matrix, predictions.csv (the vocabulary
    and the class names are beside the weights already: :attr:`SentimentJob.artifacts`)."""
    data = job.config.data
    name = data.name or Path(data.path).name
    test = job.split.test.open()
    result = test_report(job.model, job.encode(test), job.classes, run_dir, name, {"text": test.texts})
    result["files"] += [str(run_dir / file) for file in job.artifacts]
    return result


def predict(model: TextClassifier, vocab: Vocabulary, texts: Sequence[str], lowercase: bool = False,
            max_length: int | None = None, batch_size: int = 256) -> Tensor:
    """Class probabilities ``(N, K)`` of ``texts``."""
    encoded = EncodedTexts(encode_texts(texts, vocab, lowercase, max_length), np.zeros(len(texts), dtype=np.int64))
    return predict_logits(model, encoded, batch_size).softmax(-1)


@dataclass
class TrainedClassifier:
    """A trained run's classifier with its vocabulary and class names; call it on texts."""

    model: TextClassifier
    vocab: Vocabulary
    classes: list[str]
    config: SentimentConfig

    def __call__(self, texts: Sequence[str]) -> Tensor:
        """Class probabilities ``(N, K)``, columns in the order of ``classes``."""
        return predict(self.model, self.vocab, texts, self.config.data.lowercase, self.config.data.max_length)


def load_classifier(run_dir: str | Path, allow_unfinished: bool = False) -> TrainedClassifier:
    """A trained run's classifier from its weights, ``vocab.json`` and ``classes.json`` (no
    training data needed). The weights are loaded first: they check that neither file changed."""
    config = run.load_finished_run(run_dir, "sentiment", "sentiment (text classification)",
                                   ("vocab.json", "classes.json"), allow_unfinished)
    weights = trained_weights(run_dir)
    vocab_path, classes_path = Path(run_dir) / "vocab.json", Path(run_dir) / "classes.json"
    vocab, classes = Vocabulary.load(vocab_path), json.loads(read_text(classes_path, "class names (JSON)"))
    model = TextClassifier(len(vocab), len(classes), config.model)
    run.load_weights(model, weights, run_dir)
    model.eval()
    return TrainedClassifier(model, vocab, classes, config)


def predict_run(run_dir: str | Path, texts: Sequence[str], allow_unfinished: bool = False
                ) -> tuple[list[str], Tensor]:
    """The class names and the probabilities ``(N, K)`` of ``texts`` from a trained run."""
    classifier = load_classifier(run_dir, allow_unfinished)
    return classifier.classes, classifier(texts)


TASK = Task(SentimentConfig, build, report, prepare=prepare)
