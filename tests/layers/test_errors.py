"""Bad input gets an error that says what was expected and what came.

Sizes are prime (7) so that no shape can divide another by accident.
"""

from __future__ import annotations

import re

import pytest
import torch

import rnnkit as rk
from rnnkit.layers.checks import check_state
from rnnkit.testing import VARIANTS

T, B, I, H = 5, 3, 4, 6
BAD = 7


@pytest.fixture(params=[*VARIANTS, "generic"])
def layer(request):
    if request.param == "generic":
        return rk.Recurrent(lambda n: rk.GRUCell(n, H), I)
    return VARIANTS[request.param].layer(I, H, 2)


def raises(exc, *fragments):
    pattern = ".*".join(re.escape(f) for f in fragments)
    return pytest.raises(exc, match=pattern)


def test_wrong_number_of_dims(layer):
    with raises(ValueError, "expected input of 3 dims", "got 4 dims", f"({T}, {B}, {I}, {BAD})"):
        layer(torch.randn(T, B, I, BAD))
    with raises(ValueError, "got 1 dims"):
        layer(torch.randn(BAD))


def test_wrong_feature_size(layer):
    with raises(ValueError, f"expected input.size(-1) == input_size={I}, got {BAD}"):
        layer(torch.randn(T, B, BAD))


def test_wrong_dtype(layer):
    with raises(TypeError, "expected input of dtype torch.float32", "got torch.float64"):
        layer(torch.randn(T, B, I, dtype=torch.float64))
    with raises(TypeError, "expected a floating-point input, got torch.int64"):
        layer(torch.ones(T, B, I, dtype=torch.int64))


def test_empty_batch_and_empty_sequence(layer):
    with raises(ValueError, "expected a non-empty batch, got batch size 0"):
        layer(torch.randn(T, 0, I))
    with raises(ValueError, "expected at least one time step"):
        layer(torch.randn(0, B, I))


def test_lengths_longer_than_sequence(layer):
    with raises(ValueError, f"expected every length <= the number of time steps {T}, got {BAD} at index 1"):
        layer(torch.randn(T, B, I), lengths=torch.tensor([T, BAD, 1]))


def test_lengths_below_one(layer):
    with raises(ValueError, "expected every length >= 1, got 0 at index 2"):
        layer(torch.randn(T, B, I), lengths=torch.tensor([T, 2, 0]))
    with raises(ValueError, "expected every length >= 1, got -7"):
        layer(torch.randn(T, B, I), lengths=torch.tensor([T, -BAD, 1]))


def test_lengths_of_wrong_count(layer):
    with raises(ValueError, f"expected {B} lengths (one per sequence in the batch), got {BAD}"):
        layer(torch.randn(T, B, I), lengths=torch.ones(BAD, dtype=torch.int64))


def test_float_lengths(layer):
    with raises(TypeError, "expected integer lengths, got dtype torch.float32"):
        layer(torch.randn(T, B, I), lengths=torch.tensor([5.0, 2.0, 1.0]))
    with raises(TypeError, "expected lengths as a 1-D integer tensor or a list of ints"):
        layer(torch.randn(T, B, I), lengths=[5, 2.5, 1])


def test_lengths_of_wrong_dims(layer):
    with raises(ValueError, "expected lengths of 1 dim (batch,), got shape (3, 1)"):
        layer(torch.randn(T, B, I), lengths=torch.ones(B, 1, dtype=torch.int64))


def test_lengths_with_packed_sequence(layer):
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.randn(T, B, I), [T, 2, 1])
    with raises(ValueError, "expected lengths=None with a PackedSequence input"):
        layer(packed, lengths=[T, 2, 1])


def test_nan_when_checking():
    layer = rk.LSTM(I, H, check_finite=True)
    x = torch.randn(T, B, I)
    x[3, 1, 2] = float("nan")
    with raises(ValueError, "expected finite input, got nan at time 3, batch 1, feature 2"):
        layer(x)
    # NaN in the padding is no error: padding is never read.
    out, _ = layer(x, lengths=[T, 3, T - 1])
    assert torch.isfinite(out).all()


def test_state_of_wrong_shape():
    lstm = rk.LSTM(I, H, 2)
    h0, c0 = torch.zeros(2, B, H), torch.zeros(2, B, H)
    with raises(ValueError, f"expected hx[0] of shape (2, {B}, {H}), got (2, {B}, {BAD})"):
        lstm(torch.randn(T, B, I), (torch.zeros(2, B, BAD), c0))
    with raises(ValueError, f"expected hx[1] of shape (2, {B}, {H}), got ({BAD}, {B}, {H})"):
        lstm(torch.randn(T, B, I), (h0, torch.zeros(BAD, B, H)))
    with raises(TypeError, "expected hx as a tuple (h_0, c_0), got Tensor"):
        lstm(torch.randn(T, B, I), h0)
    gru = rk.GRU(I, H)
    with raises(ValueError, f"expected hx of shape (1, {B}, {H}), got (1, {BAD}, {H})"):
        gru(torch.randn(T, B, I), torch.zeros(1, BAD, H))
    with raises(TypeError, "expected hx of dtype torch.float32 (the input's), got torch.float64"):
        gru(torch.randn(T, B, I), torch.zeros(1, B, H, dtype=torch.float64))
    generic = rk.Recurrent(lambda n: rk.GRUCell(n, H), I)
    with raises(ValueError, f"expected states[0] of shape ({B}, {H}), got ({B}, {BAD})"):
        generic(torch.randn(T, B, I), [torch.zeros(B, BAD)])


