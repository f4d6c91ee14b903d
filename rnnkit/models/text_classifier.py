"""Text classification: token embeddings into the sequence classifier, and initialisation from
language models (the transfer of Dai & Le 2015 and Howard & Ruder 2018).

Shape legend: T time, B batch, V vocabulary, E embedding size, H hidden units, D directions,
K classes, G gate rows (4H for the LSTM, 3H for the GRU, H for the Elman RNN).

    ids (T, B), lengths (B,) -> embedding (rows dropped: embedding_dropout)
      -> locked dropout (input_dropout) -> SequenceClassifier: (bi)directional stack,
      pooling over each text's valid steps, head -> logits (B, K)

:func:`transfer_language_model` starts the embedding and the forward direction of the
recurrent stack from a trained language model with the same vocabulary, embedding size and
stack (cell, hidden size, layers). In a bidirectional stack, layer ``l > 0`` reads both
directions' outputs ``[h_fwd, h_bwd]`` (``2H`` columns) where the language model's layer read
``H``: the forward direction's input weights get the model's weights in the first ``H``
columns and zeros in the others, so before fine-tuning the forward direction computes exactly
what the language model computes. The backward direction keeps its initialisation and learns
from the labelled texts (on the pre-trained embeddings); ULMFiT's forward-only model is the
same choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from rnnkit.layers import EmbeddingDropout, LockedDropout
from rnnkit.models.classifier import ClassifierConfig, Pooling, SequenceClassifier
from rnnkit.models.sequence import RecurrentConfig


@dataclass
class TextClassifierConfig:
    """The embedding, then the sequence classifier's stack, pooling and head (no front end: tokens
    are already features)."""

    recurrent: RecurrentConfig = field(default_factory=lambda: RecurrentConfig(hidden_size=128, bidirectional=True))
    pooling: Pooling = "max"
    head_dropout: float = 0.0
    embedding_size: int = 128
    # where the embedding starts: null (random), glove-6b-50d (the vectors extra), or a path to vectors (a text
    # file of 'word v1 ... vD' lines, or a .npy with its words in a .txt beside it); embedding_size must match
    embedding: str | None = None
    embedding_vocabulary: int = 0  # with embedding: also give the vocabulary the vectors' N most frequent words
    embedding_dropout: float = 0.0  # drop whole vocabulary rows
    input_dropout: float = 0.0  # locked: one mask per text over the embeddings
    freeze_embedding: bool = False  # keep the (pre-trained) embedding as it is: fewer weights to fit

    def __post_init__(self) -> None:
        if self.embedding_vocabulary < 0 or (self.embedding_vocabulary and not self.embedding):
            raise ValueError(f"model.embedding_vocabulary: expected 0, or a positive count with model.embedding set, "
                             f"got {self.embedding_vocabulary} (embedding {self.embedding!r})")
        for name in ("embedding_dropout", "input_dropout", "head_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"model.{name}: expected a rate in [0, 1), got {getattr(self, name)}")


class TextClassifier(nn.Module):
    """``ids (T, B), lengths (B,) -> logits (B, K)``."""

    def __init__(self, vocab_size: int, num_classes: int, config: TextClassifierConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(vocab_size, config.embedding_size)
        self.embedding.weight.requires_grad_(not config.freeze_embedding)
        self.embed = EmbeddingDropout(self.embedding, config.embedding_dropout)
        self.input_dropout = LockedDropout(config.input_dropout)
        body = ClassifierConfig(recurrent=config.recurrent, pooling=config.pooling, head_dropout=config.head_dropout)
        self.body = SequenceClassifier(config.embedding_size, num_classes, body)

    def forward(self, ids: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.body(self.input_dropout(self.embed(ids)), lengths)


def transfer_language_model(classifier: TextClassifier, language_model: Mapping[str, Tensor]) -> list[str]:
    """Copy a language model's embedding and recurrent weights (its state dict, with names
    ``embedding.*`` and ``recurrent.*`` as :class:`~rnnkit.models.language.LanguageModel`
    has them) into ``classifier``'s embedding and forward direction. Returns the names set.

    Raises ``ValueError`` when the vocabularies, embeddings or stacks differ in shape.
    """
    target = classifier.state_dict()
    source = language_model["embedding.weight"]
    if source.shape != target["embedding.weight"].shape:
        raise ValueError(f"language model embedding {tuple(source.shape)} does not match the classifier's "
                         f"{tuple(target['embedding.weight'].shape)}: expected the same vocabulary and embedding size")
    updates = {"embedding.weight": source}
    for name, value in target.items():
        if not name.startswith("body.recurrent.") or name.endswith("_reverse"):
            continue
        key = "recurrent." + name[len("body.recurrent."):]
        if key not in language_model:
            raise ValueError(f"{name}: the language model has no {key!r}; expected the same cell and layer norm")
        weight = language_model[key]
        if weight.shape == value.shape:
            updates[name] = weight
        elif weight.dim() == 2 and weight.shape[0] == value.shape[0] and value.shape[1] == 2 * weight.shape[1]:
            widened = torch.zeros_like(value)  # layer > 0 of a bidirectional stack: [h_fwd | h_bwd] columns
            widened[:, : weight.shape[1]] = weight
            updates[name] = widened
        else:
            raise ValueError(f"{name}: shape {tuple(value.shape)} does not fit the language model's "
                             f"{tuple(weight.shape)}; expected the same hidden size and number of layers")
    missing = [k for k in language_model if k.startswith("recurrent.")
               and "body." + k not in target]
    if missing:
        raise ValueError(f"the language model has {missing[:3]} that the classifier lacks; expected the same "
                         f"number of layers")
    with torch.no_grad():
        for name, weight in updates.items():
            target[name].copy_(weight.to(target[name]))
    return sorted(updates)
