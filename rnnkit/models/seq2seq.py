"""Sequence to sequence: a recurrent encoder, attention, and a recurrent decoder that steps one
token at a time (Sutskever et al. 2014; Bahdanau et al. 2015; Luong et al. 2015).

Shape legend: S source steps, T target steps, B batch, K beam, V target vocabulary, E
embedding size, H hidden units, D encoder directions, L layers.

    source ids (S, B), lengths (B,) -> embedding -> (bi)directional encoder -> memory (S, B, D*H)
    decoder state_0 = tanh(W [h_fwd; h_bwd]) per layer (the bridge from the encoder's final states)
    step t: y_{t-1} (B,) -> embedding, [+ attentional vector a_{t-1} (input feeding)] -> decoder stack
        -> h_t (B, H) -> attention over the memory, masked to each source's length -> context c_t
        -> a_t = tanh(W_c [c_t; h_t]) -> logits W_o a_t (B, V)

``attention``: ``none`` (the plain encoder-decoder: the context is unused and ``a_t = h_t``),
``additive`` (Bahdanau: ``v^T tanh(W_q h_t + W_k m_s)``), ``general`` (Luong: ``h_t^T W m_s``)
or ``dot`` (Luong: ``h_t^T m_s``, needs ``D*H == H``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.functional import mask_from_lengths
from rnnkit.models.sequence import RecurrentConfig, build_recurrent

Attention = Literal["none", "additive", "general", "dot"]


@dataclass
class Seq2SeqConfig:
    """The encoder stack (the decoder has the same cell, size, layers and regularizers, one
    direction), embeddings, attention, input feeding."""

    recurrent: RecurrentConfig = field(default_factory=lambda: RecurrentConfig(
        hidden_size=256, num_layers=2, bidirectional=True))
    embedding_size: int = 128
    attention: Attention = "additive"
    input_feeding: bool = True  # feed the last attentional vector into the next step (Luong)
    output_dropout: float = 0.0  # on the attentional vector before the output layer
    # one vocabulary on both sides (the source ids are target ids): one embedding for both
    tie_embeddings: bool = False
    # pointer-generator (See et al. 2017): each step mixes the vocabulary distribution with the
    # attention over the source tokens, copying them; needs attention and one vocabulary
    copy: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.output_dropout < 1:
            raise ValueError(f"model.output_dropout: expected a rate in [0, 1), got {self.output_dropout}")
        if self.attention == "dot" and self.recurrent.bidirectional:
            raise ValueError("model.attention: 'dot' needs equal encoder and decoder widths; expected "
                             "model.recurrent.bidirectional false, or 'general' / 'additive'")
        if self.copy and self.attention == "none":
            raise ValueError("model.copy: copying follows the attention; expected model.attention additive, general "
                             "or dot")
        if self.recurrent.cell in ("mingru", "minlstm"):
            raise ValueError(f"model.recurrent.cell: the decoder steps one token at a time; expected rnn, rnn_relu, "
                             f"lstm or gru, got {self.recurrent.cell!r}")


class AttentionScore(nn.Module):
    """Scores ``(S, B)`` of a query ``(B, H)`` against a memory ``(S, B, M)``."""

    def __init__(self, kind: Attention, query_size: int, memory_size: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "additive":
            self.query = nn.Linear(query_size, query_size, bias=False)
            self.key = nn.Linear(memory_size, query_size)
            self.v = nn.Linear(query_size, 1, bias=False)
        elif kind == "general":
            self.key = nn.Linear(memory_size, query_size, bias=False)

    def keys(self, memory: Tensor) -> Tensor:
        """What the memory contributes to every score, computed once per source: ``(S, B, *)``."""
        return memory if self.kind == "dot" else self.key(memory)

    def forward(self, query: Tensor, keys: Tensor) -> Tensor:
        if self.kind == "additive":
            return self.v(torch.tanh(self.query(query).unsqueeze(0) + keys)).squeeze(-1)
        return (keys * query.unsqueeze(0)).sum(-1)  # general: h^T W m, W applied in keys(); dot: h^T m


@dataclass
class Memory:
    """The encoded source a decoder attends to, with what every step reuses."""

    outputs: Tensor  # (S, B, D*H)
    keys: Tensor | None  # (S, B, *): the attention's memory-side projection
    mask: Tensor  # (S, B) True at valid steps
    tokens: Tensor | None = None  # (S, B): the source ids, which a copying model copies

    def select(self, index: Tensor) -> Memory:
        """The memory of batch entries ``index`` (beam search repeats and reorders them)."""
        keys = None if self.keys is None else self.keys[:, index]
        tokens = None if self.tokens is None else self.tokens[:, index]
        return Memory(self.outputs[:, index], keys, self.mask[:, index], tokens)


class Seq2Seq(nn.Module):
    """``source ids (S, B), lengths (B,), target inputs (T, B) -> logits (T, B, V)``, and the
    pieces decoding uses: :meth:`encode`, :meth:`step`."""

    def __init__(self, source_vocab: int, target_vocab: int, config: Seq2SeqConfig,
                 source_embedding: nn.Module | None = None) -> None:
        """``source_embedding``: what turns the source into encoder inputs ``(S, B, embedding_size)``
        (a captioner's frame encoder reads frames ``(S, B, C, H, W)``); by default an
        ``nn.Embedding`` of ``source_vocab`` token ids."""
        super().__init__()
        self.config = config
        H = config.recurrent.hidden_size
        if (config.tie_embeddings or config.copy) and (source_vocab != target_vocab or source_embedding is not None):
            raise ValueError(f"model.tie_embeddings / copy: expected one vocabulary for both sides, got {source_vocab} "
                             f"source and {target_vocab} target tokens"
                             + (" and a source that is not tokens" if source_embedding is not None else ""))
        self.source_embedding = source_embedding or nn.Embedding(source_vocab, config.embedding_size)
        self.target_embedding = self.source_embedding if config.tie_embeddings else \
            nn.Embedding(target_vocab, config.embedding_size)
        self.encoder = build_recurrent(config.recurrent, config.embedding_size)
        directions = self.encoder.num_directions
        memory_size = directions * H
        self.bridge = nn.Linear(directions * H, H)
        decoder_config = dataclasses.replace(config.recurrent, bidirectional=False)
        feed = H if config.input_feeding else 0
        self.decoder = build_recurrent(decoder_config, config.embedding_size + feed)
        self.attention = None if config.attention == "none" else AttentionScore(config.attention, H, memory_size)
        self.combine = nn.Linear(memory_size + H, H) if self.attention is not None else None
        self.dropout = nn.Dropout(config.output_dropout)
        self.output = nn.Linear(H, target_vocab)
        # p_gen = sigmoid(w [c_t; h_t; x_t]): how much of step t's distribution is generated, not copied
        self.gate = nn.Linear(memory_size + H + config.embedding_size, 1) if config.copy else None

    def encode(self, source: Tensor, lengths: Tensor) -> tuple[Memory, Any]:
        """The memory and the decoder's first state."""
        lengths = lengths.to(source.device)
        outputs, final = self.encoder(self.source_embedding(source), lengths=lengths)
        mask = mask_from_lengths(lengths, source.shape[0], source.device)
        keys = self.attention.keys(outputs) if self.attention is not None else None
        return Memory(outputs, keys, mask, source if self.gate is not None else None), self._bridge(final)

    def _bridge(self, final: Any) -> Any:
        """Encoder final states ``(L*D, B, H)`` -> decoder states ``(L, B, H)``: both directions' states
        of each layer, joined and projected."""
        L, D = self.config.recurrent.num_layers, self.encoder.num_directions

        def one(state: Tensor) -> Tensor:
            per_layer = state.view(L, D, *state.shape[1:]).permute(0, 2, 1, 3).flatten(2)  # (L, B, D*H)
            return torch.tanh(self.bridge(per_layer))

        return tuple(one(s) for s in final) if isinstance(final, tuple) else one(final)

    def initial_feed(self, batch_size: int, like: Tensor) -> Tensor | None:
        if not self.config.input_feeding:
            return None
        return like.new_zeros(batch_size, self.config.recurrent.hidden_size)

    def step(self, token: Tensor, state: Any, feed: Tensor | None, memory: Memory
             ) -> tuple[Tensor, Any, Tensor, Tensor | None]:
        """One target token per sequence: ``token (B,)`` -> logits ``(B, V)``, the new state, the
        attentional vector ``(B, H)`` (next step's feed) and the attention weights ``(S, B)``.

        With ``copy``, the "logits" are log-probabilities: ``log(p_gen P_vocab + (1 - p_gen)
        P_copy)``, ``P_copy`` the attention weights summed per source token id (softmax and
        cross-entropy treat them as logits unchanged, the distribution being normalized)."""
        attentional, state, weights, gate_input = self.recur(token, state, feed, memory)
        return self.outputs(attentional, weights, gate_input, memory), state, attentional, weights

    def recur(self, token: Tensor, state: Any, feed: Tensor | None, memory: Memory
              ) -> tuple[Tensor, Any, Tensor | None, Tensor | None]:
        """The recurrent part of :meth:`step`: ``token (B,)`` -> the attentional vector ``(B, H)``,
        the new state, the attention weights ``(S, B)`` and the copy gate's input ``[c_t; h_t; x_t]``
        (``None`` without copy)."""
        embedded = x = self.target_embedding(token)
        if feed is not None:
            x = torch.cat([x, feed], dim=-1)
        h, state = self.decoder.step(x, state)  # (B, H)
        if self.attention is None:
            return h, state, None, None
        scores = self.attention(h, memory.keys).masked_fill(~memory.mask, float("-inf"))  # (S, B)
        weights = torch.softmax(scores, dim=0)
        context = (weights.unsqueeze(-1) * memory.outputs).sum(0)  # (B, D*H)
        attentional = torch.tanh(self.combine(torch.cat([context, h], dim=-1)))
        gate_input = torch.cat([context, h, embedded], dim=-1) if self.gate is not None else None
        return attentional, state, weights, gate_input

    def outputs(self, attentional: Tensor, weights: Tensor | None, gate_input: Tensor | None,
                memory: Memory) -> Tensor:
        """The output part of :meth:`step`, for one step or many: ``attentional (*, B, H)``,
        ``weights (*, S, B)``, ``gate_input (*, B, G)`` -> logits ``(*, B, V)`` (log-probabilities
        with copy: the generated distribution, with the attention weights added at the source
        tokens' ids)."""
        logits = self.output(self.dropout(attentional))
        if self.gate is None:
            return logits
        generate = torch.sigmoid(self.gate(gate_input))  # (*, B, 1)
        copied = (1 - generate) * weights.transpose(-1, -2)  # (*, B, S)
        index = memory.tokens.T.expand_as(copied)  # the source ids (B, S), for every step
        mixed = (generate * torch.softmax(logits, dim=-1)).scatter_add(-1, index, copied)
        return torch.log(mixed + 1e-12)

    def forward(self, source: Tensor, lengths: Tensor, target_inputs: Tensor, sampling: float = 0.0,
                generator: torch.Generator | None = None) -> Tensor:
        """Logits ``(T, B, V)`` for ``target_inputs`` ``(T, B)`` (``<bos>`` then the target): teacher
        forcing, or with ``sampling`` > 0 scheduled sampling (Bengio et al. 2015): from step 1 on, each
        sequence's input is, with that probability, the model's own likeliest previous token.

        Teacher forcing runs only the recurrent part step by step and the output layer (and the
        copy) once over all steps: equal to stacking :meth:`step`'s logits (a test holds them so),
        one large matrix product instead of T small ones."""
        if not 0 <= sampling <= 1:
            raise ValueError(f"sampling: expected a probability in [0, 1], got {sampling}")
        memory, state = self.encode(source, lengths)
        feed = self.initial_feed(source.shape[1], memory.outputs)
        if sampling > 0:  # each step's input may depend on the last step's logits
            logits: list[Tensor] = []
            for t in range(target_inputs.shape[0]):
                token = target_inputs[t]
                if t > 0:
                    own = torch.rand(token.shape, generator=generator, device=token.device) < sampling
                    token = torch.where(own, logits[-1].argmax(-1).detach(), token)
                out, state, feed_next, _ = self.step(token, state, feed, memory)
                feed = feed_next if self.config.input_feeding else None
                logits.append(out)
            return torch.stack(logits)
        steps: list[tuple[Tensor, Tensor | None, Tensor | None]] = []
        for t in range(target_inputs.shape[0]):
            attentional, state, weights, gate_input = self.recur(target_inputs[t], state, feed, memory)
            feed = attentional if self.config.input_feeding else None
            steps.append((attentional, weights, gate_input))
        attentional, weights, gate_input = (None if parts[0] is None else torch.stack(parts) for parts in zip(*steps))
        return self.outputs(attentional, weights, gate_input, memory)


def sequence_loss(logits: Tensor, targets: Tensor, lengths: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Mean cross-entropy over the valid target tokens; ``logits (T, B, V)``, ``targets (T, B)``,
    ``lengths (B,)``."""
    mask = mask_from_lengths(lengths, targets.shape[0], targets.device)
    losses = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none",
                             label_smoothing=label_smoothing).view_as(targets)
    return (losses * mask).sum() / mask.sum()


def _select_state(state: Any, index: Tensor) -> Any:
    """Decoder states ``(L, B, H)`` (or a tuple of them) for batch entries ``index``."""
    if isinstance(state, tuple):
        return tuple(s.index_select(1, index) for s in state)
    return state.index_select(1, index)


def _strip(tokens: list[int], eos: int) -> list[int]:
    return tokens[: tokens.index(eos)] if eos in tokens else tokens


def repeated_ngrams(history: Tensor, n: int, vocab_size: int) -> Tensor:
    """``(N, V)`` bool: the tokens that would repeat an ``n``-gram already in each hypothesis.

    ``history`` ``(T, N)``: the tokens so far of ``N`` hypotheses. A token is banned for a
    hypothesis when its last ``n - 1`` tokens occurred before, followed by that token (Paulus et
    al. 2018's trigram blocking for ``n = 3``). ``n`` 0 bans nothing."""
    T, N = history.shape
    banned = torch.zeros(N, vocab_size, dtype=torch.bool, device=history.device)
    if n < 1 or T < n - 1 or (n > 1 and T < n):
        return banned
    if n == 1:
        banned.scatter_(1, history.T, True)
        return banned
    windows = history.unfold(0, n - 1, 1)[:-1]  # (T - n + 1, N, n - 1): each (n-1)-gram that has a follower
    prefix = history[-(n - 1):].T  # (N, n - 1): the last n - 1 tokens
    match = (windows == prefix.unsqueeze(0)).all(-1)  # (T - n + 1, N)
    where = match.nonzero()
    followers = history[n - 1:]  # (T - n + 1, N): the token after each window
    banned[where[:, 1], followers[where[:, 0], where[:, 1]]] = True
    return banned


@torch.no_grad()
def greedy_decode(model: Seq2Seq, source: Tensor, lengths: Tensor, bos: int, eos: int, max_length: int,
                  no_repeat_ngram: int = 0) -> tuple[list[list[int]], Tensor | None]:
    """The likeliest token at every step, batched; each output stops at ``eos`` (left out).
    ``no_repeat_ngram`` n > 0: never repeat an n-gram (see :func:`repeated_ngrams`).
    Returns the outputs and the attention weights ``(T, S, B)`` (``None`` without attention)."""
    memory, state = model.encode(source, lengths)
    B = source.shape[1]
    feed = model.initial_feed(B, memory.outputs)
    token = torch.full((B,), bos, dtype=torch.long, device=source.device)
    done = torch.zeros(B, dtype=torch.bool, device=source.device)
    out, attention = [], []
    for _ in range(max_length):
        logits, state, attentional, weights = model.step(token, state, feed, memory)
        feed = attentional if model.config.input_feeding else None
        if no_repeat_ngram and out:
            logits = logits.masked_fill(repeated_ngrams(torch.stack(out), no_repeat_ngram, logits.shape[-1]),
                                        float("-inf"))
        token = logits.argmax(-1).masked_fill(done, eos)
        out.append(token)
        if weights is not None:
            attention.append(weights)
        done |= token == eos
        if bool(done.all()):
            break
    tokens = torch.stack(out).T.tolist()  # (B, T)
    return [_strip(t, eos) for t in tokens], (torch.stack(attention) if attention else None)


@torch.no_grad()
def beam_search(model: Seq2Seq, source: Tensor, lengths: Tensor, bos: int, eos: int, max_length: int,
                beam: int = 5, length_penalty: float = 1.0, no_repeat_ngram: int = 0) -> list[list[int]]:
    """Beam search, batched over sources: ``beam`` hypotheses per source, extended one token per
    step with the decoder state cached and reordered; a finished hypothesis (``eos``) keeps its
    score. The winner maximizes ``log p / length ** length_penalty`` (length counting ``eos``;
    0 compares raw log-probabilities, 1 the mean per token). ``no_repeat_ngram`` n > 0: no
    hypothesis repeats an n-gram (see :func:`repeated_ngrams`)."""
    memory, state = model.encode(source, lengths)
    B, K, device = source.shape[1], beam, source.device
    origin = torch.arange(B, device=device).repeat_interleave(K)  # (B*K,) each hypothesis's source
    memory, state = memory.select(origin), _select_state(state, origin)
    feed = model.initial_feed(B * K, memory.outputs)
    scores = torch.full((B, K), float("-inf"), device=device)
    scores[:, 0] = 0.0  # one live hypothesis per source at the start: no duplicates in the beam
    token = torch.full((B * K,), bos, dtype=torch.long, device=device)
    finished = torch.zeros(B * K, dtype=torch.bool, device=device)
    steps = torch.zeros(B * K, device=device)  # tokens in each hypothesis, eos included
    history = torch.empty(0, B * K, dtype=torch.long, device=device)
    for _ in range(max_length):
        logits, state, attentional, _ = model.step(token, state, feed, memory)
        logp = torch.log_softmax(logits.float(), dim=-1)  # (B*K, V)
        V = logp.shape[-1]
        frozen = torch.full_like(logp, float("-inf"))
        frozen[:, eos] = 0.0  # a finished hypothesis continues with eos at no cost
        if no_repeat_ngram and len(history):
            logp = logp.masked_fill(repeated_ngrams(history, no_repeat_ngram, V), float("-inf"))
        logp = torch.where(finished.unsqueeze(-1), frozen, logp)
        total = (scores.view(-1, 1) + logp).view(B, K * V)
        scores, best = total.topk(K, dim=-1)  # (B, K)
        parent = (best // V + torch.arange(B, device=device).unsqueeze(-1) * K).view(-1)  # (B*K,)
        token = (best % V).view(-1)
        state, history = _select_state(state, parent), history[:, parent]
        feed = attentional.index_select(0, parent) if model.config.input_feeding else None
        steps = steps[parent] + (~finished[parent]).float()
        finished = finished[parent] | (token == eos)
        history = torch.cat([history, token.unsqueeze(0)])
        if bool(finished.all()):
            break
    normalized = scores.view(-1) / steps.clamp(min=1) ** length_penalty if length_penalty else scores.view(-1)
    winners = normalized.view(B, K).argmax(-1) + torch.arange(B, device=device) * K
    return [_strip(history[:, w].tolist(), eos) for w in winners.tolist()]


class ExportedEncoder(nn.Module):
    """:meth:`Seq2Seq.encode` with flat tensors out, for export: ``(source, lengths) ->
    (outputs, [keys], mask, [tokens], *state, [feed])``; the brackets are there when the model has
    them (attention, copy, input feeding). :class:`ExportedDecoderStep` takes them back."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model

    def forward(self, source: Tensor, lengths: Tensor) -> tuple[Tensor, ...]:
        memory, state = self.model.encode(source, lengths)
        feed = self.model.initial_feed(lengths.shape[0], memory.outputs)
        return (*memory_leaves(memory), *(state if isinstance(state, tuple) else (state,)),
                *(() if feed is None else (feed,)))


class ExportedDecoderStep(nn.Module):
    """:meth:`Seq2Seq.step` with flat tensors, for export: ``(token, *state, [feed], outputs,
    [keys], mask, [tokens]) -> (logits, *state, [feed], [weights])`` (see :class:`ExportedEncoder`)."""

    def __init__(self, model: Seq2Seq, state_count: int) -> None:
        super().__init__()
        self.model, self.state_count = model, state_count

    def forward(self, token: Tensor, *rest: Tensor) -> tuple[Tensor, ...]:
        config, n = self.model.config, self.state_count
        state = rest[0] if n == 1 else tuple(rest[:n])
        feed = rest[n] if config.input_feeding else None
        memory_parts = list(rest[n + (1 if config.input_feeding else 0):])
        outputs = memory_parts.pop(0)
        keys = memory_parts.pop(0) if self.model.attention is not None else None
        mask = memory_parts.pop(0)
        tokens = memory_parts.pop(0) if self.model.gate is not None else None
        logits, state, attentional, weights = self.model.step(token, state, feed, Memory(outputs, keys, mask, tokens))
        return (logits, *(state if isinstance(state, tuple) else (state,)),
                *((attentional,) if config.input_feeding else ()), *(() if weights is None else (weights,)))


def memory_leaves(memory: Memory) -> tuple[Tensor, ...]:
    """The memory's tensors in :class:`ExportedEncoder`'s order (the absent ones left out)."""
    return tuple(t for t in (memory.outputs, memory.keys, memory.mask, memory.tokens) if t is not None)


def memory_names(model: Seq2Seq) -> list[str]:
    """The names of :func:`memory_leaves` for ``model``."""
    return (["memory"] + (["keys"] if model.attention is not None else []) + ["mask"]
            + (["source_tokens"] if model.gate is not None else []))
