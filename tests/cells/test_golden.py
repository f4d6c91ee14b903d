"""Golden values: tiny cases computed by hand and a numpy transcription of every cell variant
(rnnkit.testing.VARIANTS).

The numpy code below is written independently of rnnkit.functional, from the papers'
equations, with fixed weights, so a gate-order or sign mistake in either shows up.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import rnnkit as rk
from rnnkit.testing import VARIANTS

I, H, P, B = 3, 4, 2, 2


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def layer_norm(v, gain, shift, eps=1e-5):
    mean = v.mean(-1, keepdims=True)
    var = v.var(-1, keepdims=True)  # biased variance, as layer norm uses
    return (v - mean) / np.sqrt(var + eps) * gain + shift


def fixed(shape, phase):
    """Deterministic, non-constant values in [-0.5, 0.5] (so gate blocks differ)."""
    n = int(np.prod(shape))
    return 0.5 * np.sin(np.arange(n) * 0.7 + phase).reshape(shape)


def load(cell, values):
    with torch.no_grad():
        for name, p in cell.named_parameters():
            p.copy_(torch.from_numpy(values[name]))


def values_for(cell):
    return {name: fixed(tuple(p.shape), k + 1.0) for k, (name, p) in enumerate(cell.named_parameters())}


def test_elman_hand_computed():
    # One unit: w_ih = 0.5, w_hh = -1, b_ih = 0.1, b_hh = 0.2, x = (1, 2), h_0 = 0.
    cell = rk.RNNCell(1, 1, dtype=torch.float64)
    load(cell, {"weight_ih": np.array([[0.5]]), "weight_hh": np.array([[-1.0]]),
                "bias_ih": np.array([0.1]), "bias_hh": np.array([0.2])})
    h1 = math.tanh(0.5 * 1 + 0.3)
    h2 = math.tanh(0.5 * 2 - h1 + 0.3)
    assert (h1, h2) == pytest.approx((0.6640367702678491, 0.5621446952832613), abs=1e-15)
    layer = rk.Recurrent(lambda n: cell, input_size=1)
    out, _ = layer(torch.tensor([[[1.0]], [[2.0]]], dtype=torch.float64))
    assert out.flatten().tolist() == pytest.approx([0.6640367702678491, 0.5621446952832613], abs=1e-14)


def test_lstm_hand_computed():
    # One unit, every weight 0.5, no bias, x = 1, zero state: all four pre-activations are 0.5.
    cell = rk.LSTMCell(1, 1, bias=False, dtype=torch.float64)
    load(cell, {"weight_ih": np.full((4, 1), 0.5), "weight_hh": np.full((4, 1), 0.5)})
    gate = 1 / (1 + math.exp(-0.5))  # 0.6224593312018546
    c = gate * math.tanh(0.5)  # i * g, since f * c_0 = 0
    h = gate * math.tanh(c)  # o * tanh(c)
    assert (c, h) == pytest.approx((0.28764913664496794, 0.17426971865610508), abs=1e-15)
    h_t, (h_state, c_t) = cell.step(torch.ones(1, 1, dtype=torch.float64))
    assert c_t.item() == pytest.approx(0.28764913664496794, abs=1e-14)
    assert h_t.item() == pytest.approx(0.17426971865610508, abs=1e-14)
    assert h_state.item() == h_t.item()


def numpy_lstm(x, h, c, v, peephole=False, proj=False, ln=False):
    gx = x @ v["weight_ih"].T
    gh = h @ v["weight_hh"].T
    if ln:
        gx = np.concatenate([layer_norm(b, gw, gb) for b, gw, gb in zip(
            np.split(gx, 4, -1), np.split(v["ln_ih_weight"], 4), np.split(v["ln_ih_bias"], 4))], -1)
        gh = np.concatenate([layer_norm(b, gw, gb) for b, gw, gb in zip(
            np.split(gh, 4, -1), np.split(v["ln_hh_weight"], 4), np.split(v["ln_hh_bias"], 4))], -1)
    pre = gx + gh + v["bias_ih"] + v["bias_hh"]
    a_i, a_f, a_g, a_o = np.split(pre, 4, -1)
    if peephole:
        p_i, p_f, p_o = np.split(v["weight_ch"], 3)
        a_i, a_f = a_i + p_i * c, a_f + p_f * c
    c_new = sigmoid(a_f) * c + sigmoid(a_i) * np.tanh(a_g)
    if peephole:
        a_o = a_o + p_o * c_new
    c_read = layer_norm(c_new, v["ln_c_weight"], v["ln_c_bias"]) if ln else c_new
    h_new = sigmoid(a_o) * np.tanh(c_read)
    if proj:
        h_new = h_new @ v["weight_hr"].T
    return h_new, c_new


def numpy_gru(x, h, v, reset_after=True, ln=False):
    def norm(vec, name, blocks):
        if not ln:
            return vec
        parts = zip(np.split(vec, blocks, -1), np.split(v[f"{name}_weight"][: vec.shape[-1]], blocks),
                    np.split(v[f"{name}_bias"][: vec.shape[-1]], blocks))
        return np.concatenate([layer_norm(b, gw, gb) for b, gw, gb in parts], -1)

    def norm_n(vec):  # the candidate block of ln_hh
        if not ln:
            return vec
        return layer_norm(vec, v["ln_hh_weight"][2 * H:], v["ln_hh_bias"][2 * H:])

    gx = norm(x @ v["weight_ih"].T, "ln_ih", 3) + v["bias_ih"]
    x_r, x_z, x_n = np.split(gx, 3, -1)
    w_r, w_z, w_n = np.split(v["weight_hh"], 3)
    b_r, b_z, b_n = np.split(v["bias_hh"], 3)
    h_rz = norm(h @ np.concatenate([w_r, w_z]).T, "ln_hh", 2)
    r = sigmoid(x_r + h_rz[:, :H] + b_r)
    z = sigmoid(x_z + h_rz[:, H:] + b_z)
    if reset_after:
        n = np.tanh(x_n + r * (norm_n(h @ w_n.T) + b_n))
    else:
        n = np.tanh(x_n + norm_n((r * h) @ w_n.T) + b_n)
    return (1 - z) * n + z * h


def numpy_rnn(x, h, v, nonlinearity="tanh"):
    pre = x @ v["weight_ih"].T + v["bias_ih"] + h @ v["weight_hh"].T + v["bias_hh"]
    return np.tanh(pre) if nonlinearity == "tanh" else np.maximum(pre, 0)


KNOWN_OPTIONS = {"rnn": {"nonlinearity"}, "lstm": {"peephole", "proj_size", "layer_norm"},
                 "gru": {"reset_after", "layer_norm"}}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_matches_its_numpy_transcription(name):
    variant = VARIANTS[name]
    options = variant.kwargs
    unknown = set(options) - KNOWN_OPTIONS[variant.family]
    assert not unknown, f"{name}: no numpy transcription reads {sorted(unknown)}; add it above"
    cell = variant.cell(I, H, dtype=torch.float64)
    v = values_for(cell)
    load(cell, v)
    x, h = fixed((B, I), 7.0), fixed((B, cell.output_size), 8.0)
    if variant.family == "lstm":
        c = fixed((B, H), 9.0)
        h_exp, c_exp = numpy_lstm(x, h, c, v, options.get("peephole", False), bool(options.get("proj_size")),
                                  options.get("layer_norm", False))
        h_got, (_, c_got) = cell.step(torch.from_numpy(x), (torch.from_numpy(h), torch.from_numpy(c)))
        np.testing.assert_allclose(c_got.detach().numpy(), c_exp, atol=1e-12)
    elif variant.family == "gru":
        h_exp = numpy_gru(x, h, v, options.get("reset_after", True), options.get("layer_norm", False))
        h_got, _ = cell.step(torch.from_numpy(x), torch.from_numpy(h))
    else:
        h_exp = numpy_rnn(x, h, v, options.get("nonlinearity", "tanh"))
        h_got, _ = cell.step(torch.from_numpy(x), torch.from_numpy(h))
    np.testing.assert_allclose(h_got.detach().numpy(), h_exp, atol=1e-12)


def test_reset_before_differs_from_reset_after():
    # The two GRU forms share parameters but are different functions.
    a = rk.GRUCell(I, H, dtype=torch.float64)
    b = rk.GRUCell(I, H, reset_after=False, dtype=torch.float64)
    b.load_state_dict(a.state_dict())
    x, h = torch.randn(B, I, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    assert (a.step(x, h)[0] - b.step(x, h)[0]).abs().max() > 1e-3
