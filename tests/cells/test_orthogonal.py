"""ExpRNN (the orthogonal recurrence): B = exp(A - A^T) stays orthogonal through training, a
2-unit case by hand, float64 finite differences, and the layer contract (step == sequence,
padding has no effect, each sequence on its own)."""

from __future__ import annotations

import math

import pytest
import torch

import rnnkit as rk
from rnnkit.cells.orthogonal import ExpRNNCell, modrelu
from rnnkit.models.sequence import RecurrentConfig, build_recurrent


def orthogonality_error(W: torch.Tensor) -> float:
    return float((W.T @ W - torch.eye(W.shape[0], dtype=W.dtype)).abs().max().detach())


@pytest.mark.parametrize("init", ["henaff", "zero"])
def test_the_recurrent_matrix_is_orthogonal_before_and_after_training(init):
    torch.manual_seed(0)
    layer = rk.ExpRNN(4, 9, init=init).double()
    cell = layer.cells[0]
    assert orthogonality_error(cell.weight_hh) < 1e-12 and abs(float(torch.linalg.det(cell.weight_hh).detach()) - 1) < 1e-12
    if init == "zero":
        assert torch.equal(cell.weight_hh, torch.eye(9, dtype=torch.float64))
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.1)
    for _ in range(5):
        out, _ = layer(torch.randn(6, 3, 4, dtype=torch.float64))
        optimizer.zero_grad()
        (out ** 2).sum().backward()
        optimizer.step()
    assert orthogonality_error(cell.weight_hh) < 1e-12
    assert not torch.allclose(cell.weight_hh, torch.eye(9, dtype=torch.float64))  # it moved, and stayed orthogonal


def test_two_units_by_hand():
    """A = [[0, s], [., 0]] -> B = [[cos s, sin s], [-sin s, cos s]]; one input, one step."""
    cell = ExpRNNCell(1, 2).double()
    s = 0.7
    with torch.no_grad():
        f64 = {"dtype": torch.float64}
        cell.parametrizations.weight_hh.original.copy_(torch.tensor([[0.0, s], [5.0, 0.0]], **f64))  # 5: unused
        cell.weight_ih.copy_(torch.tensor([[1.0], [-2.0]], **f64))
        cell.bias_ih.copy_(torch.tensor([0.1, 0.2], **f64))
        cell.modrelu_bias.copy_(torch.tensor([-0.05, 0.3], **f64))
    x, h0 = torch.tensor([[0.5]], dtype=torch.float64), torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    # z = W x + b + B h0
    z0 = 0.5 + 0.1 + math.cos(s) * 1.0 + math.sin(s) * -1.0
    z1 = -1.0 + 0.2 - math.sin(s) * 1.0 + math.cos(s) * -1.0
    expected = [math.copysign(max(abs(z0) - 0.05, 0.0), z0), math.copysign(max(abs(z1) + 0.3, 0.0), z1)]
    h, state = cell.step(x, h0)
    torch.testing.assert_close(h, torch.tensor([expected], dtype=torch.float64), rtol=0, atol=1e-14)
    assert state is h


def test_modrelu_keeps_the_sign_and_shrinks_the_magnitude():
    z = torch.tensor([-2.0, -0.05, 0.0, 0.05, 2.0])
    torch.testing.assert_close(modrelu(z, torch.full((5,), -0.1)), torch.tensor([-1.9, 0.0, 0.0, 0.0, 1.9]))


def test_gradcheck_float64():
    torch.manual_seed(1)
    layer = rk.ExpRNN(3, 4, num_layers=2).double()
    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    params = [p for p in layer.parameters()]

    def run(x, *values):
        with torch.nn.utils.stateless._reparametrize_module(layer, dict(zip(names, values))):
            return layer(x, lengths=torch.tensor([4, 2]))[0]

    names = [n for n, _ in layer.named_parameters()]
    assert torch.autograd.gradcheck(run, (x, *params), eps=1e-6, atol=1e-7)


def test_step_equals_sequence_and_padding_has_no_effect():
    torch.manual_seed(2)
    layer = rk.ExpRNN(3, 5, num_layers=2).double().eval()
    x = torch.randn(6, 3, 3, dtype=torch.float64)
    lengths = torch.tensor([6, 4, 1])
    out, states = layer(x, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):  # each sequence alone, unpadded, step by step
        alone, state = x[:n, b:b + 1], None
        for t in range(n):
            h, state = layer.step(alone[t], state)
            torch.testing.assert_close(h, out[t, b:b + 1], rtol=0, atol=1e-13)
        for layer_state, final in zip(state, states):
            torch.testing.assert_close(layer_state, final[b:b + 1], rtol=0, atol=1e-13)
        assert torch.count_nonzero(out[n:, b]) == 0


def test_the_config_builds_it_and_refuses_what_it_lacks():
    layer = build_recurrent(RecurrentConfig(cell="exprnn", hidden_size=6, num_layers=2, bidirectional=True), 3)
    assert isinstance(layer, rk.ExpRNN) and layer(torch.randn(4, 2, 3))[0].shape == (4, 2, 12)
    with pytest.raises(ValueError, match=r"cell='exprnn': expected none of \['zoneout'\]"):
        build_recurrent(RecurrentConfig(cell="exprnn", zoneout=0.1), 3)
    with pytest.raises(ValueError, match="init: expected 'henaff' or 'zero', got 'cayley'"):
        ExpRNNCell(2, 2, init="cayley")
