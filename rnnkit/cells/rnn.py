"""The Elman RNN cell (Elman 1990): ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``.

Parameters (torch.nn layout): ``weight_ih (H, I)``, ``weight_hh (H, H)``, ``bias_ih (H,)``,
``bias_hh (H,)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rnnkit.cells.base import CellSpec, RecurrentCell, Weights
from rnnkit.cells.init import Init
from rnnkit.functional import rnn_recurrence

NONLINEARITIES = ("tanh", "relu")


@dataclass(frozen=True)
class RNNSpec(CellSpec):
    nonlinearity: str = "tanh"

    num_gates = 1
    family = "rnn"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity: expected one of {list(NONLINEARITIES)}, got {self.nonlinearity!r}")

    def recur(self, xg: Tensor, state: Tensor, weights: Weights, recurrent_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return rnn_recurrence(
            xg, state, **self.recurrent_weights(weights), nonlinearity=self.nonlinearity, recurrent_mask=recurrent_mask
        )


class RNNCell(RecurrentCell):
    """Elman RNN cell with ``tanh`` or ``relu``; loads a ``torch.nn.RNNCell`` state_dict.

    Args:
        input_size (I), hidden_size (H), bias, nonlinearity: as ``torch.nn.RNNCell``.
        init: preset name or :class:`~rnnkit.cells.init.Init` (``"irnn"`` for Le et al. 2015).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        init: str | Init = "torch",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(RNNSpec(input_size, hidden_size, bias, nonlinearity), init, device, dtype)
