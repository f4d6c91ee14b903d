"""torch.nn's fused kernels (oneDNN or native on CPU, cuDNN on GPU), called directly.

Used for every configuration those kernels compute exactly: Elman RNN, LSTM (with or without
projection) and the reset-after GRU, any bias / stacking / direction, with or without
lengths. The readable loop in :mod:`rnnkit.layers.loop` is the reference; the tests hold
the two equal in float64, values and gradients.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

KERNELS = {
    "lstm": torch.lstm,
    "gru": torch.gru,
    "rnn_tanh": torch.rnn_tanh,
    "rnn_relu": torch.rnn_relu,
}


def fused_forward(
    mode: str,
    x: Tensor,
    hx: Any,
    flat_weights: list[Tensor],
    has_biases: bool,
    num_layers: int,
    dropout: float,
    training: bool,
    bidirectional: bool,
    lengths: Tensor | None,
) -> tuple[Tensor, Any]:
    """Run torch's kernel for ``mode`` over ``x``: ``(T, B, I)``.

    ``hx`` is ``(L*D, B, H)``, or ``(h, c)`` for the LSTM; ``flat_weights`` in torch.nn's
    order (per layer and direction: ``w_ih, w_hh[, b_ih, b_hh][, w_hr]``). ``lengths``
    (CPU int64, ``(B,)``) runs the packed variant. Returns ``(output (T, B, D*H_out), h_n)``
    in the same form as ``hx``.
    """
    kernel = KERNELS[mode]
    is_lstm = mode == "lstm"
    state = list(hx) if is_lstm else hx
    if lengths is None:
        result = kernel(x, state, flat_weights, has_biases, num_layers, dropout, training, bidirectional, False)
        output, finals = result[0], result[1:]
    else:
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        order = packed.sorted_indices
        state = [s.index_select(1, order) for s in state] if is_lstm else state.index_select(1, order)
        result = kernel(
            packed.data, packed.batch_sizes, state, flat_weights, has_biases,
            num_layers, dropout, training, bidirectional,
        )
        packed_out = PackedSequence(result[0], packed.batch_sizes, order, packed.unsorted_indices)
        output, _ = pad_packed_sequence(packed_out, total_length=x.shape[0])
        finals = tuple(s.index_select(1, packed.unsorted_indices) for s in result[1:])
    return output, (tuple(finals) if is_lstm else finals[0])


def run_direction_torch(
    cell: Any,
    x: Tensor,
    state: Any,
    lengths: Tensor | None,
    mask: Tensor | None,
    reverse: bool = False,
) -> tuple[Tensor, Any]:
    """One (layer, direction) through torch's kernel, with the signature of ``run_direction``.

    For full-length sequences only (``lengths`` None): checkpointing over time runs each chunk
    through this. ``cell`` is a layer's per-pass cell (its ``spec`` and ``weights``).
    """
    if lengths is not None:
        raise ValueError("run_direction_torch: expected full-length sequences (lengths=None)")
    spec, w = cell.spec, cell.weights
    mode = spec.family if spec.family != "rnn" else f"rnn_{spec.nonlinearity}"
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
    flat = [w[n] for n in names if n in w]
    if reverse:
        x = x.flip(0)
    hx = tuple(s.unsqueeze(0) for s in state) if isinstance(state, tuple) else state.unsqueeze(0)
    needs_grad = torch.is_grad_enabled()
    output, finals = fused_forward(mode, x, hx, flat, spec.bias, 1, 0.0, needs_grad, False, None)
    if reverse:
        output = output.flip(0)
    finals = tuple(s.squeeze(0) for s in finals) if isinstance(finals, tuple) else finals.squeeze(0)
    return output, finals
