"""rnnkit's fused path for one direction of one layer: the same contract as the readable loop.

:func:`run_direction_kernel` takes what :func:`rnnkit.layers.loop.run_direction` takes and
returns the same values (the tests hold the two equal, values and gradients, in float64),
but runs the whole time loop and its backward in :mod:`rnnkit.functional.kernels`.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.cells.base import CellSpec, Weights
from rnnkit.functional import kernels, reverse_padded


class BoundSequenceCell(Protocol):
    """What the kernel path reads from a layer's per-pass cell (see ``BoundCell``)."""

    spec: CellSpec
    weights: Weights
    recurrent_mask: Tensor | None
    keep: tuple[Tensor | float | None, ...] | None  # zoneout per state leaf: (T, B, H) bool, or a rate


def kernel_supports(spec: CellSpec) -> bool:
    """Whether rnnkit's kernels compute this cell: the LSTM (peepholes, layer norm; no
    projection), the reset-after GRU (no layer norm) and the Elman RNN."""
    if spec.family == "lstm":
        return not spec.proj_size
    if spec.family == "gru":
        return spec.reset_after and not spec.layer_norm
    return spec.family == "rnn"


def _as(state: Any, dtype: torch.dtype) -> Any:
    """A state (a tensor or a tuple of them) in ``dtype``."""
    if state is None or isinstance(state, Tensor):
        return state if state is None else state.to(dtype)
    return tuple(_as(s, dtype) for s in state)


def _summed_bias(weights: Weights) -> Tensor | None:
    if "bias_ih" not in weights:
        return None
    return weights["bias_ih"] + weights["bias_hh"]


def run_direction_kernel(
    cell: BoundSequenceCell,
    x: Tensor,
    state: Any,
    lengths: Tensor | None,
    mask: Tensor | None,
    reverse: bool = False,
) -> tuple[Tensor, Any]:
    """``x``: ``(T, B, I)`` -> ``(output (T, B, H), final state)``; see ``run_direction``."""
    if reverse:
        x = reverse_padded(x, lengths)
    spec, w = cell.spec, cell.weights
    # Under CPU autocast to bfloat16 the input projection is autocast's (bfloat16) and the kernel
    # gets W_hh in bfloat16, so its per-step products are bfloat16 too; the gates, the state and
    # the outputs stay float32 (see rnnkit.functional.kernels).
    low = kernels.bf16_products(x.device)
    dtype = torch.float32 if low else x.dtype
    w_hh = w["weight_hh"].to(torch.bfloat16) if low else w["weight_hh"]
    recurrent_mask = None if cell.recurrent_mask is None else cell.recurrent_mask.to(dtype)
    state = _as(state, dtype)
    valid = None if mask is None else mask.to(dtype)  # (T, B); reversal keeps valid steps first
    keep = cell.keep or (None, None)
    if spec.family == "lstm" and spec.layer_norm:
        # the kernel normalizes W_ih x itself, inside the passes its loop makes anyway
        output, state = kernels.layer_norm_lstm_sequence(
            F.linear(x, w["weight_ih"]).to(dtype), state, w_hh, (w["ln_ih_weight"], w["ln_ih_bias"]),
            (w["ln_hh_weight"], w["ln_hh_bias"]), (w["ln_c_weight"], w["ln_c_bias"]), w.get("weight_ch"),
            bias=_summed_bias(w), recurrent_mask=recurrent_mask, keep=(keep[0], keep[1]), valid=valid,
        )
    elif spec.family == "lstm":
        xg = F.linear(x, w["weight_ih"], _summed_bias(w)).to(dtype)  # (T, B, 4H), one GEMM for all steps
        output, state = kernels.lstm_sequence(
            xg, state, w_hh, w.get("weight_ch"),
            recurrent_mask=recurrent_mask, keep=(keep[0], keep[1]), valid=valid,
        )
    elif spec.family == "gru":
        xg = F.linear(x, w["weight_ih"], w.get("bias_ih")).to(dtype)  # b_hh stays inside: r gates W_hn h + b_hn
        output, state = kernels.gru_sequence(
            xg, state, w_hh, w.get("bias_hh"),
            recurrent_mask=recurrent_mask, keep=keep[0], valid=valid,
        )
    else:
        xg = F.linear(x, w["weight_ih"], _summed_bias(w)).to(dtype)
        output, state = kernels.rnn_sequence(
            xg, state, w_hh, nonlinearity=spec.nonlinearity,
            recurrent_mask=recurrent_mask, keep=keep[0], valid=valid,
        )
    if reverse:
        output = reverse_padded(output, lengths)
    return output, state
