"""The NADE output layer: a normalized distribution over a frame's notes (the 2^D frames sum to
one), the cumulative-sum fast path equal to the note-by-note equations, gradients by finite
differences, a two-note case by hand, and samples that follow the probabilities."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from rnnkit.models.music import MusicModel, MusicModelConfig
from rnnkit.models.nade import NADE
from rnnkit.models.sequence import RecurrentConfig
from rnnkit.tasks import music


def nade(features: int = 3, notes: int = 4, hidden: int = 5, seed: int = 0) -> NADE:
    torch.manual_seed(seed)
    layer = NADE(features, notes, hidden).double()
    with torch.no_grad():  # weights large enough that the notes really depend on each other
        for p in layer.parameters():
            p.normal_(0, 1.0)
    return layer


def all_frames(notes: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=notes)), dtype=torch.float64)


def test_the_frames_probabilities_sum_to_one():
    layer = nade()
    h = torch.randn(2, 3, dtype=torch.float64)
    frames = all_frames(4)  # (16, 4)
    nll = layer.nll(h[:, None, :].expand(2, 16, 3), frames.expand(2, 16, 4))  # (2, 16)
    torch.testing.assert_close(torch.exp(-nll).sum(-1), torch.ones(2, dtype=torch.float64), atol=1e-12, rtol=0)


def test_the_cumulative_sum_equals_the_equations_note_by_note():
    layer = nade(notes=6)
    h = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    v = torch.bernoulli(torch.full((5, 6), 0.4, dtype=torch.float64))
    fast, slow = layer.conditional_logits(h, v), layer.conditional_logits_loop(h, v)
    torch.testing.assert_close(fast, slow, atol=1e-12, rtol=1e-12)
    weights = torch.randn_like(fast)
    grads_fast = torch.autograd.grad((fast * weights).sum(), [h, *layer.parameters()])
    grads_slow = torch.autograd.grad((slow * weights).sum(), [h, *layer.parameters()])
    for a, b in zip(grads_fast, grads_slow):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)


def test_gradcheck():
    """Float64 finite differences of the frame's NLL in the conditioning features and every weight."""
    layer = nade(features=2, notes=3, hidden=2)
    h = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    v = torch.bernoulli(torch.full((3, 3), 0.5, dtype=torch.float64))
    names = [name for name, _ in layer.named_parameters()]

    def nll(x, *params):
        return torch.func.functional_call(layer, dict(zip(names, params)), (x, v))

    params = [p.detach().clone().requires_grad_(True) for p in layer.parameters()]
    assert torch.autograd.gradcheck(nll, (h, *params))


def test_two_notes_by_hand():
    """D = 2, K = 1, no conditioning: p(v1 = 1) = sigmoid(b1 + V1 sigmoid(c)) and
    p(v2 = 1 | v1) = sigmoid(b2 + V2 sigmoid(c + W1 v1)), W1 = W[:, 0] the first note's vote."""
    layer = NADE(1, 2, 1).double()
    with torch.no_grad():
        layer.visible_bias.weight.zero_()
        layer.visible_bias.bias.copy_(torch.tensor([0.3, -0.2], dtype=torch.float64))
        layer.hidden_bias.weight.zero_()
        layer.hidden_bias.bias.fill_(0.5)
        layer.weight_in.copy_(torch.tensor([[2.0, 7.0]], dtype=torch.float64))  # the second column never votes (nothing after it)
        layer.weight_out.copy_(torch.tensor([[1.5], [-1.0]], dtype=torch.float64))
    sig = lambda x: 1 / (1 + math.exp(-x))
    p1 = sig(0.3 + 1.5 * sig(0.5))
    p2_given = {0.0: sig(-0.2 - 1.0 * sig(0.5)), 1.0: sig(-0.2 - 1.0 * sig(0.5 + 2.0))}
    h = torch.zeros(4, 1, dtype=torch.float64)
    frames = all_frames(2)
    by_hand = [(p1 if a else 1 - p1) * (p2_given[a] if b else 1 - p2_given[a]) for a, b in frames.tolist()]
    torch.testing.assert_close(torch.exp(-layer.nll(h, frames)), torch.tensor(by_hand, dtype=torch.float64),
                               atol=1e-12, rtol=0)


def test_samples_follow_the_probabilities():
    layer = nade(notes=3, seed=1)
    h = torch.randn(1, 3, dtype=torch.float64).expand(40_000, 3)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        drawn = layer.sample(h, generator=generator)  # (40000, 3)
        frames = all_frames(3)
        expected = torch.exp(-layer.nll(h[:8], frames))
    codes = (drawn * torch.tensor([4.0, 2.0, 1.0], dtype=torch.float64)).sum(-1).long()
    seen = torch.bincount(codes, minlength=8).double() / len(codes)
    # 40,000 draws: a standard error of at most 0.0025 per frame; 0.012 is beyond 4.5 of them
    assert (seen - expected).abs().max() < 0.012, (seen, expected)


def test_a_nade_music_model_scores_and_generates(tmp_path):
    """Its frame NLL is the head's, summed over valid frames; it samples binary frames; it has no
    per-pitch logits to give (stepping equals the sequence: tests/tasks/music/test_music.py)."""
    torch.manual_seed(0)
    config = MusicModelConfig(RecurrentConfig(hidden_size=8), output="nade", nade_hidden=6)
    model = MusicModel(5, config).double().eval()
    frames = torch.bernoulli(torch.full((6, 2, 5), 0.3, dtype=torch.float64))
    whole, _ = model(frames)
    targets = torch.roll(frames, -1, 0)
    lengths = torch.tensor([6, 3])
    nll, count = music.frame_nll(model, whole, targets, lengths)
    expected = sum(model.head.nll(whole[t, b], targets[t, b]) for b in range(2) for t in range(int(lengths[b])))
    assert count == 9
    torch.testing.assert_close(nll, expected)
    rolled = music.generate(model.float(), 7, seed=2)
    assert rolled.shape == (7, 5) and set(rolled.ravel().tolist()) <= {0, 1}
    with pytest.raises(ValueError, match="nade: a pitch's probability depends on the pitches drawn below it"):
        model.logits(whole)


def test_the_output_choice_is_checked():
    with pytest.raises(ValueError, match="model.output: expected 'independent' or 'nade', got 'softmax'"):
        MusicModelConfig(output="softmax")
    with pytest.raises(ValueError, match="model.nade_hidden: expected a positive int, got 0"):
        MusicModelConfig(output="nade", nade_hidden=0)
