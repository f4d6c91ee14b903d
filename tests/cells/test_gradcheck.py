"""float64 finite differences (torch.autograd.gradcheck) for every cell variant (rnnkit.testing.VARIANTS)."""

from __future__ import annotations

import pytest
import torch

import rnnkit as rk
from rnnkit.testing import VARIANTS

B, I, H = 3, 4, 5
CELLS = {name: lambda v=v: v.cell(I, H, dtype=torch.float64) for name, v in VARIANTS.items()}
CELLS["lstm_no_bias"] = lambda: rk.LSTMCell(I, H, bias=False, dtype=torch.float64)


def _random_state(cell):
    state = cell.initial_state(B)
    if isinstance(state, tuple):
        return tuple(torch.randn_like(s, requires_grad=True) for s in state)
    return torch.randn_like(state, requires_grad=True)


@pytest.mark.parametrize("name", list(CELLS))
def test_cell_step_gradcheck(name):
    cell = CELLS[name]()
    with torch.no_grad():  # move layer-norm gains off 1 and shifts off 0 so they are tested too
        for p in cell.parameters():
            p.add_(0.3 * torch.randn_like(p))
    names = [n for n, _ in cell.named_parameters()]
    x = torch.randn(B, I, dtype=torch.float64, requires_grad=True)
    state = _random_state(cell)
    states = list(state) if isinstance(state, tuple) else [state]
    params = [p.detach().clone().requires_grad_() for p in cell.parameters()]

    def step(x, *rest):
        leaves, weights = rest[: len(states)], dict(zip(names, rest[len(states):]))
        s = tuple(leaves) if isinstance(state, tuple) else leaves[0]
        h, new_state = torch.func.functional_call(cell, weights, (x, s))
        return (h, *new_state) if isinstance(new_state, tuple) else (h,)

    assert torch.autograd.gradcheck(step, (x, *states, *params))


@pytest.mark.parametrize(
    "layer",
    [
        lambda: rk.LSTM(I, H, 2, bidirectional=True, peephole=True, layer_norm=True, dtype=torch.float64),
        lambda: rk.GRU(I, H, 2, bidirectional=True, reset_after=False, layer_norm=True, dtype=torch.float64),
        lambda: rk.RNN(I, H, 1, bidirectional=True, impl="loop", dtype=torch.float64),
    ],
    ids=["lstm_ln_peephole", "gru_cho_ln", "rnn"],
)
def test_layer_with_lengths_gradcheck(layer):
    layer = layer()
    x = torch.randn(4, B, I, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([4, 1, 3])

    def run(x):
        out, h_n = layer(x, lengths=lengths)
        return (out, *(h_n if isinstance(h_n, tuple) else (h_n,)))

    assert torch.autograd.gradcheck(run, (x,))
