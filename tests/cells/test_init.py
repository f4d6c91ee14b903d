"""Initialization schemes, checked per gate block against their defining properties."""

from __future__ import annotations

import math

import pytest
import torch

import rnnkit as rk

I, H = 6, 8


def blocks(weight, hidden_size=H):
    return weight.split(hidden_size, dim=0)


def test_torch_default_bounds_match_torch_nn():
    layer = rk.LSTM(I, H, 2, bidirectional=True)
    bound = 1 / math.sqrt(H)
    for name, p in layer.named_parameters():
        assert p.abs().max() <= bound, name
        assert p.abs().max() > 0.5 * bound, name  # uniform over the whole range, not a smaller one


def test_xavier_preset_is_keras_recipe():
    layer = rk.LSTM(I, H, init="xavier", dtype=torch.float64)
    for block in blocks(layer.weight_ih_l0):  # Xavier-uniform per (H, I) block
        assert block.abs().max() <= math.sqrt(6 / (I + H))
        assert block.std().item() == pytest.approx(math.sqrt(2 / (I + H)), rel=0.35)
    for block in blocks(layer.weight_hh_l0):  # orthogonal per (H, H) block
        torch.testing.assert_close(block @ block.T, torch.eye(H, dtype=torch.float64))
    forget = slice(H, 2 * H)
    assert torch.all(layer.bias_ih_l0[forget] == 1.0) and torch.all(layer.bias_hh_l0 == 0)
    assert torch.all(layer.bias_ih_l0[:H] == 0) and torch.all(layer.bias_ih_l0[2 * H:] == 0)


def test_xavier_preset_fits_gru_rnn_and_no_bias():
    gru = rk.GRU(I, H, init="xavier")
    assert torch.all(gru.bias_ih_l0 == 0)  # no forget gate: no forget bias
    rk.RNN(I, H, init="xavier")
    rk.LSTM(I, H, bias=False, init="xavier")


def test_irnn_identity_recurrence():
    layer = rk.RNN(I, H, nonlinearity="relu", init="irnn", dtype=torch.float64)
    assert torch.equal(layer.weight_hh_l0, torch.eye(H, dtype=torch.float64))
    assert torch.all(layer.bias_ih_l0 == 0) and torch.all(layer.bias_hh_l0 == 0)
    assert layer.weight_ih_l0.std().item() == pytest.approx(0.001, rel=0.5)


def test_identity_per_gate_block_for_gated_cells():
    layer = rk.GRU(I, H, init=rk.Init(recurrent="identity"))
    for block in blocks(layer.weight_hh_l0):
        assert torch.equal(block, torch.eye(H))


@pytest.mark.parametrize("t_max", [10, 1000])
def test_chrono_lstm(t_max):
    layer = rk.LSTM(I, H, 2, init=rk.Init.chrono(t_max), dtype=torch.float64)
    for suffix in ("_l0", "_l1"):
        b_ih, b_hh = getattr(layer, "bias_ih" + suffix), getattr(layer, "bias_hh" + suffix)
        forget, inputs = b_ih[H : 2 * H], b_ih[:H]
        assert torch.all(forget >= 0) and torch.all(forget <= math.log(t_max - 1))
        torch.testing.assert_close(inputs, -forget)  # b_i = -b_f
        assert torch.all(b_hh[: 2 * H] == 0)  # the effective bias is all in bias_ih
        # the forget gate's initial time scale 1 / (1 - sigmoid(b_f)) = 1 + e^{b_f} spans [2, T_max]
        timescale = 1 + forget.exp()
        assert timescale.min() >= 2 - 1e-9 and timescale.max() <= t_max + 1e-9


def test_chrono_gru_update_gate():
    layer = rk.GRU(I, H, init=rk.Init.chrono(50))
    update = layer.bias_ih_l0[H : 2 * H]
    assert torch.all(update >= 0) and torch.all(update <= math.log(49) + 1e-6)
    assert torch.all(layer.bias_hh_l0[H : 2 * H] == 0)


def test_peephole_and_layer_norm_parameters():
    layer = rk.LSTM(I, H, peephole=True, layer_norm=True, init="xavier")
    assert torch.all(layer.weight_ch_l0 == 0)
    assert torch.all(layer.ln_ih_weight_l0 == 1) and torch.all(layer.ln_c_bias_l0 == 0)
    torch_init = rk.LSTM(I, H, peephole=True)
    assert 0 < torch_init.weight_ch_l0.abs().max() <= 1 / math.sqrt(H)


def test_reset_parameters_redraws():
    layer = rk.LSTM(I, H)
    before = layer.weight_hh_l0.detach().clone()
    layer.reset_parameters()
    assert not torch.equal(before, layer.weight_hh_l0)


def test_cell_and_layer_share_the_scheme():
    cell = rk.LSTMCell(I, H, init="xavier", dtype=torch.float64)
    for block in blocks(cell.weight_hh):
        torch.testing.assert_close(block @ block.T, torch.eye(H, dtype=torch.float64))
