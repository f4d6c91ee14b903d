"""Sequence classification: an optional convolutional front end, a (bi)directional recurrent
stack, pooling over valid steps, and a linear layer to class logits.

Shape legend: T time, B batch, C input channels, F front-end channels, H hidden units,
D directions, K classes. Lengths ``(B,)`` travel through every stage: the front end keeps
padded steps at zero and divides lengths by its pooling; the recurrent stack stops each
sequence at its length; pooling reads valid steps only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

from rnnkit.functional import mask_from_lengths, sequence_summary
from rnnkit.models.sequence import RecurrentConfig, build_recurrent

Pooling = Literal["last", "mean", "max", "attention"]


@dataclass
class ClassifierConfig:
    """The recurrent stack, its front end and pooling.

    ``pooling``: ``last`` (each direction's final valid state), ``mean`` / ``max`` over valid
    steps, or ``attention`` (a learned score per step, softmax over valid steps).
    ``conv_channels`` > 0 adds ``conv_layers`` blocks of Conv1d (``conv_kernel``, same
    padding) + ReLU, then max-pooling over ``conv_pool`` steps, before the recurrent stack.
    """

    recurrent: RecurrentConfig = field(default_factory=lambda: RecurrentConfig(hidden_size=64, bidirectional=True))
    pooling: Pooling = "mean"
    conv_channels: int = 0
    conv_kernel: int = 5
    conv_layers: int = 1
    conv_pool: int = 1
    head_dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.conv_channels < 0 or self.conv_layers < 1 or self.conv_pool < 1:
            raise ValueError(f"model.conv_channels/conv_layers/conv_pool: expected >= 0, >= 1, >= 1, got "
                             f"{self.conv_channels}, {self.conv_layers}, {self.conv_pool}")
        if self.conv_kernel < 1 or self.conv_kernel % 2 == 0:
            raise ValueError(f"model.conv_kernel: expected an odd positive width (same padding), "
                             f"got {self.conv_kernel}")
        if not 0 <= self.head_dropout < 1:
            raise ValueError(f"model.head_dropout: expected a rate in [0, 1), got {self.head_dropout}")


class ConvFrontEnd(nn.Module):
    """``(T, B, C), lengths -> (ceil(T / pool), B, F), ceil(lengths / pool)``; padded steps stay zero."""

    def __init__(self, channels: int, config: ClassifierConfig) -> None:
        super().__init__()
        layers = []
        for i in range(config.conv_layers):
            layers.append(nn.Conv1d(channels if i == 0 else config.conv_channels, config.conv_channels,
                                    config.conv_kernel, padding=config.conv_kernel // 2))
        self.convs = nn.ModuleList(layers)
        self.pool = config.conv_pool

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        T = x.shape[0]
        mask = mask_from_lengths(lengths, T, x.device).T.unsqueeze(1)  # (B, 1, T)
        y = x.permute(1, 2, 0) * mask  # (B, C, T); whatever the padding holds, the convolutions see zeros
        for conv in self.convs:
            y = torch.relu(conv(y)) * mask  # zero past each length, so the next layer sees no padding
        if self.pool > 1:
            y = nn.functional.max_pool1d(y, self.pool, ceil_mode=True)  # values are >= 0: padding stays 0
            lengths = torch.div(lengths + self.pool - 1, self.pool, rounding_mode="floor")
        return y.permute(2, 0, 1), lengths  # (T', B, F)


class SequenceClassifier(nn.Module):
    """``(x (T, B, C), lengths (B,)) -> logits (B, K)``."""

    def __init__(self, channels: int, num_classes: int, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        self.front = ConvFrontEnd(channels, config) if config.conv_channels else None
        inputs = config.conv_channels or channels
        self.recurrent = build_recurrent(config.recurrent, inputs)
        width = self.recurrent.output_size * self.recurrent.num_directions
        self.attention = nn.Linear(width, 1) if config.pooling == "attention" else None
        self.dropout = nn.Dropout(config.head_dropout)
        self.head = nn.Linear(width, num_classes)

    def pool(self, output: Tensor, lengths: Tensor) -> Tensor:
        """``(T, B, D*H)`` -> ``(B, D*H)`` over each sequence's valid steps."""
        kind = self.config.pooling
        valid = mask_from_lengths(lengths, output.shape[0], output.device).unsqueeze(-1)  # (T, B, 1)
        if kind == "last":
            return sequence_summary(output, lengths, self.recurrent.bidirectional)
        if kind == "mean":
            return (output * valid).sum(0) / lengths.to(output.dtype).unsqueeze(-1)
        if kind == "max":
            return output.masked_fill(~valid, float("-inf")).max(0).values
        scores = self.attention(output).masked_fill(~valid, float("-inf"))  # (T, B, 1)
        return (torch.softmax(scores, dim=0) * output).sum(0)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        if lengths is None:
            lengths = torch.full((x.shape[1],), x.shape[0], dtype=torch.long)
        lengths = lengths.to(x.device)
        if self.front is not None:
            x, lengths = self.front(x, lengths)
        output, _ = self.recurrent(x, lengths=lengths)  # (T, B, D*H), zero past each length
        return self.head(self.dropout(self.pool(output, lengths)))
