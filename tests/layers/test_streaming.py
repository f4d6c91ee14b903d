"""rk.Stream: feeding a sequence one step at a time equals forward on the whole sequence."""

from __future__ import annotations

import pytest
import torch

import rnnkit as rk

T, B, I, H = 6, 3, 4, 5
F64 = {"dtype": torch.float64}

LAYERS = {
    "lstm 2 layers (fused cell op)": lambda: rk.LSTM(I, H, 2, **F64),
    "gru (fused cell op)": lambda: rk.GRU(I, H, **F64),
    "rnn relu no bias (fused cell op)": lambda: rk.RNN(I, H, nonlinearity="relu", bias=False, **F64),
    "lstm projection (layer step)": lambda: rk.LSTM(I, H, 2, proj_size=2, **F64),
    "lstm peephole zoneout (layer step)": lambda: rk.LSTM(I, H, peephole=True, zoneout=0.2, **F64),
    "generic cell": lambda: rk.Recurrent(lambda i: rk.GRUCell(i, H, dtype=torch.float64), I, num_layers=2),
    "mingru": lambda: rk.MinGRU(I, H, **F64),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_stream_equals_forward(name: str) -> None:
    layer = LAYERS[name]().eval()
    x = torch.randn(T, B, I, **F64)
    expected, h_n = layer(x)
    stream = rk.Stream(layer, batch_size=B)
    outputs = torch.stack([stream(x_t) for x_t in x])
    torch.testing.assert_close(outputs, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(stream.state, h_n, rtol=0, atol=1e-12)
    stream.reset()  # back to zeros: the same outputs again
    torch.testing.assert_close(stream(x[0]), expected[0], rtol=0, atol=1e-12)


def test_stream_from_a_given_state_and_gradients_flow() -> None:
    layer = rk.LSTM(I, H, 2, **F64)
    x = torch.randn(T, B, I, **F64)
    h0 = (torch.randn(2, B, H, **F64, requires_grad=True), torch.randn(2, B, H, **F64))
    expected, _ = layer(x, h0)
    stream = rk.Stream(layer, B, state=h0)
    outputs = torch.stack([stream(x_t) for x_t in x])
    torch.testing.assert_close(outputs, expected, rtol=0, atol=1e-12)
    (grad_stream,) = torch.autograd.grad(outputs.sum(), h0[0])
    (grad_forward,) = torch.autograd.grad(expected.sum(), h0[0])
    torch.testing.assert_close(grad_stream, grad_forward, rtol=0, atol=1e-12)


def test_stream_in_training_with_regularizers_runs_the_layer_step() -> None:
    layer = rk.LSTM(I, H, 2, dropout=0.5, weight_drop=0.5, **F64).train()
    stream = rk.Stream(layer, B)
    torch.manual_seed(0)
    a = stream(torch.ones(B, I, **F64))
    assert a.shape == (B, H) and torch.isfinite(a).all()
    assert stream.state[0].shape == (2, B, H)


def test_stream_errors() -> None:
    with pytest.raises(ValueError, match="bidirectional layer needs the whole sequence"):
        rk.Stream(rk.GRU(I, H, bidirectional=True))
    with pytest.raises(ValueError, match="expected batch_size an int >= 1, got 0"):
        rk.Stream(rk.GRU(I, H), 0)
    stream = rk.Stream(rk.GRU(I, H), 2)
    with pytest.raises(ValueError, match=r"expected x of shape \(2, 4\), torch.float32 on cpu, got \(2, 3\)"):
        stream(torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"expected hx\[0\] of shape \(1, 2, 5\), got \(1, 3, 5\)"):
        rk.Stream(rk.LSTM(I, H), 2, state=(torch.zeros(1, 3, H), torch.zeros(1, 3, H)))
