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

Transfer (``pretrain.enabled``): before the classifier trains, a language model with the
classifier's embedding and recurrent stack is trained on unlabelled text (the 1,500 full
movie reviews of Pang & Lee 2004 by default, or your file, or the training texts) in
``pretrain.run_dir`` (default ``<run>/pretrain``; a folder already holding it is reused, a
killed pre-training resumes). Its vocabulary becomes the classifier's; its embedding and
stack start the classifier's embedding and forward direction (Dai & Le 2015; Howard & Ruder
2018), and all weights are then fine-tuned on the labelled texts.

After training: test accuracy, macro F1, the confusion matrix (printed, ``confusion.png``),
``predictions.csv``, ``vocab.json``. :func:`predict_run` (``rnnkit predict RUN_DIR``) gives
class probabilities for new texts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.config import ConfigError, check_one_source, to_dict
from rnnkit.data.text import (
    LabeledTexts,
    Level,
    Vocabulary,
    load_movie_reviews,
    load_polarity,
    read_labeled_texts,
    read_text,
)
from rnnkit.models.text_classifier import TextClassifier, TextClassifierConfig, transfer_language_model
from rnnkit.tasks.core import run
from rnnkit.tasks.core.classification import evaluate_parts, predict_logits, test_report
from rnnkit.tasks.core.registry import Task
from rnnkit.training import (
    EarlyStoppingConfig,
    OptimizerConfig,
    RandomBatches,
    ScheduleConfig,
    StepOutput,
    TrainConfig,
    has_checkpoint,
    trained_weights,
)

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
    level: Level = "word"
    lowercase: bool = False
    min_count: int = 1  # without pre-training: rarer training words become <unk>
    max_vocab: int | None = None
    max_length: int | None = None  # keep the first max_length tokens of longer texts

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
        if self.max_length is not None and self.max_length < 1:
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
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=1500, batch_size=32, eval_every=100,
        early_stopping=EarlyStoppingConfig(metric="val_loss", patience=5, restore_best=True)))


def load_texts(config: SentimentDataConfig) -> LabeledTexts:
    if config.name == "polarity":
        return load_polarity()
    return read_labeled_texts(config.path, config.text_column, config.label_column, config.part_column)


