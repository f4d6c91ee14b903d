"""The encoder-decoder with attention: teacher forcing against stepping, masking and batch
independence, greedy decoding against a one-wide beam, and beam search against exhaustive search."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnkit.models import RecurrentConfig
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig, beam_search, greedy_decode

BOS, EOS = 1, 2
VARIANTS = [("none", "lstm", True), ("additive", "lstm", True), ("general", "gru", True),
            ("additive", "gru", False), ("dot", "lstm", False)]


def model_for(attention: str, cell: str, bidirectional: bool, target_vocab: int = 9) -> Seq2Seq:
    config = Seq2SeqConfig(RecurrentConfig(cell=cell, hidden_size=8, num_layers=2, bidirectional=bidirectional),
                           embedding_size=6, attention=attention)
    return Seq2Seq(11, target_vocab, config).double().eval()


@pytest.mark.parametrize("attention, cell, bidirectional", VARIANTS)
def test_each_source_is_decoded_as_if_alone(attention: str, cell: str, bidirectional: bool) -> None:
    """Padding past a source's length changes nothing: logits and attention equal the source alone."""
    torch.manual_seed(0)
    model = model_for(attention, cell, bidirectional)
    source = torch.randint(3, 11, (7, 3))
    lengths = torch.tensor([7, 4, 2])
    targets = torch.randint(0, 9, (5, 3))
    together = model(source, lengths, targets)
    _, attention_weights = greedy_decode(model, source, lengths, BOS, EOS, 6)
    for b in range(3):
        alone = model(source[: lengths[b], b : b + 1], lengths[b : b + 1], targets[:, b : b + 1])
        torch.testing.assert_close(together[:, b : b + 1], alone, atol=1e-12, rtol=1e-12)
    if attention_weights is not None:  # (T, S, B): no weight past each length, each row sums to 1
        assert attention_weights[:, 4:, 1].abs().max() == 0 and attention_weights[:, 2:, 2].abs().max() == 0
        torch.testing.assert_close(attention_weights.sum(1), torch.ones_like(attention_weights.sum(1)))


@pytest.mark.parametrize("attention, cell, bidirectional", VARIANTS)
def test_a_beam_of_one_is_greedy(attention: str, cell: str, bidirectional: bool) -> None:
    torch.manual_seed(1)
    model = model_for(attention, cell, bidirectional)
    source, lengths = torch.randint(3, 11, (6, 4)), torch.tensor([6, 6, 3, 1])
    greedy, _ = greedy_decode(model, source, lengths, BOS, EOS, 8)
    assert beam_search(model, source, lengths, BOS, EOS, 8, beam=1, length_penalty=0) == greedy


def sequence_log_prob(model: Seq2Seq, source: torch.Tensor, length: torch.Tensor, tokens: list[int]) -> float:
    """log p(tokens | source) by teacher forcing, one source."""
    inputs = torch.tensor([BOS] + tokens[:-1]).unsqueeze(1)
    with torch.no_grad():
        logp = torch.log_softmax(model(source, length, inputs), -1)[:, 0]  # (T, V)
    return float(logp[torch.arange(len(tokens)), torch.tensor(tokens)].sum())


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_a_wide_beam_finds_the_exhaustive_best(length_penalty: float) -> None:
    """With a beam as wide as every hypothesis, beam search returns the best of all sequences of
    at most ``max_length`` tokens (ending at eos, or cut at max_length)."""
    torch.manual_seed(2)
    V, max_length = 4, 3
    model = model_for("additive", "lstm", True, target_vocab=V)
    for b in range(2):
        source = torch.randint(3, 11, (5, 1))
        length = torch.tensor([5 - 2 * b])
        candidates = []
        for n in range(1, max_length + 1):
            for body in itertools.product([t for t in range(V) if t != EOS], repeat=n - 1):
                candidates.append(list(body) + [EOS])
        candidates += [list(c) for c in itertools.product([t for t in range(V) if t != EOS], repeat=max_length)]
        scored = [(sequence_log_prob(model, source[: length[0]], length, c) / len(c) ** length_penalty, c)
                  for c in candidates]
        best = max(scored)[1]
        expected = best[:-1] if best[-1] == EOS else best
        found = beam_search(model, source, length, BOS, EOS, max_length, beam=V**max_length,
                            length_penalty=length_penalty)
        assert found == [expected]


@pytest.mark.parametrize("attention, copy", [("none", False), ("additive", False), ("general", True),
                                          ("additive", True)])
def test_teacher_forcing_equals_stepping(attention: str, copy: bool) -> None:
    """The forward pass runs the output layer (and the copy) once over all steps: the same
    logits as :meth:`Seq2Seq.step` token by token, gradients included."""
    torch.manual_seed(5)
    config = Seq2SeqConfig(RecurrentConfig(cell="lstm", hidden_size=8, num_layers=2, bidirectional=True),
                           embedding_size=6, attention=attention, copy=copy, tie_embeddings=copy)
    model = Seq2Seq(11, 11, config).double()
    source, lengths = torch.randint(3, 11, (7, 3)), torch.tensor([7, 4, 1])
    targets = torch.randint(3, 11, (6, 3))
    targets[0] = BOS
    fast = model(source, lengths, targets)
    memory, state = model.encode(source, lengths)
    feed, stepped = model.initial_feed(3, memory.outputs), []
    for t in range(6):
        logits, state, feed, _ = model.step(targets[t], state, feed, memory)
        stepped.append(logits)
    slow = torch.stack(stepped)
    torch.testing.assert_close(fast, slow, atol=1e-12, rtol=1e-12)
    weights = torch.randn_like(fast)
    fast_grads = torch.autograd.grad((fast * weights).sum(), list(model.parameters()), allow_unused=True)
    slow_grads = torch.autograd.grad((slow * weights).sum(), list(model.parameters()), allow_unused=True)
    for a, b in zip(fast_grads, slow_grads):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


