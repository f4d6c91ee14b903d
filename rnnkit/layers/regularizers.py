"""Regularizer modules for model code: explicit mask shapes, explicit eval behaviour.

The recurrent ones (recurrent dropout, zoneout, weight drop) are layer arguments of
``rk.RNN``/``rk.LSTM``/``rk.GRU``; these act on a model's inputs, outputs and embeddings.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.functional import embedding_dropout, locked_dropout, spec_augment


class LockedDropout(nn.Module):
    """Variational dropout: one ``(1, B, H)`` mask per sequence, shared over time; identity at eval.

    Input ``(T, B, H)``, or ``(B, T, H)`` with ``batch_first=True``.
    """

    def __init__(self, p: float = 0.5, batch_first: bool = False) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"p: expected a probability in [0, 1), got {p!r}")
        self.p = p
        self.batch_first = batch_first

    def forward(self, x: Tensor) -> Tensor:
        if self.batch_first:
            return locked_dropout(x.transpose(0, 1), self.p, self.training).transpose(0, 1)
        return locked_dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, batch_first={self.batch_first}"


class EmbeddingDropout(nn.Module):
    """An embedding whose rows (whole words) drop out together in training; mask ``(V, 1)``.

    Wraps an ``nn.Embedding`` (its ``weight`` stays the one parameter, untouched).
    """

    def __init__(self, embedding: nn.Embedding, p: float = 0.1) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"p: expected a probability in [0, 1), got {p!r}")
        self.embedding = embedding
        self.p = p

    @property
    def weight(self) -> Tensor:
        return self.embedding.weight

    def forward(self, ids: Tensor) -> Tensor:
        weight = embedding_dropout(self.embedding.weight, self.p, self.training)
        e = self.embedding
        return F.embedding(ids, weight, e.padding_idx, e.max_norm, e.norm_type, e.scale_grad_by_freq, e.sparse)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class SpecAugment(nn.Module):
    """SpecAugment's frequency and time masks in training, identity at eval. ``(T, B, F)`` with
    ``lengths (B,)``; see :func:`rnnkit.functional.regularizers.spec_augment`."""

    def __init__(self, freq_masks: int = 2, freq_width: int = 8, time_masks: int = 2, time_width: float = 0.1) -> None:
        super().__init__()
        if min(freq_masks, freq_width, time_masks) < 0 or not 0 <= time_width <= 1:
            raise ValueError(f"SpecAugment: expected counts and widths >= 0 and time_width in [0, 1], got "
                             f"{freq_masks}, {freq_width}, {time_masks}, {time_width}")
        self.freq_masks, self.freq_width, self.time_masks, self.time_width = freq_masks, freq_width, time_masks, time_width

    def forward(self, features: Tensor, lengths: Tensor | None = None) -> Tensor:
        return spec_augment(features, lengths, self.freq_masks, self.freq_width, self.time_masks, self.time_width,
                            self.training)

    def extra_repr(self) -> str:
        return (f"freq_masks={self.freq_masks}, freq_width={self.freq_width}, time_masks={self.time_masks}, "
                f"time_width={self.time_width}")
