"""minGRU / minLSTM: the parallel log-space scan equals the step-by-step recurrence."""

from __future__ import annotations

import math

import pytest
import torch

import rnnkit as rk
from rnnkit.functional.minrnn import g, log_g, parallel_scan_log

T, B, I, H = 9, 4, 3, 5
F64 = {"dtype": torch.float64}
LENGTHS = torch.tensor([9, 4, 1, 7])


def test_g_and_log_g():
    v = torch.tensor([-3.0, -0.5, 0.0, 0.5, 4.0], **F64)
    expected = [1 / (1 + math.exp(3)), 1 / (1 + math.exp(0.5)), 0.5, 1.0, 4.5]
    assert g(v).tolist() == pytest.approx(expected)
    assert log_g(v).tolist() == pytest.approx([math.log(e) for e in expected])


def test_scan_equals_the_recurrence():
    a = torch.rand(T, B, H, **F64)
    b = torch.rand(T, B, H, **F64) + 0.1
    h0 = torch.randn(B, H, **F64)  # any sign: h0 enters in ordinary space
    expected, h = [], h0
    for t in range(T):
        h = a[t] * h + b[t]
        expected.append(h)
    torch.testing.assert_close(parallel_scan_log(a.log(), b.log(), h0), torch.stack(expected))
    torch.testing.assert_close(parallel_scan_log(a.log(), b.log())[0], b[0])  # zero state


@pytest.mark.parametrize("cls", [rk.MinGRU, rk.MinLSTM])
def test_scan_forward_equals_step_loop(cls):
    scan = cls(I, H, num_layers=2, **F64)
    loop = cls(I, H, num_layers=2, impl="loop", **F64)
    loop.load_state_dict(scan.state_dict())
    x = torch.randn(T, B, I, **F64, requires_grad=True)
    hx = torch.rand(2, B, H, **F64, requires_grad=True)
    results = []
    for layer in (scan, loop):
        out, h_n = layer(x, hx, lengths=LENGTHS)
        grads = torch.autograd.grad((out * out).sum() + h_n.sum(), [x, hx, *layer.parameters()])
        results.append((out, h_n, grads))
    torch.testing.assert_close(results[0], results[1])
    out, h_n = results[0][:2]
    for b in range(B):
        torch.testing.assert_close(h_n[-1, b], out[LENGTHS[b] - 1, b])  # final state at the last valid step
        assert torch.count_nonzero(out[LENGTHS[b]:, b]) == 0


@pytest.mark.parametrize("cls", [rk.MinGRU, rk.MinLSTM])
def test_streaming_step_equals_forward(cls):
    layer = cls(I, H, num_layers=2, **F64)
    x = torch.randn(T, B, I, **F64)
    out, h_n = layer(x)
    state = None
    for t in range(T):
        h, state = layer.step(x[t], state)
        torch.testing.assert_close(h, out[t])
    torch.testing.assert_close(state, h_n)


@pytest.mark.parametrize("cls", [rk.MinGRU, rk.MinLSTM])
def test_scan_gradcheck(cls):
    layer = cls(I, H, **F64)
    x = torch.randn(5, 2, I, **F64, requires_grad=True)
    h0 = torch.rand(1, 2, H, **F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, h0: layer(x, h0)[0], (x, h0))


def test_min_cells_are_the_equations():
    cell = rk.MinLSTMCell(I, H, **F64)
    x, h = torch.randn(B, I, **F64), torch.randn(B, H, **F64)
    f_pre, i_pre, v = (x @ cell.weight_ih.T + cell.bias_ih).chunk(3, -1)
    f, i = torch.sigmoid(f_pre), torch.sigmoid(i_pre)
    torch.testing.assert_close(cell.step(x, h)[0], f / (f + i) * h + i / (f + i) * g(v))
    gru = rk.MinGRUCell(I, H, **F64)
    k, v = (x @ gru.weight_ih.T + gru.bias_ih).chunk(2, -1)
    z = torch.sigmoid(k)
    torch.testing.assert_close(gru.step(x, h)[0], (1 - z) * h + z * g(v))


def test_min_rnn_errors():
    with pytest.raises(ValueError, match="impl: expected 'scan' or 'loop', got 'fast'"):
        rk.MinGRU(I, H, impl="fast")
    with pytest.raises(ValueError, match=f"expected input.size\\(-1\\) == input_size={I}, got 7"):
        rk.MinGRU(I, H)(torch.randn(T, B, 7))
    with pytest.raises(ValueError, match=f"expected hx of shape \\(1, {B}, {H}\\), got \\(1, {B}, 7\\)"):
        rk.MinGRU(I, H)(torch.randn(T, B, I), torch.zeros(1, B, 7))


@pytest.mark.slow
def test_min_cells_train_on_the_adding_task():
    from rnnkit.config import from_dict
    from rnnkit.tasks.long_term import LongTermConfig, build, probe
    from rnnkit.training import fit

    config = from_dict(LongTermConfig, {
        "task": "adding", "data": {"length": 12, "test_size": 64}, "model": {"recurrent": {"cell": "mingru", "hidden_size": 16}},
        "train": {"steps": 30, "batch_size": 16, "eval_every": 30, "progress": False, "optimizer": {"lr": 0.01}},
    })
    torch.manual_seed(0)
    job = build(config)
    assert isinstance(job.model.recurrent, rk.MinGRU)
    result = fit(job.model, job.step_fn, job.batches, config.train, evaluate=job.evaluate)
    assert math.isfinite(result.last_eval["val_mse"]) and probe(job).shape == (12,)
    with pytest.raises(ValueError, match="model.recurrent.cell='minlstm': expected none of \\['bidirectional'\\]"):
        build(from_dict(LongTermConfig, {"model": {"recurrent": {"cell": "minlstm", "bidirectional": True}}}))