def test_scheduled_sampling_feeds_the_models_own_tokens() -> None:
    """sampling=0 is teacher forcing; sampling=1 feeds back the argmax, the greedy decoder's inputs."""
    torch.manual_seed(3)
    model = model_for("general", "lstm", True)
    source, lengths = torch.randint(3, 11, (6, 3)), torch.tensor([6, 5, 2])
    targets = torch.randint(3, 9, (5, 3))
    targets[0] = BOS
    torch.testing.assert_close(model(source, lengths, targets, sampling=0.0), model(source, lengths, targets))
    own = model(source, lengths, targets, sampling=1.0)
    fed = torch.cat([targets[:1], own.argmax(-1)[:-1]])  # what the model fed itself
    torch.testing.assert_close(own, model(source, lengths, fed), atol=1e-12, rtol=1e-12)
    with torch.no_grad():
        greedy, _ = greedy_decode(model, source, lengths, BOS, EOS, 5)
    for b in range(3):
        tokens = own.argmax(-1)[:, b].tolist()
        assert greedy[b] == (tokens[: tokens.index(EOS)] if EOS in tokens else tokens)
    with pytest.raises(ValueError, match="sampling: expected a probability"):
        model(source, lengths, targets, sampling=1.5)


def test_config_errors() -> None:
    with pytest.raises(ValueError, match="'dot' needs equal encoder and decoder widths"):
        Seq2SeqConfig(RecurrentConfig(bidirectional=True), attention="dot")
    with pytest.raises(ValueError, match="steps one token at a time"):
        Seq2SeqConfig(RecurrentConfig(cell="mingru"))


def test_repeated_ngrams_by_hand() -> None:
    from rnnkit.models.seq2seq import repeated_ngrams

    history = torch.tensor([[5, 6, 7, 5, 6], [3, 3, 3, 4, 3]]).T  # (T=5, N=2)
    banned = repeated_ngrams(history, 3, 9)
    assert banned[0].nonzero().ravel().tolist() == [7]  # "5 6" was followed by 7
    assert banned[1].nonzero().ravel().tolist() == []  # "4 3" never occurred before
    assert repeated_ngrams(history, 2, 9)[1].nonzero().ravel().tolist() == [3, 4]  # after 3: 3 and 4 seen
    assert repeated_ngrams(history, 1, 9)[0].nonzero().ravel().tolist() == [5, 6, 7]
    assert not repeated_ngrams(history, 0, 9).any() and not repeated_ngrams(history[:1], 3, 9).any()


@pytest.mark.parametrize("beam", [1, 3])
def test_blocked_decoding_never_repeats_an_ngram(beam: int) -> None:
    torch.manual_seed(3)
    model = model_for("additive", "lstm", True, target_vocab=6)
    source, lengths = torch.randint(3, 11, (6, 4)), torch.tensor([6, 5, 3, 2])
    for n in (2, 3):
        if beam == 1:
            outputs, _ = greedy_decode(model, source, lengths, BOS, EOS, 30, no_repeat_ngram=n)
        else:
            outputs = beam_search(model, source, lengths, BOS, EOS, 30, beam, no_repeat_ngram=n)
        for tokens in outputs:
            grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
            assert len(grams) == len(set(grams)), (n, tokens)


def test_the_copying_distribution_by_its_two_ends() -> None:
    """Pointer-generator: the step's distribution is normalized; with the gate shut it is the
    attention summed per source token, with the gate open the vocabulary softmax."""
    torch.manual_seed(4)
    config = Seq2SeqConfig(RecurrentConfig(cell="gru", hidden_size=8, num_layers=1, bidirectional=True),
                           embedding_size=6, attention="additive", copy=True, tie_embeddings=True)
    model = Seq2Seq(10, 10, config).double().eval()
    assert model.target_embedding is model.source_embedding
    source, lengths = torch.tensor([[3, 4], [5, 4], [3, 0]]), torch.tensor([3, 2])
    memory, state = model.encode(source, lengths)
    token, feed = torch.tensor([1, 1]), model.initial_feed(2, memory.outputs)
    logits, _, _, weights = model.step(token, state, feed, memory)
    torch.testing.assert_close(logits.exp().sum(-1), torch.ones(2, dtype=torch.float64))
    with torch.no_grad():
        model.gate.weight.zero_()
        model.gate.bias.fill_(-60.0)  # copy only
    logits, _, _, weights = model.step(token, state, feed, memory)
    expected = torch.zeros(2, 10, dtype=torch.float64)
    for b in range(2):
        for s in range(int(lengths[b])):
            expected[b, source[s, b]] += weights[s, b]
    torch.testing.assert_close(logits.exp(), expected, atol=1e-9, rtol=0)
    with torch.no_grad():
        model.gate.bias.fill_(60.0)  # generate only
    logits, _, attentional, _ = model.step(token, state, feed, memory)
    torch.testing.assert_close(logits.exp(), torch.softmax(model.output(attentional), -1), atol=1e-9, rtol=0)
    with pytest.raises(ValueError, match="expected one vocabulary for both sides"):
        Seq2Seq(10, 12, config)
    with pytest.raises(ValueError, match="model.copy: copying follows the attention"):
        Seq2SeqConfig(attention="none", copy=True)
