"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"), and the log-space scan
that trains them in parallel over time.

Both are gated recurrences whose gates see only the input, so every step is an affine map
``h_t = a_t * h_{t-1} + b_t`` with ``a_t, b_t`` known for all ``t`` at once:

    minGRU:   z_t = sigmoid(W_z x_t + b_z),  h~_t = g(W_h x_t + b_h)
              h_t = (1 - z_t) * h_{t-1} + z_t * h~_t
    minLSTM:  f_t = sigmoid(W_f x_t + b_f),  i_t = sigmoid(W_i x_t + b_i),  h~_t = g(W_h x_t + b_h)
              f'_t, i'_t = f_t / (f_t + i_t), i_t / (f_t + i_t)
              h_t = f'_t * h_{t-1} + i'_t * h~_t

``g(v) = v + 0.5`` for ``v >= 0`` and ``sigmoid(v)`` below keeps ``h~`` positive, so the
whole recurrence can run in log space: ``log h_t = a*_t + logcumsumexp(log b - a*)_t`` with
``a*_t = sum_{j <= t} log a_j`` (Heinsen 2023). Shape legend: T time, B batch, H hidden.
Weight layout: ``weight_ih`` stacks the gate blocks ``(z, h)`` (minGRU) or ``(f, i, h)``
(minLSTM), each ``(H, I)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def g(v: Tensor) -> Tensor:
    """The positive activation of the candidate state: ``v + 0.5`` if ``v >= 0`` else ``sigmoid(v)``."""
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


def log_g(v: Tensor) -> Tensor:
    """``log(g(v))``, computed stably: ``log(v + 0.5)`` or ``-softplus(-v)``."""
    return torch.where(v >= 0, torch.log(F.relu(v) + 0.5), -F.softplus(-v))


def min_gru_step(x: Tensor, h_prev: Tensor, weight_ih: Tensor, bias_ih: Tensor | None = None) -> Tensor:
    """One minGRU step in ordinary space: ``x``: ``(B, I)``, ``h_prev``: ``(B, H)`` -> ``h_t``."""
    k, v = F.linear(x, weight_ih, bias_ih).chunk(2, dim=-1)
    z = torch.sigmoid(k)
    return (1 - z) * h_prev + z * g(v)


def min_lstm_step(x: Tensor, h_prev: Tensor, weight_ih: Tensor, bias_ih: Tensor | None = None) -> Tensor:
    """One minLSTM step in ordinary space: ``x``: ``(B, I)``, ``h_prev``: ``(B, H)`` -> ``h_t``."""
    f_pre, i_pre, v = F.linear(x, weight_ih, bias_ih).chunk(3, dim=-1)
    f, i = torch.sigmoid(f_pre), torch.sigmoid(i_pre)
    return f / (f + i) * h_prev + i / (f + i) * g(v)


def min_gru_log_terms(x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``(log a, log b)`` of every step: ``x``: ``(T, B, I)`` -> two ``(T, B, H)``."""
    k, v = F.linear(x, weight_ih, bias_ih).chunk(2, dim=-1)
    log_z = -F.softplus(-k)  # log sigmoid(k)
    log_one_minus_z = -F.softplus(k)  # log (1 - sigmoid(k))
    return log_one_minus_z, log_z + log_g(v)


def min_lstm_log_terms(x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``(log f', log i' + log h~)`` of every step: ``x``: ``(T, B, I)`` -> two ``(T, B, H)``."""
    f_pre, i_pre, v = F.linear(x, weight_ih, bias_ih).chunk(3, dim=-1)
    # log f' = log f - log(f + i) = -softplus(softplus(-f_pre) - softplus(-i_pre)); likewise log i'.
    diff = F.softplus(-f_pre) - F.softplus(-i_pre)
    return -F.softplus(diff), -F.softplus(-diff) + log_g(v)


def parallel_scan_log(log_a: Tensor, log_b: Tensor, h0: Tensor | None = None) -> Tensor:
    """All of ``h_t = a_t h_{t-1} + b_t`` at once, from ``log a``, ``log b``: ``(T, B, H)``.

    ``h0`` (``(B, H)``) is the state before the first step; ``None`` means zero. It enters in
    ordinary space, ``h_t += (prod_{j <= t} a_j) h0``, so any real ``h0`` works, with exact
    gradients. Returns ``h``: ``(T, B, H)``. Every operation is parallel over time.
    """
    a_star = torch.cumsum(log_a, dim=0)  # (T, B, H): log of prod_{j <= t} a_j
    h = torch.exp(a_star + torch.logcumsumexp(log_b - a_star, dim=0))
    if h0 is not None:
        h = h + torch.exp(a_star) * h0
    return h
