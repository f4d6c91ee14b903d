"""The texts of a sentiment run: loading, the train / validation / test parts, token ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.data.text import LabeledTexts, Level, Vocabulary, load_polarity, read_labeled_texts, word_level_problem
from rnnkit.extras import require
from rnnkit.tasks.sentiment.config import SentimentDataConfig


def choose_level(level: str, texts: Sequence[str]) -> tuple[Level, str]:
    """The token level for ``texts`` (the training texts) and what to tell the user about it.

    ``auto``: words, unless :func:`~rnnkit.data.text.word_level_problem` finds that splitting on
    white space gives no words, then characters. ``word`` asked for on such texts is an error
    that says why: a model that sees one token per text learns nothing and says nothing."""
    problem = word_level_problem(texts)
    if level == "auto":
        if problem:
            return "char", f"data.level: characters (auto: {problem})"
        return "word", "data.level: words (auto: the texts split into words on white space)"
    if level == "word" and problem:
        raise ValueError(f"data.level word: {problem}, so a word-level model would learn next to nothing; use "
                         f"--set data.level=char (or bpe, or auto)")
    return level, f"data.level: {level} (as set)"


def load_texts(config: SentimentDataConfig) -> LabeledTexts:
    if config.name == "polarity":
        return load_polarity()
    return read_labeled_texts(config.path, config.text_column, config.label_column, config.part_column)


def split_indices(data: LabeledTexts, config: SentimentDataConfig) -> dict[str, np.ndarray]:
    """The rows of ``train``, ``val`` and ``test``, as the config says: the file's part column, or
    ``folds``-fold stratified cross-validation (test = fold ``fold``), or a seeded stratified
    split (``validation_fraction`` and ``test_fraction`` of the whole)."""
    model_selection = require("sklearn.model_selection", "splitting the texts", extra="text")
    StratifiedKFold, train_test_split = model_selection.StratifiedKFold, model_selection.train_test_split

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
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def split_parts(data: LabeledTexts, config: SentimentDataConfig) -> dict[str, LabeledTexts]:
    """The texts of each part (:func:`split_indices`)."""
    return {name: data.subset(rows) for name, rows in split_indices(data, config).items()}


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
