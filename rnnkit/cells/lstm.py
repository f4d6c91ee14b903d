"""The LSTM cell and its variants: peepholes, output projection, layer normalization.

Equations: :func:`rnnkit.functional.lstm_recurrence`. Parameters, gate order ``(i, f, g, o)``
as in torch.nn, each weight a stack of four ``H``-row blocks:

==================  ============  ==================================================
name                shape         role
==================  ============  ==================================================
``weight_ih``       (4H, I)       input weights W_i, W_f, W_g, W_o
``weight_hh``       (4H, P or H)  recurrent weights U_i, U_f, U_g, U_o
``bias_ih``         (4H,)         input bias (``bias=True``)
``bias_hh``         (4H,)         recurrent bias (``bias=True``)
``weight_hr``       (P, H)        output projection (``proj_size=P > 0``)
``weight_ch``       (3H,)         peepholes p_i, p_f, p_o (``peephole=True``)
``ln_ih_*``         (4H,)         layer-norm gain/shift of W x   (``layer_norm=True``)
``ln_hh_*``         (4H,)         layer-norm gain/shift of U h   (``layer_norm=True``)
``ln_c_*``          (H,)          layer-norm gain/shift of c_t   (``layer_norm=True``)
==================  ============  ==================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rnnkit.cells.base import CellSpec, RecurrentCell, Weights
from rnnkit.cells.init import Init
from rnnkit.functional import lstm_recurrence
from rnnkit.functional.recurrences import LSTMState


@dataclass(frozen=True)
class LSTMSpec(CellSpec):
    proj_size: int = 0
    peephole: bool = False
    layer_norm: bool = False

    num_gates = 4
    forget_gate = 1
    chrono_gates = (1, 0)  # (forget, input)
    family = "lstm"

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.proj_size, bool) or not isinstance(self.proj_size, int) or not (
            0 <= self.proj_size < self.hidden_size
        ):
            raise ValueError(
                f"proj_size: expected an int in [0, hidden_size={self.hidden_size}), got {self.proj_size!r}"
            )
        for flag in ("peephole", "layer_norm"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag}: expected True or False, got {getattr(self, flag)!r}")

    @property
    def output_size(self) -> int:
        return self.proj_size or self.hidden_size

    @property
    def fusable(self) -> bool:
        return not (self.peephole or self.layer_norm)

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        H = self.hidden_size
        shapes = super().parameter_shapes()
        if self.proj_size:
            shapes["weight_hr"] = (self.proj_size, H)
        if self.peephole:
            shapes["weight_ch"] = (3 * H,)
        if self.layer_norm:
            for part, size in (("ih", 4 * H), ("hh", 4 * H), ("c", H)):
                shapes[f"ln_{part}_weight"] = (size,)
                shapes[f"ln_{part}_bias"] = (size,)
        return shapes

    def zero_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> LSTMState:
        h = torch.zeros(batch_size, self.output_size, device=device, dtype=dtype)
        c = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return h, c

    def recur(
        self, xg: Tensor, state: LSTMState, weights: Weights, recurrent_mask: Tensor | None = None
    ) -> tuple[Tensor, LSTMState]:
        return lstm_recurrence(xg, state, **self.recurrent_weights(weights), recurrent_mask=recurrent_mask)


class LSTMCell(RecurrentCell):
    """LSTM cell; with no variant flags it loads a ``torch.nn.LSTMCell`` state_dict.

    The state is ``(h, c)`` with ``h``: ``(B, P or H)`` and ``c``: ``(B, H)``.

    Args:
        input_size (I), hidden_size (H), bias: as ``torch.nn.LSTMCell``.
        proj_size (P): project ``h_t`` to ``P`` features (Sak et al. 2014), as ``torch.nn.LSTM``.
        peephole: diagonal peephole connections from the cell state to the gates.
        layer_norm: layer normalization of the gate pre-activations and the cell state.
        init: preset name or :class:`~rnnkit.cells.init.Init`.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        proj_size: int = 0,
        peephole: bool = False,
        layer_norm: bool = False,
        init: str | Init = "torch",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        spec = LSTMSpec(input_size, hidden_size, bias, proj_size, peephole, layer_norm)
        super().__init__(spec, init, device, dtype)
