"""Recurrent regularizers: mask shapes, per-sequence masks, eval behaviour, fused path kept."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import rnnkit as rk
import rnnkit.functional as F

T, B, I, H = 7, 5, 3, 6
F64 = {"dtype": torch.float64}


def test_locked_dropout_mask_is_shared_over_time():
    drop = rk.LockedDropout(0.5)
    x = torch.ones(T, 64, 32)
    y = drop(x)
    assert torch.equal(y, y[:1].expand_as(y))  # the same (1, B, H) mask at every step
    assert set(y.unique().tolist()) <= {0.0, 2.0}
    assert 0.35 < (y == 0).float().mean() < 0.65
    drop.eval()
    assert torch.equal(drop(x), x)
    batch_first = rk.LockedDropout(0.5, batch_first=True)(torch.ones(64, T, 32))
    assert torch.equal(batch_first, batch_first[:, :1].expand_as(batch_first))


def test_embedding_dropout_drops_whole_words():
    torch.manual_seed(0)
    embedding = rk.EmbeddingDropout(nn.Embedding(50, 8), p=0.5)
    ids = torch.arange(50).repeat(3, 1)  # every word three times
    out = embedding(ids)
    dropped = (out == 0).all(-1)  # (3, 50)
    assert torch.equal(dropped[0], dropped[1]) and torch.equal(dropped[0], dropped[2])
    assert 10 < dropped[0].sum() < 40
    kept = ~dropped[0]
    torch.testing.assert_close(out[0, kept], 2 * embedding.weight[kept])
    embedding.eval()
    torch.testing.assert_close(embedding(ids)[0], embedding.weight)


def test_activation_regularizers_by_hand():
    h = torch.tensor([[[1.0, 2.0]], [[3.0, 2.0]], [[100.0, 100.0]]])  # (T=3, B=1, H=2), last step padding
    mask = torch.tensor([[True], [True], [False]])
    # AR: mean of squares over the valid steps: (1 + 4 + 9 + 4) / 4 = 4.5
    assert F.activation_regularization(h, 2.0, mask).item() == pytest.approx(9.0)
    # TAR: one valid pair: ((3 - 1)^2 + 0^2) / 2 = 2
    assert F.temporal_activation_regularization(h, 0.5, mask).item() == pytest.approx(1.0)


def test_zoneout_eval_is_the_expectation_and_training_picks_one():
    prev, new = torch.zeros(1000, 8), torch.ones(1000, 8)
    torch.testing.assert_close(F.zoneout(prev, new, 0.25, training=False), torch.full((1000, 8), 0.75))
    picked = F.zoneout(prev, new, 0.25, training=True)
    assert set(picked.unique().tolist()) <= {0.0, 1.0}
    assert (picked == 0).float().mean().item() == pytest.approx(0.25, abs=0.03)


@pytest.mark.parametrize("cls", [rk.LSTM, rk.GRU, rk.RNN])
def test_recurrent_dropout_is_one_mask_per_sequence(cls):
    layer = cls(I, H, recurrent_dropout=0.5, **F64).train()
    assert layer.forward_path() != "torch"
    x = torch.randn(T, B, I, **F64)
    torch.manual_seed(7)
    output, _ = layer(x)
    torch.manual_seed(7)  # the layer draws its (B, H) mask first
    mask = F.dropout_mask((B, H), 0.5, x)
    spec, weights = layer.specs[0], layer.cell_weights(0, 0)  # the same equations, mask applied by hand
    state = spec.zero_state(B, x.device, x.dtype)
    for t in range(T):
        h, state = spec.recur(spec.project(x[t], weights), state, weights, mask)
        torch.testing.assert_close(output[t], h)


def test_gru_recurrent_mask_spares_the_interpolation():
    # With a zero mask the recurrent products see zeros, but h_t still mixes in the true h_{t-1}.
    cell = rk.GRUCell(I, H, **F64)
    x, h = torch.randn(B, I, **F64), torch.randn(B, H, **F64)
    masked, _ = cell.spec.recur(cell.project_input(x), h, cell.weights(), torch.zeros(B, H, **F64))
    zero_state, _ = cell.spec.recur(cell.project_input(x), torch.zeros(B, H, **F64), cell.weights())
    z = torch.sigmoid(cell.project_input(x)[:, H : 2 * H] + cell.bias_hh[H : 2 * H])
    n = zero_state / (1 - z)  # with h = 0 the GRU gives (1 - z) * n
    torch.testing.assert_close(masked, (1 - z) * n + z * h)


@pytest.mark.parametrize("cls", [rk.LSTM, rk.GRU, rk.RNN])
def test_regularizers_vanish_in_eval(cls):
    plain = cls(I, H, 2, bidirectional=True, **F64)
    regular = cls(I, H, 2, bidirectional=True, recurrent_dropout=0.3, weight_drop=0.4, dropout=0.2, **F64)
    regular.load_state_dict(plain.state_dict())
    plain.eval()
    regular.eval()
    x, lengths = torch.randn(T, B, I, **F64), torch.tensor([7, 3, 1, 6, 2])
    torch.testing.assert_close(regular(x, lengths=lengths), plain(x, lengths=lengths))


def test_zoneout_eval_matches_the_expectation_loop():
    layer = rk.LSTM(I, H, zoneout=(0.2, 0.4), **F64).eval()
    x = torch.randn(T, B, I, **F64)
    output, (h_n, c_n) = layer(x)
    spec, weights = layer.specs[0], layer.cell_weights(0, 0)
    h, c = spec.zero_state(B, x.device, x.dtype)
    for t in range(T):
        _, (h_new, c_new) = spec.recur(spec.project(x[t], weights), (h, c), weights)
        h, c = 0.2 * h + 0.8 * h_new, 0.4 * c + 0.6 * c_new
        torch.testing.assert_close(output[t], h)
    torch.testing.assert_close(c_n[0], c)


def test_zoneout_in_training_keeps_or_updates_each_unit():
    layer = rk.RNN(I, 200, zoneout=0.3, **F64).train()
    x, h = torch.randn(64, I, **F64), torch.randn(1, 64, 200, **F64)
    out, _ = layer.step(x, h)
    plain = rk.RNN(I, 200, **F64)
    plain.load_state_dict(layer.state_dict())
    updated, _ = plain.step(x, h)
    kept = torch.isclose(out, h[0])
    assert torch.all(kept | torch.isclose(out, updated))
    assert kept.float().mean().item() == pytest.approx(0.3, abs=0.03)


def test_weight_drop_keeps_the_fused_path_and_the_parameter():
    layer = rk.LSTM(I, H, 2, weight_drop=0.5, **F64).train()
    assert layer.forward_path() == "torch"
    before = layer.weight_hh_l0.detach().clone()
    x = torch.randn(T, B, I, **F64)
    a, b = layer(x)[0], layer(x)[0]
    assert (a - b).abs().max() > 1e-6  # a fresh DropConnect mask each pass
    assert torch.equal(layer.weight_hh_l0, before)  # no parameter surgery
    assert isinstance(layer.weight_hh_l0, nn.Parameter)


def test_weight_drop_fused_equals_loop_with_the_same_masks():
    fused = rk.GRU(I, H, 2, bidirectional=True, weight_drop=0.5, **F64).train()
    loop = rk.GRU(I, H, 2, bidirectional=True, weight_drop=0.5, impl="loop", **F64).train()
    loop.load_state_dict(fused.state_dict())
    x, lengths = torch.randn(T, B, I, **F64, requires_grad=True), torch.tensor([7, 3, 1, 6, 2])
    results = []
    for layer in (fused, loop):
        torch.manual_seed(3)  # both paths draw one mask per (layer, direction), in the same order
        out, h_n = layer(x, lengths=lengths)
        grads = torch.autograd.grad((out * out).sum() + h_n.sum(), [x, *layer.parameters()])
        results.append((out, h_n, grads))
    torch.testing.assert_close(results[0], results[1])
    # Dropped entries of weight_hh get no gradient.
    grad_hh = results[0][2][2]
    assert (grad_hh == 0).float().mean().item() == pytest.approx(0.5, abs=0.15)


def test_regularized_training_ignores_padding():
    layer = rk.LSTM(I, H, 2, bidirectional=True, recurrent_dropout=0.3, zoneout=0.1, weight_drop=0.2, **F64).train()
    x, lengths = torch.randn(T, B, I, **F64), torch.tensor([7, 3, 1, 6, 2])
    mask = torch.arange(T)[:, None] < lengths[None, :]
    noisy = torch.where(mask[..., None], x, torch.full_like(x, 1e6))
    torch.manual_seed(5)
    a = layer(x, lengths=lengths)
    torch.manual_seed(5)
    b = layer(noisy, lengths=lengths)
    torch.testing.assert_close(a, b)
    assert torch.count_nonzero(a[0][~mask]) == 0


def test_regularizer_argument_errors():
    with pytest.raises(ValueError, match=r"recurrent_dropout: expected a probability in \[0, 1\), got 1.0"):
        rk.LSTM(I, H, recurrent_dropout=1.0)
    with pytest.raises(ValueError, match=r"zoneout: expected a float, got \(0.1, 0.2\)"):
        rk.GRU(I, H, zoneout=(0.1, 0.2))
    with pytest.raises(ValueError, match="impl='torch': torch's kernel cannot compute"):
        rk.LSTM(I, H, zoneout=0.1, impl="torch")
    assert math.isclose(rk.LSTM(I, H, zoneout=0.1).zoneout[1], 0.1)


def test_weight_drop_drops_p_and_rescales_the_rest():
    w = torch.ones(400, 300, **F64)
    dropped = F.weight_drop(w, 0.3, training=True)
    zero = dropped == 0
    assert zero.double().mean().item() == pytest.approx(0.3, abs=0.01)
    torch.testing.assert_close(dropped[~zero], torch.full_like(dropped[~zero], 1 / 0.7))
    assert F.weight_drop(w, 0.3, training=False) is w


def test_bernoulli_mask_is_seeded_by_torch():
    like = torch.empty(0)
    torch.manual_seed(3)
    a = F.bernoulli_mask((64, 64), 0.25, like)
    torch.manual_seed(3)
    b = F.bernoulli_mask((64, 64), 0.25, like)
    assert a.dtype == torch.bool and torch.equal(a, b)
    assert a.double().mean().item() == pytest.approx(0.25, abs=0.03)
