"""Properties of the recurrence, for fused and loop paths and every variant (rnnkit.testing.VARIANTS).

One example alone == the same example in a batch; no state == zero state; final state ==
output at length - 1; step-by-step streaming == forward; padding has no effect on anything;
PackedSequence == lengths; unbatched == a batch of one; the generic layer == the built-in one.
"""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit as rk
from rnnkit.testing import VARIANTS
from tests.helpers import tolerance

T, B, I, H = 6, 4, 3, 5
LENGTHS = torch.tensor([6, 3, 1, 5])
F64 = {"dtype": torch.float64}

def _configs() -> dict:
    """Every variant of rnnkit.testing.VARIANTS as a 2-layer stack on its default path, on the
    readable loop, and bidirectional; and a generic layer around a user-built cell."""
    configs = {}
    for name, variant in VARIANTS.items():
        configs[name] = lambda v=variant: v.layer(I, H, 2, **F64)
        configs[f"{name}_loop"] = lambda v=variant: v.layer(I, H, 2, impl="loop", **F64)
        configs[f"{name}_bi"] = lambda v=variant: v.layer(I, H, 2, bidirectional=True, **F64)
    configs["generic_ln_lstm_bi"] = lambda: rk.Recurrent(lambda n: rk.LSTMCell(n, H, layer_norm=True, **F64), I, 2,
                                                         bidirectional=True)
    return configs


CONFIGS = _configs()
UNIDIRECTIONAL = [k for k in CONFIGS if "_bi" not in k]


def states_close(a, b, **tol):
    torch.testing.assert_close(a, b, **(tol or tolerance(torch.float64)))


def output_h(h_n):
    """The hidden-state part of a layer's final state, (L*D, B, H_out)."""
    if isinstance(h_n, list):  # generic layer: per-cell (h, c)
        return torch.stack([s[0] if isinstance(s, tuple) else s for s in h_n])
    return h_n[0] if isinstance(h_n, tuple) else h_n


def select_batch(state, b):
    if isinstance(state, torch.Tensor):
        return state[:, b : b + 1] if state.dim() == 3 else state[b : b + 1]
    if isinstance(state, list):
        return [select_batch(s, b) for s in state]
    return tuple(select_batch(s, b) for s in state)


@pytest.fixture(params=list(CONFIGS))
def layer(request, device):
    return CONFIGS[request.param]().to(device).eval()


def randn(layer, *shape):
    """Float64 noise on the layer's device."""
    return torch.randn(*shape, dtype=torch.float64, device=next(layer.parameters()).device)


def test_batch_independence(layer):
    x = randn(layer, T, B, I)
    out, h_n = layer(x, lengths=LENGTHS)
    for b in range(B):
        n = int(LENGTHS[b])
        out_b, h_b = layer(x[:n, b : b + 1])
        states_close(out_b, out[:n, b : b + 1])
        states_close(h_b, select_batch(h_n, b))


def test_no_state_equals_zero_state(layer):
    x = randn(layer, T, B, I)
    states_close(layer(x, lengths=LENGTHS), layer(x, layer.initial_state(B), lengths=LENGTHS))


def test_final_state_is_output_at_last_valid_step(layer):
    x = randn(layer, T, B, I)
    out, h_n = layer(x, lengths=LENGTHS)
    D = layer.num_directions
    h_last = output_h(h_n)[-D:]  # the top layer's directions, (D, B, H_out)
    width = out.shape[-1] // D
    for b in range(B):
        states_close(h_last[0, b], out[LENGTHS[b] - 1, b, :width])
        if D == 2:  # the reverse direction ends at time 0
            states_close(h_last[1, b], out[0, b, width:])
        assert torch.count_nonzero(out[LENGTHS[b]:, b]) == 0  # outputs past the length are zero


@pytest.mark.parametrize("name", UNIDIRECTIONAL)
def test_step_equals_forward(name, device):
    layer = CONFIGS[name]().to(device).eval()
    x = randn(layer, T, B, I)
    hx = layer.initial_state(B)
    hx = [rk.functional.tree_map(torch.randn_like, s) for s in hx] if isinstance(hx, list) else rk.functional.tree_map(torch.randn_like, hx)
    out, h_n = layer(x, hx)
    state = hx
    for t in range(T):
        h_t, state = layer.step(x[t], state)
        states_close(h_t, out[t])
    states_close(state, h_n)


def test_padding_has_no_effect(layer):
    x = randn(layer, T, B, I)
    mask = (torch.arange(T)[:, None] < LENGTHS[None, :]).to(x.device)
    garbage = torch.where(torch.rand(T, B, I) < 0.5, float("nan"), 1e6).to(x)  # NaN and huge values
    noisy = torch.where(mask[..., None], x, garbage)
    results = []
    for inputs in (x, noisy):
        inputs = inputs.clone().requires_grad_()
        out, h_n = layer(inputs, lengths=LENGTHS)
        flat = [out, *_leaves(h_n)]
        loss = sum((t * torch.linspace(-1, 1, t.numel(), dtype=t.dtype, device=t.device).view_as(t)).sum() for t in flat)
        grads = torch.autograd.grad(loss, [inputs, *layer.parameters()])
        results.append((flat, grads))
    (flat_a, grads_a), (flat_b, grads_b) = results
    states_close(flat_b, flat_a)
    states_close(grads_b[1:], grads_a[1:])
    states_close(grads_b[0][mask], grads_a[0][mask])
    assert grads_b[0][~mask].abs().max() == 0.0


