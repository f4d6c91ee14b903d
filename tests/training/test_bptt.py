"""Truncated BPTT: streams laid out in columns, chunks, detaching, gradient flow."""


from __future__ import annotations


import pytest
import torch

import rnnkit as rk
from rnnkit.training import (
    StreamBatches,
    batchify,
    detach_state,
    gradient_flow,
)


def test_batchify_lays_out_contiguous_columns():
    stream = torch.arange(12)  # a..l
    assert batchify(stream, 3).tolist() == [[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, 11]]
    assert batchify(torch.arange(14), 3).shape == (4, 3)  # the remainder is dropped


def test_stream_batches_chunk_and_resume():
    data = batchify(torch.arange(40), 2)  # (20, 2)
    batches = StreamBatches(data, bptt=6)
    chunks = [batches.next() for _ in range(5)]
    assert [c.x.shape[0] for c in chunks] == [6, 6, 6, 1, 6]  # 19 target steps per pass
    assert [c.reset for c in chunks] == [True, False, False, False, True]
    assert torch.equal(chunks[0].y, data[1:7]) and torch.equal(chunks[1].x, data[6:12])
    random_batches = StreamBatches(batchify(torch.arange(4000), 4), bptt=20, random_length=True, seed=3)
    [random_batches.next() for _ in range(3)]
    state = random_batches.state_dict()
    expected = [random_batches.next().x for _ in range(4)]
    replay = StreamBatches(batchify(torch.arange(4000), 4), bptt=20, random_length=True)
    replay.load_state_dict(state)
    assert all(torch.equal(a, replay.next().x) for a in expected)
    assert len({e.shape[0] for e in expected}) > 1  # lengths vary


def test_detach_state_cuts_history_keeps_values():
    h = torch.ones(2, requires_grad=True) * 3
    state = (h, [h * 2])
    detached = detach_state(state)
    assert not detached[0].requires_grad and not detached[1][0].requires_grad
    assert torch.equal(detached[1][0], h * 2)


def test_gradient_flow_of_a_linear_recurrence():
    # h_t = a h_{t-1} + x_t and loss = sum(h_{T-1}) + sum(h_0): dLoss/dh_t = a^(T-1-t), plus 1 at t = 0.
    a, T = 0.5, 6

    def step(x_t, h):
        h = a * (0 if h is None else h) + x_t
        return h, h

    norms = gradient_flow(step, torch.randn(T, 1, 1), lambda hidden: hidden[-1].sum() + hidden[0].sum())
    expected = [a ** (T - 1 - t) for t in range(T)]
    expected[0] += 1.0
    assert norms.tolist() == pytest.approx(expected)


def test_gradient_flow_shows_tanh_rnn_vanishing():
    torch.manual_seed(0)
    x = torch.randn(100, 8, 4)
    results = {}
    for name, layer in {"rnn": rk.RNN(4, 32), "lstm": rk.LSTM(4, 32, init=rk.Init.chrono(100))}.items():
        norms = gradient_flow(layer.step, x, lambda hidden: hidden[-1].pow(2).sum())
        results[name] = (norms[0] / norms[-1]).item()
    assert results["rnn"] < 1e-6 and results["lstm"] > 1e-3  # the tanh RNN forgets the start; the LSTM does not
