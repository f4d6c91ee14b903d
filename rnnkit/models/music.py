"""A recurrent model of polyphonic music: the next piano-roll frame given the ones before it.

Shape legend: T frames, B pieces, P pitches, H hidden units.

    frames (T, B, P) of 0/1 -> dropout (input_dropout) -> recurrent stack (stops at each length)
      -> locked dropout (output_dropout) -> linear -> logits (T, B, P)

Each pitch of the next frame is a Bernoulli variable given the past (Boulanger-Lewandowski et
al. 2012's RNN baseline): ``sigmoid(logits)`` are the probabilities, the loss is the binary
cross-entropy summed over pitches, and sampling draws every pitch independently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from rnnkit.layers import LockedDropout
from rnnkit.models.sequence import RecurrentConfig, build_recurrent


@dataclass
class MusicModelConfig:
    """The recurrent stack (forward in time) and dropout on its input and output."""

    recurrent: RecurrentConfig = field(default_factory=lambda: RecurrentConfig(hidden_size=128))
    input_dropout: float = 0.0  # on the input notes (each note of each frame on its own)
    output_dropout: float = 0.0  # locked: one mask per piece over the top layer's outputs

    def __post_init__(self) -> None:
        for name in ("input_dropout", "output_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"model.{name}: expected a rate in [0, 1), got {getattr(self, name)}")
        if self.recurrent.bidirectional:
            raise ValueError("model.recurrent.bidirectional: the model predicts from the past; expected false")


class MusicModel(nn.Module):
    """``frames (T, B, P), state, lengths -> logits (T, B, P), state``; :meth:`step` for one frame."""

    def __init__(self, pitches: int, config: MusicModelConfig) -> None:
        super().__init__()
        self.config = config
        self.input_dropout = nn.Dropout(config.input_dropout)
        self.recurrent = build_recurrent(config.recurrent, pitches)
        self.output_dropout = LockedDropout(config.output_dropout)
        self.head = nn.Linear(self.recurrent.output_size, pitches)

    def forward(self, frames: Tensor, state: Any = None, lengths: Tensor | None = None) -> tuple[Tensor, Any]:
        output, state = self.recurrent(self.input_dropout(frames), state, lengths=lengths)
        return self.head(self.output_dropout(output)), state

    def step(self, frame: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """One frame per piece: ``frame (B, P)`` -> logits of the next ``(B, P)``, the state advanced."""
        output, state = self.recurrent.step(self.input_dropout(frame), state)
        return self.head(self.output_dropout(output.unsqueeze(0)))[0], state
