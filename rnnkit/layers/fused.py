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
