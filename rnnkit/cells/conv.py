"""Convolutional cells: ConvLSTM (Shi et al. 2015) and ConvGRU (Ballas et al. 2016).

The gates are 2-D convolutions and the state is a feature map ``(B, C, H, W)`` of the
frame's size. Equations: :mod:`rnnkit.functional.conv`. Parameters, named and ordered as
torch.nn's (gate order ``(i, f, g, o)`` for the LSTM, ``(r, z, n)`` for the GRU), each
weight a stack of ``G`` blocks of ``C`` output channels:

==================  ===================  ==============================================
name                shape                role
==================  ===================  ==============================================
``weight_ih``       (G*C, I, k, k)       input kernels W_x
``weight_hh``       (G*C, C, k, k)       recurrent kernels W_h
``bias_ih``         (G*C,)               input bias (``bias=True``)
``bias_hh``         (G*C,)               recurrent bias (``bias=True``)
``weight_ch``       (3C, H, W) | (3C,    ConvLSTM peepholes W_ci, W_cf, W_co
                    1, 1)                (``peephole=True``; over the whole state with
                                         ``frame_size``, else one per channel)
==================  ===================  ==============================================

Initialization is the other cells' (:mod:`rnnkit.cells.init`), per gate block of ``C``
output channels. With ``kernel_size=1`` on a ``1 x 1`` frame a ConvLSTM is an LSTM (with
peepholes) and a ConvGRU a reset-before GRU, weight for weight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rnnkit.cells.base import CellSpec, RecurrentCell, Weights, _check_size
from rnnkit.cells.init import Init
from rnnkit.functional.conv import ConvLSTMState, conv_gru_recurrence, conv_lstm_recurrence, conv_projection

Frame = tuple[int, int]


@dataclass(frozen=True)
class ConvSpec(CellSpec):
    """``input_size``: input channels I; ``hidden_size``: hidden channels C."""

    kernel_size: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_size("kernel_size", self.kernel_size)
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: expected an odd size (the state keeps the frame's size), "
                             f"got {self.kernel_size}")

    @property
    def fusable(self) -> bool:
        return False

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        G, C, k = self.num_gates, self.hidden_size, self.kernel_size
        shapes: dict[str, tuple[int, ...]] = {"weight_ih": (G * C, self.input_size, k, k),
                                              "weight_hh": (G * C, C, k, k)}
        if self.bias:
            shapes["bias_ih"] = (G * C,)
            shapes["bias_hh"] = (G * C,)
        return shapes

    def zero_state(self, batch_size: int, device: torch.device, dtype: torch.dtype, frame: Frame = (1, 1)) -> Any:
        return torch.zeros(batch_size, self.hidden_size, *frame, device=device, dtype=dtype)

    def project(self, x: Tensor, weights: Weights) -> Tensor:
        """``(*, I, H, W) -> (*, G*C, H, W)``: the input's contribution to the gates."""
        return conv_projection(x, weights["weight_ih"], weights.get("bias_ih"))


@dataclass(frozen=True)
class ConvLSTMSpec(ConvSpec):
    peephole: bool = True
    frame_size: Frame | None = None  # peepholes over the whole state (the paper's), else one per channel

    num_gates = 4
    forget_gate = 1
    chrono_gates = (1, 0)
    family = "lstm"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.peephole, bool):
            raise TypeError(f"peephole: expected True or False, got {self.peephole!r}")
        if self.frame_size is not None and (len(self.frame_size) != 2 or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in self.frame_size)):
            raise ValueError(f"frame_size: expected (height, width) in pixels or None, got {self.frame_size!r}")

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = super().parameter_shapes()
        if self.peephole:
            shapes["weight_ch"] = (3 * self.hidden_size, *(self.frame_size or (1, 1)))
        return shapes

    def zero_state(self, batch_size: int, device: torch.device, dtype: torch.dtype,
                   frame: Frame = (1, 1)) -> ConvLSTMState:
        zeros = super().zero_state(batch_size, device, dtype, frame)
        return zeros, zeros.clone()

    def recur(self, xg: Tensor, state: ConvLSTMState, weights: Weights,
              recurrent_mask: Tensor | None = None) -> tuple[Tensor, ConvLSTMState]:
        return conv_lstm_recurrence(xg, state, **self.recurrent_weights(weights), recurrent_mask=recurrent_mask)


@dataclass(frozen=True)
class ConvGRUSpec(ConvSpec):
    num_gates = 3
    chrono_gates = (1, None)  # (update, -)
    family = "gru"

    def recur(self, xg: Tensor, state: Tensor, weights: Weights,
              recurrent_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return conv_gru_recurrence(xg, state, **self.recurrent_weights(weights), recurrent_mask=recurrent_mask)


class ConvCell(RecurrentCell):
    """A convolutional cell module: ``step(x (B, I, H, W), state) -> (h (B, C, H, W), state)``."""

    spec: ConvSpec

    def initial_state(self, batch_size: int, frame_size: Frame = (1, 1)) -> Any:
        """The zero state of ``batch_size`` sequences of ``frame_size`` frames."""
        w = self.weight_hh
        return self.spec.zero_state(batch_size, w.device, w.dtype, tuple(frame_size))

    def step(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """One time step: ``x (B, I, H, W)`` -> ``(h_t (B, C, H, W), new state)``; ``None`` is zeros."""
        if x.dim() != 4 or x.shape[1] != self.input_size:
            raise ValueError(f"{type(self).__name__}.step: expected x of shape (batch, {self.input_size}, height, "
                             f"width), got {tuple(x.shape)}")
        if state is None:
            state = self.initial_state(x.shape[0], x.shape[-2:])
        return self.recur(self.project_input(x), state)


class ConvLSTMCell(ConvCell):
    """ConvLSTM cell (Shi et al. 2015); the state is ``(H, C)``, each ``(B, hidden, height, width)``.

    Args:
        input_channels (I), hidden_channels (C), kernel_size (odd k), bias.
        peephole: the paper's peepholes (on by default, as in the paper).
        frame_size: ``(height, width)``: peephole weights over the whole state, as the paper;
            ``None``: one per channel, for any frame size.
        init: preset name or :class:`~rnnkit.cells.init.Init`.
    """

    def __init__(self, input_channels: int, hidden_channels: int, kernel_size: int = 3, bias: bool = True,
                 peephole: bool = True, frame_size: Frame | None = None, init: str | Init = "torch",
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        spec = ConvLSTMSpec(input_channels, hidden_channels, bias, kernel_size, peephole,
                            None if frame_size is None else tuple(frame_size))
        super().__init__(spec, init, device, dtype)


class ConvGRUCell(ConvCell):
    """ConvGRU cell (Ballas et al. 2016); the state is ``h (B, hidden, height, width)``.

    Args: input_channels (I), hidden_channels (C), kernel_size (odd k), bias, init.
    """

    def __init__(self, input_channels: int, hidden_channels: int, kernel_size: int = 3, bias: bool = True,
                 init: str | Init = "torch", device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__(ConvGRUSpec(input_channels, hidden_channels, bias, kernel_size), init, device, dtype)
