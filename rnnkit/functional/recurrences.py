"""One time step of each recurrence, written as its equations.

These functions are the readable reference that every layer and every fast path is tested
against. Each recurrence is split in two, the way the layers run it:

* ``gate_projection(x, weight_ih, bias_ih)`` -- the input's contribution to every gate,
  ``W_ih x + b_ih``. It has no dependence on time, so a layer computes it for all steps
  with one matrix product.
* ``*_recurrence(xg_t, state, weight_hh, ...)`` -- everything that depends on the previous
  state, given one step ``xg_t`` of that projection.

A cell (:mod:`rnnkit.cells`) composes the two in its ``step``; a layer projects the whole
sequence once and runs the recurrence step by step.

Shape legend: B batch, I input features, H hidden units, P projection size, G gates
(Elman 1, GRU 3, LSTM 4). Gate blocks are stacked along the first weight dimension in
torch.nn's order: LSTM ``(i, f, g, o)``, GRU ``(r, z, n)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

LSTMState = tuple[Tensor, Tensor]

LAYER_NORM_EPS = 1e-5


def gate_layer_norm(y: Tensor, weight: Tensor | None, bias: Tensor | None, num_gates: int) -> Tensor:
    """Layer normalization of each gate block separately, with a gain and bias per unit.

    ``y``: ``(B, G*H)``; ``weight``, ``bias``: ``(G*H,)``, or None for the bare normalization.
    Each ``H``-wide gate block is normalized to zero mean and unit variance on its own (as
    TensorFlow's layer-normalized LSTM cell does), so the gates keep independent scales and the
    reset-before GRU, whose candidate block sees a different hidden vector, fits the same scheme.
    """
    shape = y.shape
    blocks = y.reshape(*shape[:-1], num_gates, shape[-1] // num_gates)  # (B, G, H)
    blocks = F.layer_norm(blocks, blocks.shape[-1:], eps=LAYER_NORM_EPS).reshape(shape)
    return blocks if weight is None else blocks * weight + bias


def gate_projection(
    x: Tensor,
    weight_ih: Tensor,
    bias_ih: Tensor | None = None,
    ln_ih_weight: Tensor | None = None,
    ln_ih_bias: Tensor | None = None,
    *,
    num_gates: int = 1,
) -> Tensor:
    """The input's contribution to the gates: ``W_ih x + b_ih``, or ``LN(W_ih x) + b_ih``.

    ``x``: ``(*, I)`` (one step or a whole sequence); ``weight_ih``: ``(G*H, I)``.
    Returns ``(*, G*H)``.
    """
    if ln_ih_weight is None:
        return F.linear(x, weight_ih, bias_ih)
    xg = gate_layer_norm(F.linear(x, weight_ih), ln_ih_weight, ln_ih_bias, num_gates)
    return xg if bias_ih is None else xg + bias_ih


def _hidden_projection(
    h: Tensor,
    weight_hh: Tensor,
    bias_hh: Tensor | None,
    ln_weight: Tensor | None,
    ln_bias: Tensor | None,
    num_gates: int,
) -> Tensor:
    # The same form as gate_projection, applied to the previous hidden state.
    return gate_projection(h, weight_hh, bias_hh, ln_weight, ln_bias, num_gates=num_gates)


def rnn_recurrence(
    xg: Tensor,
    h_prev: Tensor,
    weight_hh: Tensor,
    bias_hh: Tensor | None = None,
    *,
    nonlinearity: str = "tanh",
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Elman RNN (Elman 1990): ``h_t = act(W_ih x_t + b_ih + W_hh (m * h_{t-1}) + b_hh)``.

    ``xg``: ``(B, H)``; ``h_prev``: ``(B, H)``. ``recurrent_mask`` ``m``: ``(B, H)``, the
    variational recurrent-dropout mask (Gal & Ghahramani 2016), 1 when absent.
    Returns ``(h_t, h_t)``.
    """
    h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
    pre_activation = xg + F.linear(h_in, weight_hh, bias_hh)
    h = torch.tanh(pre_activation) if nonlinearity == "tanh" else torch.relu(pre_activation)
    return h, h


def lstm_recurrence(
    xg: Tensor,
    state: LSTMState,
    weight_hh: Tensor,
    bias_hh: Tensor | None = None,
    weight_hr: Tensor | None = None,
    weight_ch: Tensor | None = None,
    ln_hh_weight: Tensor | None = None,
    ln_hh_bias: Tensor | None = None,
    ln_c_weight: Tensor | None = None,
    ln_c_bias: Tensor | None = None,
    *,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, LSTMState]:
    """LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000).

    ``xg = W_ih x_t + b_ih``: ``(B, 4H)``; ``state = (h_{t-1}, c_{t-1})``: ``(B, P or H)``,
    ``(B, H)``; ``weight_hh``: ``(4H, P or H)``.

        i_t = sigmoid(xg_i + W_hi h_{t-1} + b_hi + p_i * c_{t-1})
        f_t = sigmoid(xg_f + W_hf h_{t-1} + b_hf + p_f * c_{t-1})
        g_t = tanh   (xg_g + W_hg h_{t-1} + b_hg)
        c_t = f_t * c_{t-1} + i_t * g_t
        o_t = sigmoid(xg_o + W_ho h_{t-1} + b_ho + p_o * c_t)
        h_t = o_t * tanh(c_t)
        h_t = W_hr h_t                                   (projection, Sak et al. 2014)

    Peepholes ``weight_ch = (p_i, p_f, p_o)``: ``(3H,)`` diagonal weights (Gers &
    Schmidhuber 2000). Layer normalization (Ba et al. 2016) replaces ``W_h h`` by
    ``LN(W_h h)`` per gate block and ``tanh(c_t)`` by ``tanh(LN(c_t))``; ``c_t`` itself
    is carried unnormalized. ``recurrent_mask``: ``(B, P or H)``, a variational dropout mask
    on ``h_{t-1}`` where it enters ``W_h h`` (Gal & Ghahramani 2016). Returns ``(h_t, (h_t, c_t))``.
    """
    h_prev, c_prev = state
    if recurrent_mask is not None:
        h_prev = h_prev * recurrent_mask  # h_{t-1} is read only by W_h h below
    gates = xg + _hidden_projection(h_prev, weight_hh, bias_hh, ln_hh_weight, ln_hh_bias, 4)
    i, f, g, o = gates.chunk(4, dim=-1)  # each (B, H)
    if weight_ch is not None:
        p_i, p_f, p_o = weight_ch.chunk(3)
        i = i + p_i * c_prev
        f = f + p_f * c_prev
    c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    if weight_ch is not None:
        o = o + p_o * c
    if ln_c_weight is not None:
        c_out = F.layer_norm(c, c.shape[-1:], ln_c_weight, ln_c_bias, eps=LAYER_NORM_EPS)
    else:
        c_out = c
    h = torch.sigmoid(o) * torch.tanh(c_out)
    if weight_hr is not None:
        h = F.linear(h, weight_hr)  # (B, P)
    return h, (h, c)


def gru_recurrence(
    xg: Tensor,
    h_prev: Tensor,
    weight_hh: Tensor,
    bias_hh: Tensor | None = None,
    ln_hh_weight: Tensor | None = None,
    ln_hh_bias: Tensor | None = None,
    *,
    reset_after: bool = True,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """GRU (Cho et al. 2014). ``xg = W_ih x_t + b_ih``: ``(B, 3H)``; ``h_prev``: ``(B, H)``.

        r_t = sigmoid(xg_r + W_hr h_{t-1} + b_hr)
        z_t = sigmoid(xg_z + W_hz h_{t-1} + b_hz)
        n_t = tanh(xg_n + r_t * (W_hn h_{t-1} + b_hn))      reset_after=True (torch, cuDNN)
        n_t = tanh(xg_n + W_hn (r_t * h_{t-1}) + b_hn)      reset_after=False (Cho et al.)
        h_t = (1 - z_t) * n_t + z_t * h_{t-1}

    With layer normalization (Ba et al. 2016) every ``W_h .`` product is normalized per
    gate block before its bias is added. ``recurrent_mask``: ``(B, H)``, a variational dropout
    mask on ``h_{t-1}`` inside every ``W_h .`` product; the interpolation keeps the unmasked
    ``h_{t-1}``. Returns ``(h_t, h_t)``.
    """
    x_r, x_z, x_n = xg.chunk(3, dim=-1)
    h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
    if reset_after:
        hg = _hidden_projection(h_in, weight_hh, bias_hh, ln_hh_weight, ln_hh_bias, 3)
        h_r, h_z, h_n = hg.chunk(3, dim=-1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
    else:
        H = h_prev.shape[-1]

        def part(t: Tensor | None, start: int, stop: int) -> Tensor | None:
            return None if t is None else t[start:stop]

        h_rz = _hidden_projection(
            h_in, weight_hh[: 2 * H], part(bias_hh, 0, 2 * H),
            part(ln_hh_weight, 0, 2 * H), part(ln_hh_bias, 0, 2 * H), 2,
        )
        h_r, h_z = h_rz.chunk(2, dim=-1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        h_n = _hidden_projection(
            r * h_in, weight_hh[2 * H :], part(bias_hh, 2 * H, 3 * H),
            part(ln_hh_weight, 2 * H, 3 * H), part(ln_hh_bias, 2 * H, 3 * H), 1,
        )
        n = torch.tanh(x_n + h_n)
    h = (1 - z) * n + z * h_prev
    return h, h

