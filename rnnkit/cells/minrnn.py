"""minGRU and minLSTM cells (Feng et al. 2024): gates that read only the input.

Equations: :mod:`rnnkit.functional.minrnn`. Parameters: ``weight_ih`` ``(G*H, I)`` with gate
blocks ``(z, h)`` for minGRU (G = 2) or ``(f, i, h)`` for minLSTM (G = 3), and ``bias_ih``
``(G*H,)``; there is no recurrent weight. Initialization: torch's uniform
``U(-1/sqrt(H), 1/sqrt(H))``, as ``torch.nn.Linear`` would give a layer of ``H`` units.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnkit.functional.minrnn import min_gru_step, min_lstm_step


class MinRNNCell(nn.Module):
    """Shared body of :class:`MinGRUCell` and :class:`MinLSTMCell`; the state is ``h``: ``(B, H)``."""

    num_gates = 2
    kind = "mingru"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {value!r}")
        self.input_size, self.hidden_size = input_size, hidden_size
        G = self.num_gates
        self.weight_ih = nn.Parameter(torch.empty(G * hidden_size, input_size, device=device, dtype=dtype))
        self.bias_ih = nn.Parameter(torch.empty(G * hidden_size, device=device, dtype=dtype)) if bias else None
        self.reset_parameters()

    @property
    def output_size(self) -> int:
        return self.hidden_size

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def initial_state(self, batch_size: int) -> Tensor:
        return torch.zeros(batch_size, self.hidden_size, device=self.weight_ih.device, dtype=self.weight_ih.dtype)

    def step(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``x``: ``(B, I)``, ``state``: ``(B, H)`` or None (zeros) -> ``(h_t, h_t)``."""
        if x.dim() != 2 or x.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}.step: expected x of shape (batch, {self.input_size}), got {tuple(x.shape)}")
        if state is None:
            state = self.initial_state(x.shape[0])
        step = min_gru_step if self.kind == "mingru" else min_lstm_step
        h = step(x, state, self.weight_ih, self.bias_ih)
        return h, h

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.step(x, state)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"


class MinGRUCell(MinRNNCell):
    """minGRU: ``h_t = (1 - z_t) h_{t-1} + z_t g(W_h x_t + b_h)``, ``z_t = sigmoid(W_z x_t + b_z)``."""

    num_gates = 2
    kind = "mingru"


class MinLSTMCell(MinRNNCell):
    """minLSTM: ``h_t = f'_t h_{t-1} + i'_t g(W_h x_t + b_h)`` with normalized input-only gates."""

    num_gates = 3
    kind = "minlstm"