def test_a_state_made_under_autocast_is_taken_as_torch_nn_takes_it():
    """Under bfloat16 autocast a layer returns its state in bfloat16 while the next input is
    float32 (an encoder's state handed to a decoder): torch.nn.LSTM takes it, and so does
    rk.LSTM, with the same result; outside autocast the mismatch is still an error."""
    torch.manual_seed(0)
    ours = (rk.LSTM(I, H, 2), rk.LSTM(1, H, 2))
    ref = (torch.nn.LSTM(I, H, 2), torch.nn.LSTM(1, H, 2))
    for a, b in zip(ours, ref):
        b.load_state_dict(a.state_dict())
    x, zeros = torch.randn(T, B, I), torch.zeros(T, B, 1)
    results = []
    for encoder, decoder in (ours, ref):
        with torch.autocast("cpu", torch.bfloat16):
            _, state = encoder(x)
            assert state[0].dtype == torch.bfloat16
            results.append(decoder(zeros, state)[0].float())
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=0)
    with raises(TypeError, "expected hx[0] of dtype torch.float32 (the input's), got torch.bfloat16"):
        ours[1](zeros, tuple(s.bfloat16() for s in state))
    meta = torch.zeros(2, device="meta")  # a device autocast does not know: the plain dtype error
    with raises(TypeError, "expected hx of dtype torch.float32 (the input's), got torch.bfloat16"):
        check_state("hx", meta.bfloat16(), (2,), meta)


def test_bad_constructor_arguments():
    with raises(ValueError, "hidden_size: expected an int >= 1, got 0"):
        rk.LSTM(I, 0)
    with raises(ValueError, "num_layers: expected an int >= 1, got 0"):
        rk.GRU(I, H, num_layers=0)
    with raises(ValueError, "dropout: expected a probability in [0, 1], got 1.5"):
        rk.GRU(I, H, dropout=1.5)
    with raises(ValueError, f"proj_size: expected an int in [0, hidden_size={H}), got {BAD}"):
        rk.LSTM(I, H, proj_size=BAD)
    with raises(ValueError, "nonlinearity: expected one of ['tanh', 'relu'], got 'sigmoid'"):
        rk.RNN(I, H, nonlinearity="sigmoid")
    with raises(ValueError, "impl: expected one of ['auto', 'torch', 'rnnkit', 'loop'], got 'fast'"):
        rk.LSTM(I, H, impl="fast")
    with raises(ValueError, "impl='torch': torch's kernel cannot compute this configuration"):
        rk.LSTM(I, H, peephole=True, impl="torch")
    with raises(ValueError, "impl='rnnkit': rnnkit's kernel does not compute this configuration"):
        rk.LSTM(I, H, proj_size=2, impl="rnnkit")
    with raises(ValueError, "impl='rnnkit': rnnkit's kernel runs on CPU in float32/float64, got cpu torch.bfloat16"):
        rk.GRU(I, H, impl="rnnkit", dtype=torch.bfloat16)(torch.randn(T, B, I, dtype=torch.bfloat16))
    with raises(ValueError, "init: expected an Init or one of ['torch', 'xavier', 'irnn'], got 'glorot'"):
        rk.LSTM(I, H, init="glorot")
    with raises(ValueError, "Init.recurrent: expected one of"):
        rk.Init(recurrent="eye")
    with raises(ValueError, "chrono initialization needs an LSTM or GRU"):
        rk.RNN(I, H, init=rk.Init.chrono(100))
    with raises(ValueError, "expected a layer with bias=True, got bias=False"):
        rk.LSTM(I, H, bias=False, init=rk.Init.chrono(100))


def test_step_errors():
    with raises(ValueError, "a bidirectional layer needs the whole sequence"):
        rk.GRU(I, H, bidirectional=True).step(torch.randn(B, I))
    with raises(ValueError, f"expected one step of shape (batch, {I}), got ({T}, {B}, {I})"):
        rk.GRU(I, H).step(torch.randn(T, B, I))
    with raises(ValueError, f"LSTMCell.step: expected x of shape (batch, {I}), got ({B}, {BAD})"):
        rk.LSTMCell(I, H).step(torch.randn(B, BAD))


def test_dropout_with_one_layer_warns():
    with pytest.warns(UserWarning, match="dropout=0.3 acts between stacked layers and num_layers=1"):
        rk.LSTM(I, H, dropout=0.3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a second device")
def test_input_on_another_device():
    layer = rk.LSTM(I, H).cuda()
    with raises(ValueError, "expected input on cuda:0 (the layer's parameters), got cpu"):
        layer(torch.randn(T, B, I))
