"""CTC decoding against brute force over every frame path, hand-computed cases; SpecAugment's
masks and frame stacking in the acoustic model."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from rnnkit.functional.ctc import (ctc_beam_decode, ctc_collapse, ctc_greedy, ctc_labelling_log_prob,
                                   ctc_prefix_beam_search)
from rnnkit.layers import SpecAugment
from rnnkit.models.acoustic import stack_frames


def test_collapse_and_greedy_by_hand() -> None:
    assert ctc_collapse([1, 1, 0, 1, 2, 2, 0]) == [1, 1, 2]
    assert ctc_collapse([0, 0]) == [] and ctc_collapse([3, 0, 3, 3]) == [3, 3]
    best = torch.tensor([[1, 1, 0, 2], [2, 0, 2, 2]])  # (B, T) best labels
    log_probs = torch.nn.functional.one_hot(best.T, 3).float().log_softmax(-1)  # (T, B, V)
    assert ctc_greedy(log_probs) == [[1, 2], [2, 2]]
    assert ctc_greedy(log_probs, torch.tensor([2, 1])) == [[1], [2]]  # only the valid frames


def brute_force(log_probs: torch.Tensor) -> dict[tuple[int, ...], float]:
    """P(labelling) for every labelling: the sum over all V^T frame paths that collapse to it."""
    steps, size = log_probs.shape
    probs = log_probs.double().exp()
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(size), repeat=steps):
        p = math.prod(float(probs[t, v]) for t, v in enumerate(path))
        key = tuple(ctc_collapse(list(path)))
        totals[key] = totals.get(key, 0.0) + p
    return totals


@pytest.mark.parametrize("seed", range(6))
def test_prefix_beam_search_finds_the_most_probable_labelling(seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    log_probs = (2 * torch.randn(5, 3, generator=generator, dtype=torch.float64)).log_softmax(-1)
    totals = brute_force(log_probs)
    best = max(totals, key=totals.get)
    found = ctc_prefix_beam_search(log_probs, beam=64, prune=-math.inf)
    assert tuple(found) == best
    # its probability is the sum over its paths, as torch's CTC loss computes it
    assert math.exp(float(ctc_labelling_log_prob(log_probs, found))) == pytest.approx(totals[best], rel=1e-9)


def test_beam_search_beats_the_best_path_when_paths_add_up() -> None:
    # two frames, P(blank) = 0.6, P(a) = 0.4 each: the best path is blank blank (labelling "", 0.36),
    # but "a" collects a-a, a-blank and blank-a: 0.16 + 0.24 + 0.24 = 0.64
    log_probs = torch.tensor([[0.6, 0.4], [0.6, 0.4]]).log()
    assert ctc_greedy(log_probs.unsqueeze(1)) == [[]]
    assert ctc_prefix_beam_search(log_probs, beam=2) == [1]
    batch = torch.stack([log_probs, torch.tensor([[0.1, 0.9], [0.1, 0.9]]).log()], dim=1)
    assert ctc_beam_decode(batch, torch.tensor([2, 1]), beam=4) == [[1], [1]]
    with pytest.raises(ValueError, match=r"expected \(T, V\) for one sequence"):
        ctc_prefix_beam_search(batch)


def test_spec_augment_masks_within_limits_and_only_in_training() -> None:
    torch.manual_seed(0)
    x = torch.randn(50, 4, 20) + 5  # no zeros of its own
    lengths = torch.tensor([50, 40, 30, 20])
    augment = SpecAugment(freq_masks=2, freq_width=5, time_masks=2, time_width=0.1)
    assert torch.equal(augment.eval()(x, lengths), x)
    out = augment.train()(x, lengths)
    zero = out == 0
    assert torch.equal(out[~zero], x[~zero])
    for b in range(4):
        bands = zero[..., b, :].all(0)  # features masked at every frame
        frames = zero[:, b, :].all(1)  # frames masked at every feature
        assert int(bands.sum()) <= 2 * 5
        assert int(frames.sum()) <= 2 * int(0.1 * lengths[b])
        assert not frames[int(lengths[b]):].any()  # only valid frames
        rest = zero[:, b, :] & ~bands & ~frames[:, None]
        assert not rest.any()  # nothing masked outside the bands and spans


def test_stack_frames_by_hand() -> None:
    x = torch.arange(5.0).view(5, 1, 1).expand(5, 2, 1)  # frame t holds t
    stacked, lengths = stack_frames(x, torch.tensor([5, 3]), 2)
    assert stacked.shape == (3, 2, 2)
    assert stacked[:, 0, :].tolist() == [[0, 1], [2, 3], [4, 0]]  # zero-padded at the end
    assert lengths.tolist() == [3, 2]
