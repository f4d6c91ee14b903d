"""rk.RNN / rk.LSTM / rk.GRU against torch.nn with the same state_dict, float64.

Over the product of bias x batch_first x bidirectional x num_layers x lengths x impl, every
output, final state and gradient (input, initial states, each weight) must match. Variable
lengths are compared with torch.nn's packed path.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit as rk
from conftest import tolerance

T, B, I, H = 5, 4, 3, 4
MODES = {
    "rnn_tanh": (nn.RNN, rk.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (nn.RNN, rk.RNN, {"nonlinearity": "relu"}),
    "lstm": (nn.LSTM, rk.LSTM, {}),
    "lstm_proj": (nn.LSTM, rk.LSTM, {"proj_size": 2}),
    "gru": (nn.GRU, rk.GRU, {}),
}
FLAGS = list(itertools.product([True, False], [False, True], [False, True], [1, 2], [False, True]))


def build_pair(mode, bias, batch_first, bidirectional, num_layers, impl, device, dtype=torch.float64):
    torch_cls, rk_cls, extra = MODES[mode]
    ref = torch_cls(I, H, num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional, **extra)
    ref = ref.to(device, dtype)
    ours = rk_cls(I, H, num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional,
                  impl=impl, device=device, dtype=dtype, **extra)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def make_inputs(ref, batch_first, device, dtype):
    D = 2 if ref.bidirectional else 1
    shape = (B, T, I) if batch_first else (T, B, I)
    x = torch.randn(shape, device=device, dtype=dtype, requires_grad=True)
    h_out = ref.proj_size if getattr(ref, "proj_size", 0) else H
    h0 = torch.randn(ref.num_layers * D, B, h_out, device=device, dtype=dtype, requires_grad=True)
    if isinstance(ref, nn.LSTM):
        c0 = torch.randn(ref.num_layers * D, B, H, device=device, dtype=dtype, requires_grad=True)
        return x, (h0, c0), [x, h0, c0]
    return x, h0, [x, h0]


def run_torch(ref, x, hx, lengths):
    if lengths is None:
        return ref(x, hx)
    packed = pack_padded_sequence(x, lengths, batch_first=ref.batch_first, enforce_sorted=False)
    out, h_n = ref(packed, hx)
    out, _ = pad_packed_sequence(out, batch_first=ref.batch_first, total_length=T)
    return out, h_n


def flat(result):
    out, h_n = result
    return [out, *(h_n if isinstance(h_n, tuple) else (h_n,))]


def loss_of(tensors, weights):
    # Random weights make every output element matter differently to the gradient.
    return sum((t * w).sum() for t, w in zip(tensors, weights))


def compare(ref, ours, batch_first, lengths, device, dtype=torch.float64):
    x, hx, leaves = make_inputs(ref, batch_first, device, dtype)
    expected = flat(run_torch(ref, x, hx, lengths))
    got = flat(ours(x, hx, lengths=lengths))
    weights = [torch.randn_like(t) for t in expected]
    expected_grads = torch.autograd.grad(loss_of(expected, weights), leaves + list(ref.parameters()))
    got_grads = torch.autograd.grad(loss_of(got, weights), leaves + list(ours.parameters()))
    tol = tolerance(dtype)
    diffs = {}
    for name, e, g in zip(["output", "h_n", "c_n"], expected, got):
        torch.testing.assert_close(g, e, **tol, msg=lambda m, name=name: f"{name}: {m}")
        diffs[name] = (g - e).abs().max().item()
    names = ["input", "h_0", "c_0"][: len(leaves)] + [f"grad {n}" for n, _ in ref.named_parameters()]
    for name, e, g in zip(names, expected_grads, got_grads):
        torch.testing.assert_close(g, e, **tol, msg=lambda m, name=name: f"d/d {name}: {m}")
        diffs[f"grad {name}"] = (g - e).abs().max().item()
    return diffs


@pytest.mark.parametrize("impl", ["fused", "loop"])
@pytest.mark.parametrize("bias,batch_first,bidirectional,num_layers,variable", FLAGS)
@pytest.mark.parametrize("mode", list(MODES))
def test_matches_torch_nn(mode, bias, batch_first, bidirectional, num_layers, variable, impl, device):
    ref, ours = build_pair(mode, bias, batch_first, bidirectional, num_layers, impl, device)
    lengths = torch.tensor([T, 2, 1, 4]) if variable else None
    compare(ref, ours, batch_first, lengths, device)


@pytest.mark.parametrize("mode", list(MODES))
def test_float32_matches_torch_nn(mode, device):
    ref, ours = build_pair(mode, True, False, True, 2, "loop", device, dtype=torch.float32)
    compare(ref, ours, False, torch.tensor([T, 2, 1, 4]), device, dtype=torch.float32)


@pytest.mark.parametrize("mode", list(MODES))
def test_state_dict_round_trip(mode):
    torch_cls, rk_cls, extra = MODES[mode]
    ours = rk_cls(I, H, 2, bidirectional=True, **extra)
    ref = torch_cls(I, H, 2, bidirectional=True, **extra)
    ref.load_state_dict(ours.state_dict())  # strict: the same keys and shapes, both ways
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    x = torch.randn(T, B, I)
    torch.testing.assert_close(ours(x)[0], ref(x)[0])


@pytest.mark.parametrize(
    "torch_cell,rk_cell,extra",
    [(nn.RNNCell, rk.RNNCell, {"nonlinearity": "relu"}), (nn.LSTMCell, rk.LSTMCell, {}), (nn.GRUCell, rk.GRUCell, {})],
)
def test_cells_match_torch_cells(torch_cell, rk_cell, extra):
    ref = torch_cell(I, H, **extra).double()
    ours = rk_cell(I, H, dtype=torch.float64, **extra)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(B, I, dtype=torch.float64)
    state = ours.initial_state(B)
    state = tuple(torch.randn_like(s) for s in state) if isinstance(state, tuple) else torch.randn_like(state)
    expected = ref(x, state)
    h, new_state = ours.step(x, state)
    torch.testing.assert_close(new_state, expected, **tolerance(torch.float64))
    torch.testing.assert_close(h, expected[0] if isinstance(expected, tuple) else expected)