def _leaves(state):
    if isinstance(state, torch.Tensor):
        return [state]
    return [leaf for part in state for leaf in _leaves(part)]


def test_packed_sequence_equals_lengths(layer):
    x = randn(layer, T, B, I)
    out, h_n = layer(x, lengths=LENGTHS)
    packed_out, packed_h = layer(pack_padded_sequence(x, LENGTHS, enforce_sorted=False))
    unpacked, unpacked_lengths = pad_packed_sequence(packed_out, total_length=T)
    assert torch.equal(unpacked_lengths, LENGTHS)
    states_close(unpacked, out)
    states_close(packed_h, h_n)


def test_unbatched_equals_batch_of_one(layer):
    x = randn(layer, T, I)
    out, h_n = layer(x)
    out_b, h_b = layer(x.unsqueeze(1))
    states_close(out, out_b.squeeze(1))
    squeeze = 0 if isinstance(h_n, list) else 1
    states_close(h_n, rk.functional.tree_map(lambda t: t.squeeze(squeeze), h_b))


def test_batch_first_equals_time_major():
    a = rk.GRU(I, H, 2, bidirectional=True, **F64)
    b = rk.GRU(I, H, 2, bidirectional=True, batch_first=True, **F64)
    b.load_state_dict(a.state_dict())
    x = torch.randn(T, B, I, **F64)
    out_a, h_a = a(x, lengths=LENGTHS)
    out_b, h_b = b(x.transpose(0, 1), lengths=LENGTHS)
    states_close(out_b.transpose(0, 1), out_a)
    states_close(h_b, h_a)  # h_n stays (L*D, B, H), as in torch.nn


def test_generic_layer_equals_builtin_layer():
    builtin = rk.LSTM(I, H, 2, bidirectional=True, peephole=True, **F64)
    generic = rk.Recurrent(lambda n: rk.LSTMCell(n, H, peephole=True, **F64), I, 2, bidirectional=True)
    for k, cell in enumerate(generic.cells):
        cell.load_state_dict(builtin.cell_weights(k // 2, k % 2))
    x = torch.randn(T, B, I, **F64)
    out_a, (h_a, c_a) = builtin(x, lengths=LENGTHS)
    out_b, states = generic(x, lengths=LENGTHS)
    states_close(out_b, out_a)
    states_close(torch.stack([s[0] for s in states]), h_a)
    states_close(torch.stack([s[1] for s in states]), c_a)


class MinimalCell(torch.nn.Module):
    """A user's own cell: only output_size, initial_state and step."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.output_size = hidden_size
        self.w = torch.nn.Linear(input_size, hidden_size, dtype=torch.float64)
        self.u = torch.nn.Linear(hidden_size, hidden_size, bias=False, dtype=torch.float64)

    def initial_state(self, batch_size):
        return torch.zeros(batch_size, self.output_size, dtype=torch.float64)

    def step(self, x, h):
        h = torch.tanh(self.w(x) + self.u(h))
        return h, h


def test_user_cell_runs_in_generic_layer_and_matches_rnn():
    generic = rk.Recurrent(lambda n: MinimalCell(n, H), I, bidirectional=True)
    ref = rk.RNN(I, H, bidirectional=True, **F64)
    with torch.no_grad():
        for d, suffix in enumerate(["_l0", "_l0_reverse"]):
            cell = generic.cells[d]
            getattr(ref, "weight_ih" + suffix).copy_(cell.w.weight)
            getattr(ref, "bias_ih" + suffix).copy_(cell.w.bias)
            getattr(ref, "weight_hh" + suffix).copy_(cell.u.weight)
            getattr(ref, "bias_hh" + suffix).zero_()
    x = torch.randn(T, B, I, **F64)
    out_a, h_a = ref(x, lengths=LENGTHS)
    out_b, states = generic(x, lengths=LENGTHS)
    states_close(out_b, out_a)
    states_close(torch.stack(states), h_a)


def test_dropout_between_layers_only_in_training():
    layer = rk.LSTM(I, H, 3, dropout=0.5, **F64)
    x = torch.randn(T, B, I, **F64)
    layer.train()
    a, b = layer(x)[0], layer(x)[0]
    assert (a - b).abs().max() > 1e-6  # fresh masks each call
    layer.eval()
    reference = rk.LSTM(I, H, 3, **F64)
    reference.load_state_dict(layer.state_dict())
    states_close(layer(x)[0], reference(x)[0])


def test_lengths_on_any_device_and_as_list():
    layer = rk.GRU(I, H, **F64)
    x = torch.randn(T, B, I, **F64)
    expected = layer(x, lengths=LENGTHS)
    states_close(layer(x, lengths=LENGTHS.tolist()), expected)
    states_close(layer(x, lengths=LENGTHS.to(torch.int32)), expected)


def test_full_lengths_equal_no_lengths(layer):
    x = randn(layer, T, B, I)
    states_close(layer(x, lengths=torch.full((B,), T)), layer(x))


@pytest.mark.parametrize("variant", ["peephole", "layer_norm"])
def test_variants_change_the_function(variant):
    # A variant with fresh parameters is not silently the plain LSTM.
    plain = rk.LSTM(I, H, **F64)
    varied = rk.LSTM(I, H, **{variant: True}, **F64)
    varied.load_state_dict(plain.state_dict(), strict=False)
    if variant == "peephole":
        with torch.no_grad():
            varied.weight_ch_l0.fill_(0.5)
    x = torch.randn(T, B, I, **F64)
    assert (plain(x)[0] - varied(x)[0]).abs().max() > 1e-3
