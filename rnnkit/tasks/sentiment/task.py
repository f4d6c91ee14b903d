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
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data import vectors
from rnnkit.data.text import LabeledTexts, Vocabulary
from rnnkit.files import read_text
from rnnkit.models.text_classifier import TextClassifier, transfer_language_model
from rnnkit.tasks.core import run
from rnnkit.tasks.core.baselines import Candidates
from rnnkit.tasks.core.export import ExportSpec, example_generator, sequence_spec
from rnnkit.tasks.core.classification import evaluate_parts, predict_logits, test_report
from rnnkit.tasks.core.data_report import class_balance, length_summary
from rnnkit.tasks.core.metrics import classification_scores
from rnnkit.tasks.core.parts import Sealed, Split, describe
from rnnkit.tasks.core.registry import Task
from rnnkit.tasks.sentiment.baselines import tfidf_logistic
from rnnkit.tasks.sentiment.config import SentimentConfig
from rnnkit.tasks.sentiment.data import EncodedTexts, choose_level, encode_texts, load_texts, split_indices
from rnnkit.tasks.sentiment.pretrain import prepare, pretrain_dir
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
    texts: dict[str, LabeledTexts]  # train and val, as read (for the baselines)
    data_notes: list[str]  # for the data report: what the data looks like, what was chosen for it

    @property
    def train_size(self) -> int:
        """Training texts: what ``train.epochs`` counts passes over."""
        return len(self.parts["train"].targets)

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
    level, level_note = choose_level(data.level, texts["train"].texts)
    state = None
    if config.pretrain.enabled:
        folder = pretrain_dir(config)
        if not (folder / "forward" / "summary.json").exists():
            raise FileNotFoundError(f"{folder}: no pre-trained language model; `rnnkit train` trains it first")
        vocab = Vocabulary.load(folder / "vocab.json")
        state = trained_weights(folder / "forward")
    else:
        training_text = "\n".join(texts["train"].texts)
        vocab = Vocabulary.build(training_text.lower() if data.lowercase else training_text, level,
                                 data.min_count, data.max_vocab)
    found = None
    if config.model.embedding:
        found, vocab, extension_note = pretrained_vectors(vocab, config)
        level_note += extension_note
    if data.max_length == "auto":  # as long as 95% of the training texts: the rest are cut there
        counts = [len(vocab.encode(text.lower() if data.lowercase else text)) for text in texts["train"].texts]
        data.max_length = max(16, int(np.percentile(counts, 95)))
        level_note += f"; data.max_length: {data.max_length} tokens (auto: 95% of the training texts are as short)"
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
    vectors_note = start_from_vectors(model, vocab, found, config) if found is not None else None

    def step_fn(m: nn.Module, batch: tuple[Tensor, Tensor, Tensor], carry: Any) -> StepOutput:
        ids, lengths, y = batch
        return StepOutput(F.cross_entropy(m(ids, lengths), y))

    def evaluate(m: nn.Module) -> dict[str, float]:
        return evaluate_parts(m, {"val": parts["val"]}, len(classes))

    n_train, batch_size = len(parts["train"].targets), config.train.batch_size
    batches = RandomBatches(
        lambda g: parts["train"].batch(torch.randint(0, n_train, (batch_size,), generator=g).numpy()),
        seed=config.train.seed + 1000 * rank)
    notes = [level_note, *class_balance(texts["train"].labels),
             length_summary([len(ids) for ids in parts["train"].ids], "tokens"),
             f"vocabulary: {len(vocab)} {vocab.level} tokens; they cover {coverage(vocab, texts['val'].texts, data):.1%} "
             f"of the validation tokens", *([vectors_note] if vectors_note else [])]
    return SentimentJob(model, step_fn, batches, evaluate, split, vocab, classes, parts, encode, config, texts, notes)


