"""Generation as streams: batched streams == each alone, a request split in pieces == whole,
and the state after reading == the model's forward pass."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.text import Vocabulary
from rnnkit.models import RecurrentConfig
from rnnkit.models.language import LanguageModel, LanguageModelConfig
from rnnkit.tasks.language import Advance, TextStream, advance_many

TEXT = "the cat sat on the mat. a dog ran to the log."


@pytest.fixture
def lm():
    torch.manual_seed(0)
    vocab = Vocabulary.build(TEXT)
    config = LanguageModelConfig(RecurrentConfig(cell="lstm", hidden_size=12, num_layers=2), embedding_size=8)
    return LanguageModel(len(vocab), config).eval(), vocab


def run_alone(model, vocab, seed, requests):
    stream = TextStream(seed)
    return [advance_many(model, vocab, [stream], [r])[0] for r in requests], stream


def test_streams_advanced_together_give_what_each_gives_alone(lm):
    model, vocab = lm
    plans = {1: [Advance("the ", 6), Advance("", 4, top_k=3)],
             2: [Advance("a dog ran", 2), Advance("", 9)],
             3: [Advance("cat", 0), Advance(" on", 5, temperature=0.5)]}
    alone = {seed: run_alone(model, vocab, seed, plan) for seed, plan in plans.items()}
    streams = {seed: TextStream(seed) for seed in plans}
    together: dict[int, list[str]] = {seed: [] for seed in plans}
    for k in range(2):  # every stream's k-th request in one call: different lengths to read and to sample
        outs = advance_many(model, vocab, list(streams.values()), [plan[k] for plan in plans.values()])
        for seed, out in zip(plans, outs):
            together[seed].append(out)
    for seed in plans:
        texts, stream = alone[seed]
        assert together[seed] == texts
        assert streams[seed].sampled == stream.sampled == sum(r.generate for r in plans[seed])
        torch.testing.assert_close(streams[seed].logits, stream.logits, rtol=1e-5, atol=1e-6)
    assert len(together[2][1]) >= 1 and together[1] != together[2]


def test_a_request_split_in_pieces_gives_the_same_text(lm):
    model, vocab = lm
    whole, _ = run_alone(model, vocab, 7, [Advance("the ", 12)])
    pieces, _ = run_alone(model, vocab, 7, [Advance("the ", 5), Advance("", 4), Advance("", 3)])
    assert "".join(pieces) == whole[0]


def test_reading_text_leaves_the_state_of_the_forward_pass(lm):
    model, vocab = lm
    stream = TextStream(0)
    advance_many(model, vocab, [stream], [Advance("the mat")])
    with torch.no_grad():
        logits, state = model(torch.tensor(vocab.encode("the mat")).unsqueeze(1))
    torch.testing.assert_close(stream.logits, logits[-1, 0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(stream.state, state, rtol=1e-5, atol=1e-6)


def test_generating_before_any_text_and_bad_settings_are_refused(lm):
    model, vocab = lm
    with pytest.raises(ValueError, match="read no text"):
        advance_many(model, vocab, [TextStream(0)], [Advance("", 3)])
    with pytest.raises(ValueError, match="temperature > 0"):
        Advance("x", 1, temperature=0.0)
    with pytest.raises(ValueError, match="one request per stream"):
        advance_many(model, vocab, [TextStream(0)], [])
