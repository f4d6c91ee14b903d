"""``rk.ExpRNN``: stacks of :class:`~rnnkit.cells.orthogonal.ExpRNNCell`, the orthogonal-recurrence
RNN, with what every rnnkit layer has (lengths, bidirectional, stacking, ``step`` streaming).

Each call computes every layer's ``B = exp(A - A^T)`` once (``torch.nn.utils.parametrize.cached``),
not once per step: the matrix exponential costs about ``20 H^3`` flops, a step ``2 B H^2``.
"""

from __future__ import annotations

from typing import Any, Literal

from torch import Tensor
from torch.nn.utils import parametrize

from rnnkit.cells.orthogonal import ExpRNNCell
from rnnkit.layers.generic import Recurrent


class ExpRNN(Recurrent):
    """ExpRNN layers (Lezcano-Casado & Martínez-Rubio 2019): ``h_t = modrelu(W x_t + b + B h_{t-1})``,
    ``B`` orthogonal. ``forward(input (T, B, I), states=None, lengths=None) -> (output (T, B, D*H),
    states)``, as :class:`~rnnkit.layers.generic.Recurrent` (states: a list of ``(B, H)``, one per
    layer and direction). ``init``: the skew matrix's start (``"henaff"`` or ``"zero"``)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
                 batch_first: bool = False, dropout: float = 0.0, init: Literal["henaff", "zero"] = "henaff") -> None:
        super().__init__(lambda n: ExpRNNCell(n, hidden_size, init), input_size, num_layers, bidirectional,
                         batch_first, dropout)
        self.hidden_size = hidden_size

    def forward(self, input: Any, hx: Any = None, lengths: Any = None) -> tuple[Any, Any]:
        with parametrize.cached():
            return super().forward(input, hx, lengths)

    def step(self, x: Tensor, hx: Any = None) -> tuple[Tensor, Any]:
        with parametrize.cached():
            return super().step(x, hx)
