"""The GRU cell in both forms, optionally layer-normalized.

Equations: :func:`rnnkit.functional.gru_recurrence`. Gate order ``(r, z, n)`` as in torch.nn:

==================  ========  =============================================
name                shape     role
==================  ========  =============================================
``weight_ih``       (3H, I)   input weights W_r, W_z, W_n
``weight_hh``       (3H, H)   recurrent weights U_r, U_z, U_n
``bias_ih``         (3H,)     input bias (``bias=True``)
``bias_hh``         (3H,)     recurrent bias (``bias=True``)
``ln_ih_*``         (3H,)     layer-norm gain/shift of W x (``layer_norm=True``)
``ln_hh_*``         (3H,)     layer-norm gain/shift of U h (``layer_norm=True``)
==================  ========  =============================================

``reset_after=True`` (default) is the form of torch.nn and cuDNN, so their weights load
unchanged; ``reset_after=False`` is the original of Cho et al. 2014 (Keras's
``reset_after=False``), which applies the reset gate before the recurrent product.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rnnkit.cells.base import CellSpec, RecurrentCell, Weights
from rnnkit.cells.init import Init
from rnnkit.functional import gru_recurrence


@dataclass(frozen=True)
class GRUSpec(CellSpec):
    reset_after: bool = True
    layer_norm: bool = False

    num_gates = 3
    chrono_gates = (1, None)  # the update gate z keeps the old state
    family = "gru"

    def __post_init__(self) -> None:
        super().__post_init__()
        for flag in ("reset_after", "layer_norm"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag}: expected True or False, got {getattr(self, flag)!r}")

    @property
    def fusable(self) -> bool:
        return self.reset_after and not self.layer_norm

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = super().parameter_shapes()
        if self.layer_norm:
            for part in ("ih", "hh"):
                shapes[f"ln_{part}_weight"] = (3 * self.hidden_size,)
                shapes[f"ln_{part}_bias"] = (3 * self.hidden_size,)
        return shapes

    def recur(self, xg: Tensor, state: Tensor, weights: Weights, recurrent_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return gru_recurrence(
            xg, state, **self.recurrent_weights(weights), reset_after=self.reset_after, recurrent_mask=recurrent_mask
        )


class GRUCell(RecurrentCell):
    """GRU cell; with the defaults it loads a ``torch.nn.GRUCell`` state_dict.

    Args:
        input_size (I), hidden_size (H), bias: as ``torch.nn.GRUCell``.
        reset_after: torch/cuDNN form (True) or Cho et al. 2014 (False).
        layer_norm: layer normalization of the gate pre-activations (Ba et al. 2016).
        init: preset name or :class:`~rnnkit.cells.init.Init`.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        reset_after: bool = True,
        layer_norm: bool = False,
        init: str | Init = "torch",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        spec = GRUSpec(input_size, hidden_size, bias, reset_after, layer_norm)
        super().__init__(spec, init, device, dtype)
