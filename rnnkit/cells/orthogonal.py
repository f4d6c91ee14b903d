"""An RNN whose recurrent matrix is orthogonal by construction: ExpRNN (Lezcano-Casado &
Martínez-Rubio 2019), in the cell contract of :mod:`rnnkit.cells.base`.

    B = exp(A - A^T)                       A: any (H, H) matrix; only its strict upper triangle counts
    h_t = modrelu(W x_t + b + B h_{t-1})   modrelu(z) = sign(z) * relu(|z| + c), c per unit (Arjovsky et al. 2016)

The exponential of a skew-symmetric matrix is orthogonal (special orthogonal: det 1), so
``||B h|| = ||h||``: the recurrence neither shrinks nor blows up what it carries, and the
gradient through T steps of it keeps its norm; modReLU leaves a unit's sign alone and only
shrinks its magnitude by ``c``, so it does not undo that either. Training moves ``A`` freely
(the parametrization is unconstrained); ``B`` is computed from it by ``torch.linalg.matrix_exp``,
once per forward pass when the layer caches it (:class:`~rnnkit.layers.orthogonal.ExpRNN`).

``init`` of ``A``: ``"henaff"`` (Henaff et al. 2016): a block-diagonal skew matrix of 2x2 blocks
``[[0, s], [-s, 0]]``, ``s ~ U(-pi, pi)``, so that ``B`` starts as rotations by random angles;
``"zero"``: ``B = I``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize


class SkewExponential(nn.Module):
    """The parametrization ``A -> exp(triu(A, 1) - triu(A, 1)^T)``: any square matrix to an orthogonal one."""

    def forward(self, A: Tensor) -> Tensor:
        upper = A.triu(1)
        return torch.linalg.matrix_exp(upper - upper.mT)


def modrelu(z: Tensor, bias: Tensor) -> Tensor:
    """``sign(z) * relu(|z| + bias)``: the magnitude shrunk (bias < 0) or kept, the sign unchanged."""
    return torch.sign(z) * F.relu(z.abs() + bias)


def henaff_skew(size: int, generator: torch.Generator | None = None, dtype: torch.dtype | None = None) -> Tensor:
    """``(size, size)`` with ``s_k ~ U(-pi, pi)`` at ``[2k, 2k + 1]`` (its skew part: 2x2 rotation generators)."""
    A = torch.zeros(size, size, dtype=dtype)
    angles = (torch.rand(size // 2, generator=generator, dtype=A.dtype) * 2 - 1) * math.pi
    index = torch.arange(size // 2) * 2
    A[index, index + 1] = angles
    return A


class ExpRNNCell(nn.Module):
    """ExpRNN cell: ``h_t = modrelu(W x_t + b + B h_{t-1})`` with ``B = exp(A - A^T)`` orthogonal.

    Parameters: ``weight_ih (H, I)`` (He-normal, as the paper), ``bias_ih (H,)`` (zeros),
    ``weight_hh`` (``B``, parametrized: its free matrix is ``parametrizations.weight_hh.original``),
    ``modrelu_bias (H,)`` (``U(-0.01, 0.01)``). State: ``h`` ``(B, H)``.
    """

    def __init__(self, input_size: int, hidden_size: int, init: Literal["henaff", "zero"] = "henaff",
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        if init not in ("henaff", "zero"):
            raise ValueError(f"init: expected 'henaff' or 'zero', got {init!r}")
        factory = {"device": device, "dtype": dtype}
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size, **factory))
        self.bias_ih = nn.Parameter(torch.zeros(hidden_size, **factory))
        skew = henaff_skew(hidden_size, dtype=dtype) if init == "henaff" else torch.zeros(hidden_size, hidden_size,
                                                                                        dtype=dtype)
        self.weight_hh = nn.Parameter(skew.to(device))
        parametrize.register_parametrization(self, "weight_hh", SkewExponential())
        self.modrelu_bias = nn.Parameter(torch.empty(hidden_size, **factory).uniform_(-0.01, 0.01))
        nn.init.kaiming_normal_(self.weight_ih, nonlinearity="relu")

    @property
    def output_size(self) -> int:
        return self.hidden_size

    def initial_state(self, batch_size: int) -> Tensor:
        return self.weight_ih.new_zeros(batch_size, self.hidden_size)

    def project_input(self, x: Tensor) -> Tensor:
        """``W x + b`` for every step at once: ``(..., I) -> (..., H)``."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def recur(self, xg: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """One step from the projected input ``xg`` ``(B, H)`` and ``h_{t-1}`` ``(B, H)``."""
        h = modrelu(xg + F.linear(h, self.weight_hh), self.modrelu_bias)
        return h, h

    def step(self, x: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``x_t`` ``(B, I)``, ``h_{t-1}`` ``(B, H)`` (zeros if None) -> ``(h_t, h_t)``."""
        if h is None:
            h = self.initial_state(x.shape[0])
        return self.recur(self.project_input(x), h)
