"""The ConvLSTM and ConvGRU layers: a 1x1 ConvLSTM stack is an rk.LSTM stack (both
directions, lengths, regularizers in training), step == sequence, padding has no effect, a
clip alone == the clip in a batch, a state carried over == one pass, and clear errors."""

from __future__ import annotations

import pytest
import torch

import rnnkit as rk

F64 = {"dtype": torch.float64}
T, B, I, C = 5, 3, 2, 3
LENGTHS = torch.tensor([5, 2, 4])
LAYERS = {"lstm": lambda **kw: rk.ConvLSTM(I, C, 3, num_layers=2, **F64, **kw),
          "gru": lambda **kw: rk.ConvGRU(I, C, 3, num_layers=2, **F64, **kw)}


def clips(t: int = T, b: int = B, frame: tuple[int, int] = (4, 5)) -> torch.Tensor:
    return torch.randn(t, b, I, *frame, **F64)


def vector_twin(conv: rk.ConvLSTM, **kwargs) -> rk.LSTM:
    """The rk.LSTM with the 1x1 ConvLSTM's weights."""
    lstm = rk.LSTM(I, C, num_layers=conv.num_layers, bidirectional=conv.bidirectional, peephole=True, impl="loop",
                   **F64, **kwargs)
    with torch.no_grad():
        for name, p in lstm.named_parameters():
            p.copy_(getattr(conv, name).reshape(p.shape))
    return lstm


def test_a_1x1_conv_lstm_stack_is_an_lstm_stack_both_directions_with_lengths():
    torch.manual_seed(0)
    conv = rk.ConvLSTM(I, C, 1, num_layers=2, bidirectional=True, **F64)
    lstm = vector_twin(conv)
    x = torch.randn(T, B, I, **F64)
    out, (h, c) = conv(x[..., None, None], lengths=LENGTHS)
    ref, (rh, rc) = lstm(x, lengths=LENGTHS)
    torch.testing.assert_close(out.flatten(2), ref)
    torch.testing.assert_close(h.flatten(2), rh)
    torch.testing.assert_close(c.flatten(2), rc)


def test_regularizers_in_training_draw_what_the_lstm_draws():
    """Recurrent dropout (one mask per sequence and channel) and zoneout (per unit and step) on a
    1x1 frame are rk.LSTM's, draw for draw under one seed; at eval both are their expectation."""
    torch.manual_seed(1)
    conv = rk.ConvLSTM(I, C, 1, num_layers=2, recurrent_dropout=0.4, zoneout=(0.3, 0.2), dropout=0.25, **F64)
    lstm = vector_twin(conv, recurrent_dropout=0.4, zoneout=(0.3, 0.2), dropout=0.25)
    x = torch.randn(T, B, I, **F64)
    for training in (True, False):
        conv.train(training)
        lstm.train(training)
        torch.manual_seed(7)
        out, _ = conv(x[..., None, None], lengths=LENGTHS)
        torch.manual_seed(7)
        ref, _ = lstm(x, lengths=LENGTHS)
        torch.testing.assert_close(out.flatten(2), ref)
    conv.train()
    mask = conv._runner(0, 0, B, clips()).recurrent_mask
    assert mask.shape == (B, C, 1, 1) and set(mask.unique().tolist()) <= {0.0, 1 / 0.6}  # whole feature maps


@pytest.mark.parametrize("kind", LAYERS)
def test_step_equals_sequence(kind):
    torch.manual_seed(2)
    layer = LAYERS[kind]().eval()
    x = clips()
    out, final = layer(x)
    state, outputs = None, []
    for t in range(T):
        h, state = layer.step(x[t], state)
        outputs.append(h)
    torch.testing.assert_close(torch.stack(outputs), out)
    torch.testing.assert_close(state, final)


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_has_no_effect_and_a_clip_alone_equals_it_in_a_batch(kind, bidirectional):
    torch.manual_seed(3)
    layer = LAYERS[kind](bidirectional=bidirectional)
    x = clips()
    noisy = x.clone()
    for b, n in enumerate(LENGTHS.tolist()):
        noisy[n:, b] = float("nan")  # never read
    out, final = layer(noisy, lengths=LENGTHS)
    for b, n in enumerate(LENGTHS.tolist()):
        alone, alone_final = layer(x[:n, b : b + 1])
        torch.testing.assert_close(out[:n, b : b + 1], alone)
        assert bool((out[n:, b] == 0).all())
        torch.testing.assert_close(rk.functional.tree_map(lambda s, b=b: s[:, b : b + 1], final), alone_final)


@pytest.mark.parametrize("kind", LAYERS)
def test_a_state_carried_over_equals_one_pass(kind):
    torch.manual_seed(4)
    layer = LAYERS[kind](batch_first=True)
    x = clips().transpose(0, 1)  # (B, T, I, H, W)
    whole, final = layer(x)
    first, state = layer(x[:, :2])
    rest, carried = layer(x[:, 2:], state)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), whole)
    torch.testing.assert_close(carried, final)
    zeros = layer.initial_state(B, (4, 5))
    torch.testing.assert_close(layer(x, zeros)[0], whole)


def test_errors():
    layer = rk.ConvLSTM(I, C, 3)
    x = torch.zeros(T, B, I, 4, 5)
    for bad, kind, message in (
            (torch.zeros(T, B, 7, 4, 5), ValueError, (r"expected input of shape \(time, batch, channels, height, width\) "
                                                      r"with 2 channels, got \(5, 3, 7, 4, 5\)")),
            (torch.zeros(T, B, I, 4), ValueError, "with 2 channels, got"),
            (x.double(), TypeError, "expected input of dtype torch.float32"),
    ):
        with pytest.raises(kind, match=message):
            layer(bad)
    with pytest.raises(ValueError, match=r"expected hx\[0\] of shape \(1, 3, 3, 4, 5\), got \(1, 3, 3, 4, 7\)"):
        layer(x, (torch.zeros(1, B, C, 4, 7), torch.zeros(1, B, C, 4, 5)))
    with pytest.raises(ValueError, match="expected every length <= the number of time steps 5, got 9 at index 1"):
        layer(x, lengths=[5, 9, 1])
    with pytest.raises(ValueError, match="step\\(\\) streams forward in time"):
        rk.ConvGRU(I, C, bidirectional=True).step(x[0])
    with pytest.raises(ValueError, match="expected finite input, got a NaN or infinity in frame 2 of clip 1"):
        bad = x.clone()
        bad[2, 1, 0, 3, 3] = float("nan")
        rk.ConvGRU(I, C, check_finite=True)(bad)
