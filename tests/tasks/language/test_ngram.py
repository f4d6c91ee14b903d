"""The Kneser-Ney baseline: a distribution over the vocabulary in every context, hand-checked
counts and discounts, and continuation counts at the lower orders."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnkit.tasks.language.ngram import KneserNey


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_probabilities_sum_to_one_in_every_context(order):
    rng = np.random.default_rng(order)
    ids = rng.integers(0, 7, 3000)
    ids[::4] = 3  # some structure, so contexts differ
    model = KneserNey(order, 8).fit(ids)  # token 7 never occurs: it still gets probability
    histories = rng.integers(-1, 8, (50, order - 1))
    for history in histories:
        p = model.probabilities(np.repeat(history[None], 8, axis=0), np.arange(8))
        assert p.sum() == pytest.approx(1.0, abs=1e-12) and (p > 0).all()


def test_bigram_by_hand():
    model = KneserNey(2, 3).fit(np.array([0, 1, 0, 1, 0]))  # a b a b a
    bigram, unigram = model.levels[1], model.levels[0]
    # highest order: occurrences, ab = 2, ba = 2; n1 = 0, n2 = 2: Ney's D = 0, floored to 0.1
    assert bigram["counts"].tolist() == [2.0, 2.0] and bigram["discount"] == 0.1
    # lower order: continuation counts: a is preceded only by b, b only by a; n1 = 2: D = 1
    assert unigram["counts"].tolist() == [1.0, 1.0] and unigram["discount"] == 1.0
    p1 = 0 / 2 + 1.0 * 2 / 2 * (1 / 3)  # P_1(w) = 1/3 for every w (c never occurs)
    b_after_a = (2 - 0.1) / 2 + 0.1 * 1 / 2 * p1
    a_after_a = 0 + 0.1 * 1 / 2 * p1
    p = model.probabilities(np.array([[0], [0], [2]]), np.array([1, 0, 1]))
    assert p.tolist() == pytest.approx([b_after_a, a_after_a, p1])  # context c never seen: the lower order
    assert model.log_probs(np.array([0, 1]))[1] == pytest.approx(math.log(b_after_a))


def test_bad_input():
    with pytest.raises(ValueError, match="expected at least 3 ids"):
        KneserNey(3, 4).fit(np.array([0, 1]))
    with pytest.raises(ValueError, match="overflow"):
        KneserNey(12, 100)
