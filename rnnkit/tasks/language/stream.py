"""Text generation as streams: read text into a stream's state, then sample from it, a token at a
time; many streams advance together in one batched step per token.

    from rnnkit.tasks.language import Advance, TextStream, advance_many, load_generator
    model, vocab = load_generator("runs/language-...")
    a, b = TextStream(seed=1), TextStream(seed=2)
    advance_many(model, vocab, [a, b], [Advance(text="The "), Advance(text="Once", generate=20)])
    advance_many(model, vocab, [a], [Advance(generate=5)])   # a continues where it stopped

A stream's sampling is seeded by its own ``seed`` and the count of tokens it has sampled, so a
stream gives the same text whether it advances alone or beside others, and in whatever
pieces its requests come (what a server's sessions need; :mod:`rnnkit.serve`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rnnkit.data.text import Vocabulary
from rnnkit.layers import stack_states, unstack_state
from rnnkit.models.language import LanguageModel
from rnnkit.tasks.language.task import filter_logits
from rnnkit.training import model_device


@dataclass
class TextStream:
    """One generation stream: the model's state after the text read so far and the logits of the
    next token (``(V,)``; ``None`` before anything was read)."""

    seed: int = 0
    state: Any = None
    logits: Tensor | None = None
    sampled: int = 0  # tokens sampled so far: token n is drawn with a generator seeded by (seed, n)


@dataclass(frozen=True)
class Advance:
    """One request to a stream: read ``text``, then sample ``generate`` tokens (each read back in)."""

    text: str = ""
    generate: int = 0
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if self.generate < 0 or not 0 < self.temperature < math.inf or not 0 < self.top_p <= 1 or self.top_k < 0:
            raise ValueError(f"expected generate >= 0, temperature > 0, 0 < top_p <= 1, top_k >= 0; got "
                             f"{self.generate}, {self.temperature}, {self.top_p}, {self.top_k}")


def _sample(stream: TextStream, request: Advance) -> int:
    logits = stream.logits
    assert logits is not None
    generator = torch.Generator(device=logits.device)
    generator.manual_seed((stream.seed * 1_000_003 + stream.sampled) % (2**63))
    filtered = filter_logits(logits[None] / request.temperature, request.top_k, request.top_p)
    stream.sampled += 1
    return int(torch.multinomial(filtered.softmax(-1), 1, generator=generator)[0, 0])


def advance_many(model: LanguageModel, vocab: Vocabulary, streams: Sequence[TextStream],
                 requests: Sequence[Advance]) -> list[str]:
    """Each stream reads its request's text, then samples its tokens; returns the sampled texts.

    Step by step, every stream with a token to read or to sample joins one batched
    :meth:`LanguageModel.step`; a stream that is done waits for the others.
    """
    if len(streams) != len(requests):
        raise ValueError(f"advance_many: expected one request per stream, got {len(requests)} for {len(streams)}")
    feeds = [vocab.encode(r.text) if r.text else [] for r in requests]
    for stream, feed, request in zip(streams, feeds, requests):
        if request.generate and not feed and stream.logits is None:
            raise ValueError("generate: the stream has read no text yet; expected text to start from")
    device = model_device(model)
    was_training = model.training
    if was_training:
        model.eval()
    read = [0] * len(streams)
    out: list[list[int]] = [[] for _ in streams]
    try:
        with torch.no_grad():
            while True:
                rows, tokens = [], []
                for i, (stream, feed, request) in enumerate(zip(streams, feeds, requests)):
                    if read[i] < len(feed):
                        token, read[i] = feed[read[i]], read[i] + 1
                    elif len(out[i]) < request.generate:
                        token = _sample(stream, request)
                        out[i].append(token)
                    else:
                        continue
                    rows.append(i)
                    tokens.append(token)
                if not rows:
                    break
                states = [model.recurrent.initial_state(1) if streams[i].state is None else streams[i].state
                          for i in rows]
                logits, state = model.step(torch.tensor(tokens, device=device), stack_states(states))
                for k, (i, own) in enumerate(zip(rows, unstack_state(state))):
                    streams[i].state, streams[i].logits = own, logits[k].clone()
    finally:
        if was_training:
            model.train()
    return [vocab.decode(ids) for ids in out]

