"""The acoustic model of CTC speech recognition (Graves et al. 2006; Graves & Jaitly 2014).

Shape legend: T frames, B batch, F features per frame, k the subsampling factor, H hidden
units, D directions, V labels with the blank (id 0).

    features (T, B, F), lengths (B,)
      -> SpecAugment masks (training only, optional)
      -> frame stacking: k consecutive frames side by side (T/k, B, kF), lengths ceil(len/k)
      -> locked dropout (input_dropout) -> stacked (bi)directional LSTM/GRU with lengths
      -> locked dropout (output_dropout) -> linear -> log-softmax (T/k, B, V)

Stacking frames (as in Sak et al. 2015's low-frame-rate models) shortens the recurrence k times
and lets one output step see k frames; the CTC output needs at least one step per label (and a
blank between repeated labels), so k is bounded by how fast the labels come.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from rnnkit.layers import LockedDropout, SpecAugment
from rnnkit.models.sequence import RecurrentConfig, build_recurrent


@dataclass
class AcousticConfig:
    """The recurrent stack (bidirectional: it reads whole utterances), frame stacking, dropout, SpecAugment."""

    recurrent: RecurrentConfig = field(default_factory=lambda: RecurrentConfig(
        hidden_size=128, num_layers=2, bidirectional=True))
    subsample: int = 2  # frames stacked per recurrent step
    input_dropout: float = 0.0
    output_dropout: float = 0.0
    spec_augment: bool = False
    freq_masks: int = 2
    freq_width: int = 8  # features (mel bands) at most per frequency mask
    time_masks: int = 2
    time_width: float = 0.1  # of the utterance's frames at most per time mask

    def __post_init__(self) -> None:
        if self.subsample < 1:
            raise ValueError(f"model.subsample: expected frames per step >= 1, got {self.subsample}")
        for name in ("input_dropout", "output_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"model.{name}: expected a rate in [0, 1), got {getattr(self, name)}")


def stack_frames(features: Tensor, lengths: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """``(T, B, F) -> (ceil(T/k), B, k F)``: frames ``k t .. k t + k - 1`` side by side (zero-padded
    at the end); lengths ``ceil(len / k)``."""
    if k == 1:
        return features, lengths
    steps, batch, size = features.shape
    padded = nn.functional.pad(features, (0, 0, 0, 0, 0, (-steps) % k))
    stacked = padded.view(-1, k, batch, size).permute(0, 2, 1, 3).reshape(-1, batch, k * size)
    return stacked, torch.div(lengths + k - 1, k, rounding_mode="floor")


class AcousticModel(nn.Module):
    """``features (T, B, F), lengths (B,) -> log_probs (T', B, V), lengths' (B,)``."""

    def __init__(self, num_features: int, num_labels: int, config: AcousticConfig) -> None:
        super().__init__()
        self.config = config
        self.augment = SpecAugment(config.freq_masks, config.freq_width, config.time_masks,
                                   config.time_width) if config.spec_augment else None
        self.input_dropout = LockedDropout(config.input_dropout)
        self.recurrent = build_recurrent(config.recurrent, config.subsample * num_features)
        self.output_dropout = LockedDropout(config.output_dropout)
        width = self.recurrent.output_size * self.recurrent.num_directions
        self.head = nn.Linear(width, num_labels)

    def forward(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        if self.augment is not None:
            features = self.augment(features, lengths)
        stacked, lengths = stack_frames(features, lengths, self.config.subsample)
        hidden, _ = self.recurrent(self.input_dropout(stacked), lengths=lengths)
        return torch.log_softmax(self.head(self.output_dropout(hidden)), dim=-1), lengths
