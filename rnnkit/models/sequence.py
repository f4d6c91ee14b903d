"""A recurrent stack with a linear read-out: the model behind sequence regression and labelling.

Shape legend: B batch, T time, I input features, O outputs, H hidden units, D directions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from torch import Tensor, nn

import rnnkit.layers as L
from rnnkit.cells import Init
from rnnkit.functional import sequence_summary

Cell = Literal["rnn", "rnn_relu", "lstm", "gru", "mingru", "minlstm", "exprnn"]


@dataclass
class RecurrentConfig:
    """The recurrent stack: which cell, how big, which variants and regularizers.

    ``init``: a preset (``torch``, ``xavier``, ``irnn``), ``chrono`` (Tallec & Ollivier 2018,
    with ``chrono_max_length``), or ``recommended``: orthogonal recurrent weights for the
    Elman RNN, identity for its ReLU form (IRNN), chrono for the LSTM and the GRU.
    """

    cell: Cell = "lstm"
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    zoneout: float = 0.0
    weight_drop: float = 0.0
    layer_norm: bool = False
    init: Literal["torch", "xavier", "irnn", "chrono", "recommended"] = "torch"
    chrono_max_length: int = 100
    impl: Literal["auto", "torch", "rnnkit", "loop"] = "auto"


@dataclass
class SequenceModelConfig:
    """A recurrent stack and a linear read-out (:class:`SequenceModel`)."""

    recurrent: RecurrentConfig = field(default_factory=RecurrentConfig)


def _init_for(config: RecurrentConfig) -> str | Init:
    if config.init == "chrono" or (config.init == "recommended" and config.cell in ("lstm", "gru")):
        return Init.chrono(config.chrono_max_length)
    if config.init == "recommended":
        return "irnn" if config.cell == "rnn_relu" else "xavier"
    return config.init


def build_recurrent(config: RecurrentConfig, input_size: int) -> nn.Module:
    """``rk.RNN``, ``rk.LSTM``, ``rk.GRU``, ``rk.MinGRU``, ``rk.MinLSTM`` or ``rk.ExpRNN`` as ``config``
    says, time-major. ExpRNN (the orthogonal recurrence) starts from Henaff et al.'s rotations
    whatever ``init`` says."""
    if config.cell in ("mingru", "minlstm", "exprnn"):
        off = (("recurrent_dropout", 0.0), ("zoneout", 0.0), ("weight_drop", 0.0), ("layer_norm", False))
        if config.cell != "exprnn":
            off += (("bidirectional", False), ("dropout", 0.0))
        unsupported = [name for name, value in off if getattr(config, name) != value]
        if unsupported:
            raise ValueError(f"model.recurrent.cell={config.cell!r}: expected none of {unsupported} (not defined "
                             f"for it)")
        if config.cell == "exprnn":
            return L.ExpRNN(input_size, config.hidden_size, num_layers=config.num_layers,
                            bidirectional=config.bidirectional, dropout=config.dropout)
        layer = L.MinGRU if config.cell == "mingru" else L.MinLSTM
        return layer(input_size, config.hidden_size, num_layers=config.num_layers,
                     impl="loop" if config.impl == "loop" else "scan")
    common = dict(
        num_layers=config.num_layers, bidirectional=config.bidirectional, dropout=config.dropout,
        recurrent_dropout=config.recurrent_dropout, zoneout=config.zoneout, weight_drop=config.weight_drop,
        init=_init_for(config), impl=config.impl,
    )
    if config.cell in ("rnn", "rnn_relu"):
        if config.layer_norm:
            raise ValueError("model.recurrent.layer_norm: expected an LSTM or GRU cell, got the Elman RNN")
        nonlinearity = "relu" if config.cell == "rnn_relu" else "tanh"
        return L.RNN(input_size, config.hidden_size, nonlinearity=nonlinearity, **common)
    if config.cell == "lstm":
        return L.LSTM(input_size, config.hidden_size, layer_norm=config.layer_norm, **common)
    return L.GRU(input_size, config.hidden_size, layer_norm=config.layer_norm, **common)


class SequenceModel(nn.Module):
    """Recurrent stack + linear head. ``readout="last"``: ``(T, B, I) -> (B, O)`` from each
    sequence's last valid step (both directions' ends when bidirectional); ``"all"``:
    ``(T, B, I) -> (T, B, O)``, one output per step.
    """

    def __init__(self, input_size: int, output_size: int, config: RecurrentConfig,
                 readout: Literal["last", "all"] = "last") -> None:
        super().__init__()
        self.recurrent = build_recurrent(config, input_size)
        self.readout = readout
        width = self.recurrent.output_size * self.recurrent.num_directions
        self.head = nn.Linear(width, output_size)

    def hidden(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """The top layer's outputs ``(T, B, D*H)`` (what the gradient-flow probe looks at)."""
        output, _ = self.recurrent(x, lengths=lengths)
        return output

    def head_of(self, hidden: Tensor, lengths: Tensor | None = None) -> Tensor:
        if self.readout == "all":
            return self.head(hidden)
        return self.head(sequence_summary(hidden, lengths, self.recurrent.bidirectional))

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.head_of(self.hidden(x, lengths), lengths)
