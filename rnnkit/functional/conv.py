"""One step of the convolutional recurrences, written as their equations.

Shape legend: B batch, I input channels, C hidden channels, H x W the frame, k the (odd)
kernel size, G the number of gates. Every product ``*`` below is a 2-D convolution with
stride 1 and padding ``k // 2`` (the state keeps the frame's size); ``o`` is the elementwise
(Hadamard) product. The input's share of the gates, ``xg = W_x * X_t + b_x``
(:func:`conv_projection`), is computed for all steps of a sequence at once, as the other
cells' ``W_ih x_t`` is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

ConvLSTMState = tuple[Tensor, Tensor]  # (H_t, C_t), each (B, C, H, W)


def conv_projection(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``W * x + b`` for any leading dims: ``x (*, I, H, W)``, ``weight (G*C, I, k, k)`` ->
    ``(*, G*C, H, W)``."""
    lead = x.shape[:-3]
    out = F.conv2d(x.reshape(-1, *x.shape[-3:]), weight, bias, padding=weight.shape[-1] // 2)  # (N, G*C, H, W)
    return out.view(*lead, *out.shape[1:])


def conv_lstm_recurrence(
    xg: Tensor,
    state: ConvLSTMState,
    weight_hh: Tensor,
    bias_hh: Tensor | None = None,
    weight_ch: Tensor | None = None,
    *,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, ConvLSTMState]:
    """ConvLSTM (Shi et al. 2015, eq. 3), gate order ``(i, f, g, o)`` as torch.nn's LSTM.

    ``xg = W_x * X_t + b_x``: ``(B, 4C, H, W)``; ``state = (H_{t-1}, C_{t-1})``: ``(B, C, H, W)``
    each; ``weight_hh``: ``(4C, C, k, k)``.

        i_t = sigmoid(xg_i + W_hi * H_{t-1} + b_hi + W_ci o C_{t-1})
        f_t = sigmoid(xg_f + W_hf * H_{t-1} + b_hf + W_cf o C_{t-1})
        g_t = tanh   (xg_g + W_hg * H_{t-1} + b_hg)
        C_t = f_t o C_{t-1} + i_t o g_t
        o_t = sigmoid(xg_o + W_ho * H_{t-1} + b_ho + W_co o C_t)
        H_t = o_t o tanh(C_t)

    Peepholes ``weight_ch = (W_ci, W_cf, W_co)``: ``(3C, H, W)``, the paper's weights over the
    whole state, or ``(3C, 1, 1)``, one weight per channel shared over the frame (any frame
    size). ``recurrent_mask``: ``(B, C, 1, 1)``, a variational dropout mask per sequence and
    channel on ``H_{t-1}`` where it enters ``W_h * H``. Returns ``(H_t, (H_t, C_t))``.
    """
    h_prev, c_prev = state
    if recurrent_mask is not None:
        h_prev = h_prev * recurrent_mask  # H_{t-1} is read only by W_h * H below
    gates = xg + conv_projection(h_prev, weight_hh, bias_hh)  # (B, 4C, H, W)
    i, f, g, o = gates.chunk(4, dim=1)  # each (B, C, H, W)
    if weight_ch is not None:
        w_ci, w_cf, w_co = weight_ch.chunk(3)  # each (C, H, W) or (C, 1, 1)
        i = i + w_ci * c_prev
        f = f + w_cf * c_prev
    c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    if weight_ch is not None:
        o = o + w_co * c
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, (h, c)


def conv_gru_recurrence(
    xg: Tensor,
    h_prev: Tensor,
    weight_hh: Tensor,
    bias_hh: Tensor | None = None,
    *,
    recurrent_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """ConvGRU (Ballas et al. 2016, eq. 5-8), gate order ``(r, z, n)`` as torch.nn's GRU.

    ``xg = W_x * x_t + b_x``: ``(B, 3C, H, W)``; ``h_prev``: ``(B, C, H, W)``; ``weight_hh``:
    ``(3C, C, k, k)``.

        r_t = sigmoid(xg_r + U_r * h_{t-1} + b_hr)
        z_t = sigmoid(xg_z + U_z * h_{t-1} + b_hz)
        n_t = tanh   (xg_n + U_n * (r_t o h_{t-1}) + b_hn)
        h_t = (1 - z_t) o n_t + z_t o h_{t-1}

    The reset gate acts before the convolution, as in the paper (torch.nn's GRU resets after
    it); ``z_t`` here is the paper's ``1 - z_t``, torch.nn's convention, so that with a 1x1
    kernel on a 1x1 frame this is ``rk.GRU(reset_after=False)``. ``recurrent_mask``:
    ``(B, C, 1, 1)``, a variational dropout mask on ``h_{t-1}`` inside every ``U *`` product.
    Returns ``(h_t, h_t)``.
    """
    C = h_prev.shape[1]
    x_r, x_z, x_n = xg.chunk(3, dim=1)
    h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
    bias_rz, bias_n = (None, None) if bias_hh is None else (bias_hh[: 2 * C], bias_hh[2 * C:])
    h_r, h_z = conv_projection(h_in, weight_hh[: 2 * C], bias_rz).chunk(2, dim=1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + conv_projection(r * h_in, weight_hh[2 * C:], bias_n))
    h = (1 - z) * n + z * h_prev
    return h, h
