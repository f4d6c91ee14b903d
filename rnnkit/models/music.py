"""A recurrent model of polyphonic music: the next piano-roll frame given the ones before it.

Shape legend: T frames, B pieces, P pitches, H hidden units.

    frames (T, B, P) of 0/1 -> dropout (input_dropout) -> recurrent stack (stops at each length)
      -> locked dropout (output_dropout) -> features (T, B, H) -> the output layer

``output: independent``: each pitch of the next frame is a Bernoulli variable given the past
(Boulanger-Lewandowski et al. 2012's RNN baseline): ``sigmoid(logits)`` are the probabilities,
the loss is the binary cross-entropy summed over pitches, and sampling draws every pitch on its
own. ``output: nade``: RNN-NADE (the same paper): the pitches of a frame modelled jointly, each
given the ones below it and the past (:class:`rnnkit.models.nade.NADE`); exact likelihood,
sampling pitch by pitch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from rnnkit.layers import LockedDropout
from rnnkit.models.nade import NADE, IndependentNotes
from rnnkit.models.sequence import RecurrentConfig, build_recurrent


@dataclass
class MusicModelConfig:
    """The recurrent stack (forward in time) and dropout on its input and output."""

    recurrent: RecurrentConfig = field(default_factory=lambda: RecurrentConfig(hidden_size=128))
    input_dropout: float = 0.0  # on the input notes (each note of each frame on its own)
    output_dropout: float = 0.0  # locked: one mask per piece over the top layer's outputs
    output: Literal["independent", "nade"] = "independent"  # the notes of a frame: each on its own, or jointly
    nade_hidden: int = 150  # output: nade: its hidden units

    def __post_init__(self) -> None:
        if self.output not in ("independent", "nade"):
            raise ValueError(f"model.output: expected 'independent' or 'nade', got {self.output!r}")
        if isinstance(self.nade_hidden, bool) or not isinstance(self.nade_hidden, int) or self.nade_hidden < 1:
            raise ValueError(f"model.nade_hidden: expected a positive int, got {self.nade_hidden!r}")
        for name in ("input_dropout", "output_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"model.{name}: expected a rate in [0, 1), got {getattr(self, name)}")
        if self.recurrent.bidirectional:
            raise ValueError("model.recurrent.bidirectional: the model predicts from the past; expected false")


class MusicModel(nn.Module):
    """``frames (T, B, P), state, lengths -> features (T, B, H), state``; :meth:`nll` and
    :meth:`sample` from them through the output layer; :meth:`step` for one frame."""

    def __init__(self, pitches: int, config: MusicModelConfig) -> None:
        super().__init__()
        self.config = config
        self.pitches = pitches
        self.input_dropout = nn.Dropout(config.input_dropout)
        self.recurrent = build_recurrent(config.recurrent, pitches)
        self.output_dropout = LockedDropout(config.output_dropout)
        size = self.recurrent.output_size
        self.head = NADE(size, pitches, config.nade_hidden) if config.output == "nade" else \
            IndependentNotes(size, pitches)

    def forward(self, frames: Tensor, state: Any = None, lengths: Tensor | None = None) -> tuple[Tensor, Any]:
        output, state = self.recurrent(self.input_dropout(frames), state, lengths=lengths)
        return self.output_dropout(output), state

    def step(self, frame: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """One frame per piece: ``frame (B, P)`` -> the features that predict the next ``(B, H)``, the state advanced."""
        output, state = self.recurrent.step(self.input_dropout(frame), state)
        return self.output_dropout(output.unsqueeze(0))[0], state

    def nll(self, features: Tensor, next_frames: Tensor) -> Tensor:
        """``features (..., H)``, ``next_frames (..., P)`` -> each frame's negative log-likelihood ``(...)``."""
        return self.head.nll(features, next_frames)

    def sample(self, features: Tensor, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """The next frame ``(..., P)`` of 0/1 drawn from the output layer at ``temperature``."""
        return self.head.sample(features, temperature, generator)

    def logits(self, features: Tensor) -> Tensor:
        """Each pitch's logit ``(..., P)`` (the independent output only: NADE's depend on the notes below)."""
        if not isinstance(self.head, IndependentNotes):
            raise ValueError("model.output: nade: a pitch's probability depends on the pitches drawn below it, so "
                             "there are no per-pitch logits to give; use nll() or sample()")
        return self.head.logits(features)
