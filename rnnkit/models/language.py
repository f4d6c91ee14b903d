"""A recurrent language model with the AWD-LSTM regularizers (Merity et al. 2018) as options.

Shape legend: T time, B batch, V vocabulary, E embedding size, H hidden units.

    ids (T, B) -> embedding (rows dropped: embedding_dropout) -> locked dropout (input_dropout)
      -> recurrent stack (dropout between layers, weight_drop, recurrent_dropout, zoneout)
      -> locked dropout (output_dropout) -> [projection H -> E when tied and H != E]
      -> decoder (weights tied to the embedding: tie_weights) -> logits (T, B, V)

The recurrent state is explicit in and out, so training carries it across truncated-BPTT
chunks and generation streams one token at a time (:meth:`LanguageModel.step`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from rnnkit.layers import EmbeddingDropout, LockedDropout
from rnnkit.models.sequence import RecurrentConfig, build_recurrent


@dataclass
class LanguageModelConfig:
    """The recurrent stack (forward in time), the embedding, the decoder and their regularizers."""

    recurrent: RecurrentConfig = field(default_factory=lambda: RecurrentConfig(hidden_size=256, num_layers=2))
    embedding_size: int = 128
    embedding_dropout: float = 0.0  # drop whole vocabulary rows (the same for every use of a token)
    input_dropout: float = 0.0  # locked: one mask per sequence over the embeddings
    output_dropout: float = 0.0  # locked: over the last layer's outputs
    tie_weights: bool = True  # decoder weight = embedding weight (Press & Wolf 2017; Inan et al. 2017)
    activation_regularization: float = 0.0  # AR: alpha * mean(h^2) of the (dropped) outputs
    temporal_activation_regularization: float = 0.0  # TAR: beta * mean((h_t - h_{t-1})^2)

    def __post_init__(self) -> None:
        for name in ("embedding_dropout", "input_dropout", "output_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"model.{name}: expected a rate in [0, 1), got {getattr(self, name)}")
        if self.recurrent.bidirectional:
            raise ValueError("model.recurrent.bidirectional: a language model predicts from the past; expected false")


class LanguageModel(nn.Module):
    """``ids (T, B), state -> logits (T, B, V), state``; :meth:`step` for one token at a time."""

    def __init__(self, vocab_size: int, config: LanguageModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(vocab_size, config.embedding_size)
        self.embed = EmbeddingDropout(self.embedding, config.embedding_dropout)
        self.input_dropout = LockedDropout(config.input_dropout)
        self.recurrent = build_recurrent(config.recurrent, config.embedding_size)
        self.output_dropout = LockedDropout(config.output_dropout)
        width = self.recurrent.output_size
        self.project = None
        if config.tie_weights and width != config.embedding_size:
            self.project = nn.Linear(width, config.embedding_size)
            width = config.embedding_size
        self.decoder = nn.Linear(width, vocab_size)
        if config.tie_weights:
            self.decoder.weight = self.embedding.weight

    def hidden(self, ids: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """The top layer's dropped outputs ``(T, B, H)`` (what AR/TAR regularize) and the new state."""
        x = self.input_dropout(self.embed(ids))  # (T, B, E)
        output, state = self.recurrent(x, state)
        return self.output_dropout(output), state

    def logits(self, hidden: Tensor) -> Tensor:
        return self.decoder(self.project(hidden) if self.project is not None else hidden)

    def forward(self, ids: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        hidden, state = self.hidden(ids, state)
        return self.logits(hidden), state

    def step(self, ids: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """One token per sequence: ``ids (B,)`` -> logits ``(B, V)``, the carried state advanced."""
        output, state = self.recurrent.step(self.embed(ids), state)
        return self.logits(self.output_dropout(output.unsqueeze(0)))[0], state