def pretrained_vectors(vocab: Vocabulary, config: SentimentConfig) -> tuple[vectors.Vectors, Vocabulary, str]:
    """The vectors of ``model.embedding``, checked against the config, and the vocabulary with
    the vectors' ``model.embedding_vocabulary`` most frequent words added after the training
    words (so that a word never seen in training still has its vector); a note when it grew."""
    source = config.model.embedding
    if config.pretrain.enabled:
        raise ValueError(f"model.embedding: {source!r} and pretrain.enabled both set the embedding's start: "
                         f"expected one of them")
    if vocab.level != "word":
        raise ValueError(f"model.embedding: word vectors need word tokens, got data.level {vocab.level!r}")
    found = vectors.load_vectors(source)
    if found.dim != config.model.embedding_size:
        raise ValueError(f"model.embedding_size: the {source} vectors are {found.dim}-wide: expected "
                         f"{found.dim}, got {config.model.embedding_size}")
    count = config.model.embedding_vocabulary
    if not count:
        return found, vocab, ""
    added = [w for w in found.words[:count] if w not in vocab.index]
    grown = Vocabulary(vocab.tokens + added, vocab.level)
    return found, grown, f"; vocabulary: the training words and {len(added):,} more of the vectors' {count:,} first"


def start_from_vectors(model: TextClassifier, vocab: Vocabulary, found: vectors.Vectors,
                       config: SentimentConfig) -> str:
    """Copy the pretrained vectors into the classifier's embedding; the note says which and how
    much of the vocabulary they cover."""
    rows, covered = vectors.embedding_rows(vocab.tokens, found, np.random.default_rng(config.train.seed),
                                           special=(vocab.tokens[0],))
    with torch.no_grad():
        model.embedding.weight.copy_(torch.from_numpy(rows))
    how = "frozen" if config.model.freeze_embedding else "fine-tuned"
    return (f"embedding: {found.source} ({len(found.words):,} words x {found.dim}, {how}); it has {covered.found:,} of "
            f"the {covered.words:,} vocabulary words ({covered.share:.1%})")


def report(job: SentimentJob, run_dir: Path) -> dict[str, Any]:
    """After training: test accuracy, macro F1, confusion matrix, predictions.csv (the vocabulary
    and the class names are beside the weights already: :attr:`SentimentJob.artifacts`)."""
    data = job.config.data
    name = data.name or Path(data.path).name
    test = job.split.test.open()
    result = test_report(job.model, job.encode(test), job.classes, run_dir, name, {"text": test.texts})
    result["files"] += [str(run_dir / file) for file in job.artifacts]
    return result


def coverage(vocab: Vocabulary, texts: Sequence[str], data: Any) -> float:
    """The share of the tokens of ``texts`` that the vocabulary knows (not ``<unk>``)."""
    ids = [i for text in texts for i in vocab.encode(text.lower() if data.lowercase else text)]
    return sum(i != 0 for i in ids) / max(len(ids), 1)


def baselines(job: SentimentJob) -> Candidates:
    """TF-IDF of word 1-2 grams and of character 1-3 grams, each with logistic regression (its
    ``C`` chosen on the validation part), trained on the model's training texts."""
    test = job.split.test.open()
    index = {c: i for i, c in enumerate(job.classes)}
    true = [index[label] for label in test.labels]

    def scored(analyzer: Literal["word", "char"]) -> Callable[[], dict[str, float]]:
        def score() -> dict[str, float]:
            predicted, _ = tfidf_logistic(job.texts["train"], job.texts["val"], test.texts, analyzer)
            metrics = classification_scores(true, [index[label] for label in predicted], range(len(job.classes)))
            return {"test_accuracy": metrics["accuracy"], "test_macro_f1": metrics["macro_f1"]}
        return score

    return Candidates({"TF-IDF words + logistic": scored("word"), "TF-IDF characters + logistic": scored("char")})


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


def export_spec(job: Any, streaming: bool) -> ExportSpec:
    """``rnnkit export``: ``(ids, lengths) -> logits`` over token ids of ``vocab.json``."""
    if streaming:
        raise ValueError("the classifier reads a whole text before it answers: export it without --streaming")
    V = job.model.embedding.num_embeddings

    def ids(b: int, t: int) -> Tensor:
        return torch.randint(0, V, (t, b), generator=example_generator(b, t))

    spec = sequence_spec(job.model, ids, "ids", {0: "time", 1: "batch"}, ["logits"], 12,
                         {"ids": "token ids (time, batch), int64, of vocab.json (lowercased if the run's data.lowercase)",
                          "logits": "class logits (batch, classes), in the order of classes.json"})
    spec.extra = {"classes": list(job.classes)}
    return spec


TASK = Task(SentimentConfig, build, report, prepare=prepare, baselines=baselines, export=export_spec,
            search_space={"model.recurrent.bidirectional": {"choices": [False, True]},
                          "model.head_dropout": {"low": 0.0, "high": 0.5}})