def split_parts(data: LabeledTexts, config: SentimentDataConfig) -> dict[str, LabeledTexts]:
    """``train``, ``val`` and ``test`` parts, as the config says (see the module docstring)."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    index = np.arange(len(data))
    labels = np.asarray(data.labels)

    def stratify(i: np.ndarray) -> np.ndarray | None:
        _, counts = np.unique(labels[i], return_counts=True)
        return labels[i] if counts.min() >= 2 else None

    if data.parts is not None:
        named = {p: index[np.asarray(data.parts) == p] for p in ("train", "validation", "test")}
        if len(named["train"]) == 0 or len(named["test"]) == 0:
            raise ValueError(f"data.part_column: expected rows marked train and test, got "
                             f"{ {k: len(v) for k, v in named.items()} }")
        train, test, val = named["train"], named["test"], named["validation"]
        if len(val) == 0:
            train, val = train_test_split(train, test_size=max(round(config.validation_fraction * len(train)), 1),
                                          random_state=config.seed, stratify=stratify(train))
    else:
        if config.folds > 1:
            splitter = StratifiedKFold(config.folds, shuffle=True, random_state=config.seed)
            rest, test = list(splitter.split(index, labels))[config.fold]
            validation = round(config.validation_fraction * len(rest))
        else:
            rest, test = train_test_split(index, test_size=round(config.test_fraction * len(index)),
                                          random_state=config.seed, stratify=stratify(index))
            validation = round(config.validation_fraction * len(index))
        train, val = train_test_split(rest, test_size=max(validation, 1), random_state=config.seed,
                                      stratify=stratify(rest))
    return {"train": data.subset(train), "val": data.subset(val), "test": data.subset(test)}


@dataclass
class EncodedTexts:
    """Token ids of each text and class indices, ready for padded batches."""

    ids: list[Tensor]  # (T_i,) each
    targets: np.ndarray  # (N,)

    def batch(self, index: np.ndarray) -> tuple[Tensor, Tensor, Tensor]:
        """``ids`` ``(T_max, B)`` zero-padded, ``lengths`` ``(B,)``, ``y`` ``(B,)``."""
        chosen = [self.ids[i] for i in index]
        lengths = torch.tensor([len(t) for t in chosen])
        return nn.utils.rnn.pad_sequence(chosen), lengths, torch.from_numpy(self.targets[index])


def encode_texts(texts: Sequence[str], vocab: Vocabulary, lowercase: bool = False,
                 max_length: int | None = None) -> list[Tensor]:
    """Token ids ``(T_i,)`` of each text; a text with no tokens becomes one ``<unk>``."""
    out = []
    for text in texts:
        ids = vocab.encode(text.lower() if lowercase else text)[:max_length] or [0]
        out.append(torch.tensor(ids, dtype=torch.long))
    return out


@dataclass
class SentimentJob:
    model: TextClassifier
    step_fn: Any
    batches: RandomBatches
    evaluate: Any
    vocab: Vocabulary
    classes: list[str]
    parts: dict[str, EncodedTexts]
    texts: dict[str, LabeledTexts]
    config: SentimentConfig


def pretrain_dir(config: SentimentConfig) -> Path:
    if config.pretrain.run_dir is not None:
        return Path(config.pretrain.run_dir)
    if config.run_dir is None:
        raise ConfigError("pretrain.run_dir: expected a folder for the language model (or a run_dir to hold it)")
    return Path(config.run_dir) / "pretrain"


def language_model_config(config: SentimentConfig, text_path: Path, vocab_path: Path) -> Any:
    """The language task's config for the pre-training (resolved through the task registry, as a
    config file would be): the classifier's embedding and stack, the pre-training's regularizers."""
    model, pretrain = config.model, config.pretrain
    shared = {name: getattr(model, name) for name in (
        "cell", "hidden_size", "num_layers", "layer_norm", "init", "chrono_max_length", "impl", "embedding_size")}
    shared.update({name: getattr(pretrain, name) for name in (
        "embedding_dropout", "input_dropout", "output_dropout", "dropout", "weight_drop", "tie_weights")})
    return run.resolve_config({
        "task": "language",
        "data": {"name": None, "path": str(text_path), "level": config.data.level, "vocabulary": str(vocab_path),
                 "bptt": pretrain.bptt, "eval_tokens": 50000},
        "model": shared,
        "train": to_dict(pretrain.train),
        "sample_length": 60,
    })


def _defining(lm_config: dict[str, Any]) -> dict[str, Any]:
    """What makes a language model what it is (not where it ran, its logging or its progress bar)."""
    train = {k: v for k, v in lm_config["train"].items()
             if k not in ("progress", "log_every", "checkpoint_every", "device", "max_seconds")}
    return {"data": lm_config["data"], "model": lm_config["model"], "train": train}


def prepare(config: SentimentConfig) -> None:
    """Pre-train the language model (once: a folder that holds it is reused, a killed one resumes)."""
    if not config.pretrain.enabled:
        return
    folder = pretrain_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    text_path, vocab_path, lm_dir = folder / "text.txt", folder / "vocab.json", folder / "forward"
    pretrain, data = config.pretrain, config.data
    source = {"name": pretrain.name, "path": pretrain.path, "level": data.level, "lowercase": data.lowercase,
              "min_count": pretrain.min_count, "max_vocab": pretrain.max_vocab}
    if pretrain.name is None and pretrain.path is None:  # the training texts: they depend on the split
        source.update(data=to_dict(data))
    source_path = folder / "source.json"
    if source_path.exists() and json.loads(source_path.read_text()) != json.loads(json.dumps(source)):
        raise ConfigError(f"{folder}: holds a language model of other text or another vocabulary "
                          f"({source_path.read_text()}); point pretrain.run_dir at a new folder")
    if not source_path.exists():
        tmp = source_path.with_name(source_path.name + ".tmp")
        tmp.write_text(json.dumps(source))
        tmp.replace(source_path)
    if not text_path.exists():
        if pretrain.name == "reviews":
            text = load_movie_reviews()
        elif pretrain.path is not None:
            text = read_text(pretrain.path)
        else:
            text = "\n".join(split_parts(load_texts(data), data)["train"].texts)
        text = text.lower() if data.lowercase else text
        tmp = text_path.with_name(text_path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(text_path)
    if not vocab_path.exists():
        text = text_path.read_text(encoding="utf-8")
        Vocabulary.build(text, data.level, pretrain.min_count, pretrain.max_vocab).save(vocab_path)
    lm_config = language_model_config(config, text_path, vocab_path)
    if (lm_dir / "config.yaml").exists():
        if _defining(to_dict(run.load_run_config(lm_dir))) != _defining(to_dict(lm_config)):
            raise ConfigError(f"{lm_dir}: holds a language model trained with other settings than this config's "
                              f"model and pretrain sections; point pretrain.run_dir at a new folder")
    if (lm_dir / "summary.json").exists():
        return  # trained
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise RuntimeError(f"{lm_dir}: the language model is not trained yet; pre-train it in one process first "
                           f"(rnnkit train CONFIG without torchrun), then run the classifier under torchrun")
    print(f"pre-training a language model in {lm_dir} ...", flush=True)
    if has_checkpoint(lm_dir):
        run.resume(lm_dir)
    else:
        run.train(lm_config, lm_dir)


def build(config: SentimentConfig, rank: int = 0) -> SentimentJob:
    data = config.data
    texts = split_parts(load_texts(data), data)
    classes = sorted(set(texts["train"].labels))
    if len(classes) < 2:
        raise ValueError(f"expected at least 2 classes in the training texts, got {classes}")
    unseen = sorted(set(texts["test"].labels + texts["val"].labels) - set(classes))
    if unseen:
        raise ValueError(f"labels {unseen} occur in the validation or test texts but never in training "
                         f"(classes {classes})")
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
    parts = {name: EncodedTexts(encode_texts(part.texts, vocab, data.lowercase, data.max_length),
                                np.array([index[label] for label in part.labels], dtype=np.int64))
             for name, part in texts.items()}
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
    return SentimentJob(model, step_fn, batches, evaluate, vocab, classes, parts, texts, config)


def report(job: SentimentJob, run_dir: Path) -> dict[str, Any]:
    """After training: test accuracy, macro F1, confusion matrix, predictions.csv; the
    vocabulary and the class names beside the weights (``vocab.json``, ``classes.json``)."""
    data = job.config.data
    name = data.name or Path(data.path).name
    result = test_report(job.model, job.parts["test"], job.classes, run_dir, name, {"text": job.texts["test"].texts})
    job.vocab.save(run_dir / "vocab.json")
    path = run_dir / "classes.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(job.classes, ensure_ascii=False))
    tmp.replace(path)
    result["files"] += [str(run_dir / "vocab.json"), str(path)]
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


def load_classifier(run_dir: str | Path) -> TrainedClassifier:
    """A trained run's classifier from its weights, ``vocab.json`` and ``classes.json`` (no
    training data needed)."""

    config = run.load_finished_run(run_dir, "sentiment", "sentiment (text classification)",
                               ("vocab.json", "classes.json"))
    vocab_path, classes_path = Path(run_dir) / "vocab.json", Path(run_dir) / "classes.json"
    vocab, classes = Vocabulary.load(vocab_path), json.loads(classes_path.read_text())
    model = TextClassifier(len(vocab), len(classes), config.model)
    model.load_state_dict(trained_weights(run_dir))
    model.eval()
    return TrainedClassifier(model, vocab, classes, config)


def predict_run(run_dir: str | Path, texts: Sequence[str]) -> tuple[list[str], Tensor]:
    """The class names and the probabilities ``(N, K)`` of ``texts`` from a trained run."""
    classifier = load_classifier(run_dir)
    return classifier.classes, classifier(texts)


TASK = Task(SentimentConfig, build, report, prepare=prepare)
