"""The frame predictors: shapes, the forecaster's rollout (a longer future extends a shorter
one), and clear errors."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models.video import ConvLSTMPredictor, FCLSTMPredictor, VideoPredictorConfig, build_predictor


@pytest.mark.parametrize("kind", ["convlstm", "fclstm"])
def test_a_longer_rollout_extends_a_shorter_one(kind):
    torch.manual_seed(0)
    config = VideoPredictorConfig(kind=kind, hidden_channels=[4, 3], kernel_size=3, patch=2, hidden_size=16)
    model = build_predictor(1, (8, 8), config).double().eval()
    frames = torch.rand(4, 2, 1, 8, 8, dtype=torch.float64)
    short, long = model(frames, 3), model(frames, 7)
    assert short.shape == (3, 2, 1, 8, 8) and long.shape == (7, 2, 1, 8, 8)
    torch.testing.assert_close(long[:3], short)  # the forecaster reads no input: the future is a rollout
    alone = model(frames[:, 1:], 3)  # one clip alone == the clip in a batch
    torch.testing.assert_close(alone, short[:, 1:])


def test_patches_go_to_depth_and_back():
    """With a 1x1 output convolution that copies patch channels and zero recurrent weights, the
    encoder is bypassed: the logits are the output bias laid back out as pixels."""
    config = VideoPredictorConfig(hidden_channels=[2], kernel_size=1, patch=2)
    model = ConvLSTMPredictor(1, config)
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))  # the four pixels of each 2x2 patch
    logits = model(torch.rand(2, 1, 1, 4, 4), 1)
    expected = torch.tensor([[1.0, 2.0, 1.0, 2.0], [3.0, 4.0, 3.0, 4.0]] * 2)
    torch.testing.assert_close(logits[0, 0, 0], expected)


def test_errors():
    with pytest.raises(ValueError, match="model.kernel_size: expected an odd size, got 4"):
        VideoPredictorConfig(kernel_size=4)
    with pytest.raises(ValueError, match="model.hidden_channels: expected a list of positive ints"):
        VideoPredictorConfig(hidden_channels=[])
    model = ConvLSTMPredictor(1, VideoPredictorConfig(hidden_channels=[2], kernel_size=3, patch=4))
    with pytest.raises(ValueError, match=r"divisible by model.patch=4, got \(6, 8\)"):
        model(torch.zeros(2, 1, 1, 6, 8), 1)
    with pytest.raises(ValueError, match=r"expected frames \(time, batch, 1, height, width\), got \(2, 1, 3, 8, 8\)"):
        model(torch.zeros(2, 1, 3, 8, 8), 1)
    with pytest.raises(ValueError, match="future: expected a positive number of frames, got 0"):
        model(torch.zeros(2, 1, 1, 8, 8), 0)
    fc = FCLSTMPredictor(1, (8, 8), VideoPredictorConfig(kind="fclstm", hidden_size=4))
    with pytest.raises(ValueError, match=r"expected frames \(time, batch, 1, 8, 8\), got \(2, 1, 1, 8, 9\)"):
        fc(torch.zeros(2, 1, 1, 8, 9), 1)


@pytest.mark.parametrize("kind", ["lrcn", "convlstm", "single", "difference"])
def test_action_models_never_read_padding(kind):
    from rnnkit.models.video import ActionModelConfig, ActionRecognizer

    torch.manual_seed(1)
    model = ActionRecognizer(1, 7, ActionModelConfig(kind=kind, cnn_channels=[4, 8], hidden_size=8)).double().eval()
    clips, lengths = torch.rand(6, 3, 1, 16, 16, dtype=torch.float64), torch.tensor([6, 5, 3])
    logits = model(clips, lengths)
    noisy = clips.clone()
    noisy[5:, 1], noisy[3:, 2] = 9.0, -4.0
    torch.testing.assert_close(model(noisy, lengths), logits)
    torch.testing.assert_close(model(clips[:3, 2:], lengths[2:]), logits[2:])  # a clip alone == in the batch


def test_the_order_free_baselines_ignore_time_order():
    """The single-frame CNN reads the middle frame and the difference CNN the mean of |x_t -
    x_{t-1}|: reversing an odd-length clip changes neither; the LRCN reads the order."""
    from rnnkit.models.video import ActionModelConfig, ActionRecognizer

    torch.manual_seed(2)
    clips = torch.rand(5, 2, 1, 16, 16, dtype=torch.float64)
    for kind, invariant in (("single", True), ("difference", True), ("lrcn", False)):
        model = ActionRecognizer(1, 3, ActionModelConfig(kind=kind, cnn_channels=[4], hidden_size=6)).double().eval()
        same = torch.allclose(model(clips), model(clips.flip(0)), atol=1e-12)
        assert same is invariant, kind


def test_frame_features_see_where_things_are():
    """A bright square at two places gives two different feature vectors (a mean over the whole
    frame would not: the motion the recurrence must see would vanish)."""
    from rnnkit.models.video import FrameCNN

    torch.manual_seed(3)
    cnn = FrameCNN(1, [4, 8])
    frames = torch.zeros(2, 1, 32, 32)
    frames[0, :, 2:8, 2:8] = 1
    frames[1, :, 22:28, 22:28] = 1
    features = cnn(frames)
    assert features.shape == (2, 8 * 16) and not torch.allclose(features[0], features[1], atol=1e-3)


def test_frame_cnn_norm_is_per_frame_and_its_maximum_sees_what_not_where():
    """With group norm a frame's features do not depend on the rest of the batch; the global
    maximum of four stride-2 blocks (a 16-pixel stride) is the same for a square moved by 16
    pixels inside the frame, while the grid features see the move."""
    from rnnkit.models.video import FrameCNN

    torch.manual_seed(4)
    cnn = FrameCNN(1, [4, 8, 8, 8], norm=True, global_max=True).double()
    frames = torch.zeros(3, 1, 64, 64, dtype=torch.float64)
    frames[0, :, 20:30, 20:30] = 1
    frames[1, :, 36:46, 20:30] = 1  # the same square 16 pixels lower
    frames[2] = torch.rand(1, 64, 64)
    features = cnn(frames)
    assert features.shape == (3, 8 * 16 + 8)
    torch.testing.assert_close(cnn(frames[:1]), features[:1])  # alone == in the batch
    torch.testing.assert_close(features[0, -8:], features[1, -8:])
    assert not torch.allclose(features[0, :-8], features[1, :-8], atol=1e-3)
