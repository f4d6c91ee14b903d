"""``rk.MinGRU`` and ``rk.MinLSTM``: trained in parallel over time, streamed one step at a time.

``forward`` computes every step at once with the log-space scan
(:func:`rnnkit.functional.minrnn.parallel_scan_log`); ``impl="loop"`` runs the same cells
step by step (the readable reference, tested equal); ``step`` streams with carried state.
Inputs, lengths and results follow :class:`rk.GRU`: ``(T, B, I)`` (or batch-first), ``hx``
``(L, B, H)``, outputs zero past each length, ``h_n`` the state at each last valid step.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.cells.minrnn import MinGRUCell, MinLSTMCell, MinRNNCell
from rnnkit.functional import last_valid, mask_from_lengths
from rnnkit.functional.minrnn import min_gru_log_terms, min_lstm_log_terms, parallel_scan_log
from rnnkit.layers.base import time_major_with_lengths
from rnnkit.layers.checks import check_input, check_state


class MinRNN(nn.Module):
    """A stack of minGRU or minLSTM layers (unidirectional: their point is causal parallel training)."""

    cell_class: type[MinRNNCell] = MinGRUCell

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, impl: str = "scan",
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers: expected an int >= 1, got {num_layers!r}")
        if impl not in ("scan", "loop"):
            raise ValueError(f"impl: expected 'scan' or 'loop', got {impl!r}")
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.cells = nn.ModuleList(self.cell_class(n, hidden_size, bias, device, dtype) for n in sizes)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.batch_first, self.impl = batch_first, impl
        self.bidirectional, self.num_directions = False, 1

    @property
    def output_size(self) -> int:
        return self.hidden_size

    def initial_state(self, batch_size: int) -> Tensor:
        w = self.cells[0].weight_ih
        return torch.zeros(self.num_layers, batch_size, self.hidden_size, device=w.device, dtype=w.dtype)

    def _log_terms(self, cell: MinRNNCell, x: Tensor) -> tuple[Tensor, Tensor]:
        terms = min_gru_log_terms if cell.kind == "mingru" else min_lstm_log_terms
        return terms(x, cell.weight_ih, cell.bias_ih)

    def forward(self, input: Tensor, hx: Tensor | None = None, lengths: Any = None) -> tuple[Tensor, Tensor]:
        """``(T, B, I)`` -> ``(output (T, B, H), h_n (L, B, H))``; see the module docstring."""
        weight = self.cells[0].weight_ih
        x = check_input(input, self.input_size, weight, self.batch_first)
        if x.dim() != 3:
            raise ValueError(f"expected a batched input of 3 dims, got shape {tuple(x.shape)}")
        x, lengths = time_major_with_lengths(x.transpose(0, 1) if self.batch_first else x, lengths)
        T, B = x.shape[0], x.shape[1]
        states = (check_state("hx", hx, (self.num_layers, B, self.hidden_size), x).unbind(0)
                  if hx is not None else [None] * self.num_layers)
        finals = []
        for cell, h0 in zip(self.cells, states):
            if self.impl == "scan":
                log_a, log_b = self._log_terms(cell, x)
                x = parallel_scan_log(log_a, log_b, h0)  # (T, B, H)
            else:
                h, outputs = (h0 if h0 is not None else cell.initial_state(B)), []
                for x_t in x.unbind(0):
                    h, _ = cell.step(x_t, h)
                    outputs.append(h)
                x = torch.stack(outputs)
            finals.append(last_valid(x, lengths))  # the state at each last valid step
        if lengths is not None:  # causal: padding never reaches the valid steps; zero its outputs
            x = x.masked_fill(~mask_from_lengths(lengths, T, x.device)[..., None], 0.0)
        output = x.transpose(0, 1) if self.batch_first else x
        return output, torch.stack(finals)

    def step(self, x: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One step through the stack: ``x``: ``(B, I)``, ``hx``: ``(L, B, H)`` or None -> ``(h_t, hx)``."""
        if hx is None:
            hx = self.initial_state(x.shape[0])
        finals = []
        for cell, h in zip(self.cells, hx.unbind(0)):
            x, _ = cell.step(x, h)
            finals.append(x)
        return x, torch.stack(finals)


class MinGRU(MinRNN):
    """Stacked minGRU (Feng et al. 2024). Args: input_size, hidden_size, num_layers, bias,
    batch_first, impl (``"scan"`` parallel, ``"loop"`` sequential), device, dtype."""

    cell_class = MinGRUCell


class MinLSTM(MinRNN):
    """Stacked minLSTM (Feng et al. 2024). Arguments as :class:`MinGRU`."""

    cell_class = MinLSTMCell
