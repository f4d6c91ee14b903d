"""The convolutional cells: a hand-computed step, float64 gradcheck, and equality with the
vector cells when the kernel and the frame are 1x1."""

from __future__ import annotations

import math

import pytest
import torch

import rnnkit as rk
from rnnkit.cells import ConvGRUCell, ConvLSTMCell

F64 = {"dtype": torch.float64}
NEIGHBOURS = torch.tensor([[4.0, 6.0, 4.0], [6.0, 9.0, 6.0], [4.0, 6.0, 4.0]], **F64)  # 3x3 ones, zero padding


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def constant_cell(cell, a: float, b: float = 0.0):
    with torch.no_grad():
        for name, p in cell.named_parameters():
            p.fill_({"weight_ih": a, "weight_hh": b}.get(name, 0.0))
    return cell


def test_conv_lstm_step_by_hand():
    # a 3x3 kernel of a's over a frame of ones sums a over the pixel's neighbours (4, 6 or 9 of
    # them, the border padded with zeros): every gate's pre-activation is that sum n*a
    a = 0.1
    cell = constant_cell(ConvLSTMCell(1, 1, 3, **F64), a)
    h, (h_again, c) = cell.step(torch.ones(1, 1, 3, 3, **F64))
    expected_c = [[sigmoid(n * a) * math.tanh(n * a) for n in row] for row in NEIGHBOURS.tolist()]
    expected_h = [[sigmoid(n * a) * math.tanh(cv) for n, cv in zip(row, crow)]
                  for row, crow in zip(NEIGHBOURS.tolist(), expected_c)]
    torch.testing.assert_close(c[0, 0], torch.tensor(expected_c, **F64))
    torch.testing.assert_close(h[0, 0], torch.tensor(expected_h, **F64))
    assert h is h_again
    # the second step reads H_1 through W_h (b), and C_1 through the peepholes (p): by hand at the centre
    b, p = 0.05, 0.3
    with torch.no_grad():
        cell.weight_hh.fill_(b)
        cell.weight_ch.fill_(p)
    h2, (_, c2) = cell.step(torch.ones(1, 1, 3, 3, **F64), (h, c))
    pre = 9 * a + b * float(h[0, 0].detach().sum())  # the centre sees all nine H_1 values
    c1 = expected_c[1][1]
    i = f = sigmoid(pre + p * c1)
    c_centre = f * c1 + i * math.tanh(pre)
    h_centre = sigmoid(pre + p * c_centre) * math.tanh(c_centre)
    assert c2[0, 0, 1, 1].item() == pytest.approx(c_centre, abs=1e-12)
    assert h2[0, 0, 1, 1].item() == pytest.approx(h_centre, abs=1e-12)


def test_conv_gru_step_by_hand():
    a = 0.2
    cell = constant_cell(ConvGRUCell(1, 1, 3, **F64), a)
    h, same = cell.step(torch.ones(1, 1, 3, 3, **F64))
    # r = z = sigmoid(n a); n_t = tanh(n a + U * (r h_0)) = tanh(n a) from h_0 = 0; h = (1 - z) n_t
    expected = [[(1 - sigmoid(n * a)) * math.tanh(n * a) for n in row] for row in NEIGHBOURS.tolist()]
    torch.testing.assert_close(h[0, 0], torch.tensor(expected, **F64))
    assert same is h


@pytest.mark.parametrize("make", [lambda: ConvLSTMCell(2, 2, 3, **F64), lambda: ConvLSTMCell(2, 2, 3, peephole=False, **F64),
                                  lambda: ConvLSTMCell(2, 2, 3, frame_size=(3, 4), **F64),
                                  lambda: ConvGRUCell(2, 2, 3, **F64)],
                         ids=["lstm", "lstm_no_peephole", "lstm_full_peephole", "gru"])
def test_gradcheck(make):
    """Float64 finite differences against autograd, for the input, the state and every parameter."""
    torch.manual_seed(0)
    cell = make()
    names = [name for name, _ in cell.named_parameters()]
    x = torch.randn(2, 2, 3, 4, **F64)
    state = cell.initial_state(2, (3, 4))
    leaves = [s.normal_() for s in (state if isinstance(state, tuple) else (state,))]

    def step(x, *rest):
        state = tuple(rest[: len(leaves)]) if len(leaves) == 2 else rest[0]
        return torch.func.functional_call(cell, dict(zip(names, rest[len(leaves):])), (x, state))[1]

    inputs = (x, *leaves, *(p.detach() for p in cell.parameters()))
    assert torch.autograd.gradcheck(step, tuple(t.clone().requires_grad_() for t in inputs))


@pytest.mark.parametrize("peephole", [False, True])
def test_a_1x1_conv_lstm_is_an_lstm_cell(peephole):
    torch.manual_seed(1)
    conv = ConvLSTMCell(3, 4, 1, peephole=peephole, **F64)
    lstm = rk.LSTMCell(3, 4, peephole=peephole, **F64)
    with torch.no_grad():
        for name, p in lstm.named_parameters():
            p.copy_(getattr(conv, name).reshape(p.shape))
    x, h, c = torch.randn(5, 3, **F64), torch.randn(5, 4, **F64), torch.randn(5, 4, **F64)
    out, (_, c1) = conv.step(x[..., None, None], (h[..., None, None], c[..., None, None]))
    ref, (_, rc) = lstm.step(x, (h, c))
    torch.testing.assert_close(out.flatten(1), ref)
    torch.testing.assert_close(c1.flatten(1), rc)


def test_a_1x1_conv_gru_is_a_reset_before_gru():
    torch.manual_seed(2)
    conv = ConvGRUCell(3, 4, 1, **F64)
    gru = rk.GRU(3, 4, reset_after=False, **F64)
    with torch.no_grad():
        for name, p in conv.named_parameters():
            getattr(gru, name + "_l0").copy_(p.reshape(getattr(gru, name + "_l0").shape))
    x, h = torch.randn(5, 3, **F64), torch.randn(5, 4, **F64)
    out, _ = conv.step(x[..., None, None], h[..., None, None])
    ref, _ = gru(x[None], h[None])
    torch.testing.assert_close(out.flatten(1), ref[0])


def test_errors():
    for bad, message in ((lambda: ConvLSTMCell(2, 3, 4), "kernel_size: expected an odd size"),
                         (lambda: ConvLSTMCell(2, 0, 3), "hidden_size: expected an int >= 1"),
                         (lambda: ConvLSTMCell(2, 3, 3, frame_size=(7,)), r"frame_size: expected \(height, width\)")):
        with pytest.raises(ValueError, match=message):
            bad()
    cell = ConvLSTMCell(2, 3, 3)
    with pytest.raises(ValueError, match=r"expected x of shape \(batch, 2, height, width\), got \(7, 5, 4, 4\)"):
        cell.step(torch.zeros(7, 5, 4, 4))
