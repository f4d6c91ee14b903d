"""Decoding connectionist temporal classification outputs (Graves et al. 2006).

A CTC model emits, per frame, a distribution over the labels and a ``blank``. A labelling's
probability sums over every frame path that collapses to it (merge repeats, then drop blanks).
:func:`ctc_greedy` takes the best label per frame and collapses (best path decoding);
:func:`ctc_prefix_beam_search` keeps the ``beam`` most probable labellings (prefixes), each with
the probability of its paths ending in a blank and in its last label, so that paths that
collapse to the same labelling are summed rather than competing (Hannun et al. 2014, without a
language model). Training uses ``torch.nn.CTCLoss``.

Shapes: ``log_probs (T, B, V)`` (log-softmax over V, blank included), ``lengths (B,)``.
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch
from torch import Tensor


def ctc_collapse(path: list[int], blank: int = 0) -> list[int]:
    """Merge repeated labels, then drop blanks: ``[a, a, -, a, b, b] -> [a, a, b]``."""
    out: list[int] = []
    previous = None
    for label in path:
        if label != previous and label != blank:
            out.append(label)
        previous = label
    return out


def ctc_greedy(log_probs: Tensor, lengths: Tensor | None = None, blank: int = 0) -> list[list[int]]:
    """Best path decoding: the collapsed argmax path of each sequence's valid frames."""
    best = log_probs.argmax(-1).T.tolist()  # (B, T)
    lengths = [len(b) for b in best] if lengths is None else lengths.tolist()
    return [ctc_collapse(path[:n], blank) for path, n in zip(best, lengths)]


def _log_add(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    high, low = (a, b) if a > b else (b, a)
    return high + math.log1p(math.exp(low - high))


def ctc_prefix_beam_search(log_probs: Tensor, beam: int = 8, blank: int = 0, prune: float = -12.0
                           ) -> list[int]:
    """The most probable labelling of one sequence's frames ``log_probs (T, V)`` found by prefix
    beam search with ``beam`` prefixes; labels whose frame log-probability is below ``prune`` are
    not extended (blank always is)."""
    if log_probs.dim() != 2:
        raise ValueError(f"log_probs: expected (T, V) for one sequence, got shape {tuple(log_probs.shape)}")
    if beam < 1:
        raise ValueError(f"beam: expected >= 1, got {beam}")
    frames = log_probs.detach().double().cpu().tolist()
    # prefix -> (log P(paths ending in blank), log P(paths ending in the prefix's last label))
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}
    for frame in frames:
        candidates = [v for v, p in enumerate(frame) if v != blank and p >= prune]
        following: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [-math.inf, -math.inf])
        for prefix, (p_blank, p_label) in beams.items():
            total = _log_add(p_blank, p_label)
            entry = following[prefix]  # a blank, or the last label repeated: the labelling stays
            entry[0] = _log_add(entry[0], total + frame[blank])
            if prefix:
                entry[1] = _log_add(entry[1], p_label + frame[prefix[-1]])
            for v in candidates:
                extended = following[prefix + (v,)]
                # the same label twice needs a blank between: only paths ending in blank extend
                source = p_blank if prefix and v == prefix[-1] else total
                extended[1] = _log_add(extended[1], source + frame[v])
        ranked = sorted(following.items(), key=lambda item: _log_add(*item[1]), reverse=True)[:beam]
        beams = {prefix: (p[0], p[1]) for prefix, p in ranked}
    return list(max(beams.items(), key=lambda item: _log_add(*item[1]))[0])


def ctc_beam_decode(log_probs: Tensor, lengths: Tensor | None = None, beam: int = 8, blank: int = 0
                    ) -> list[list[int]]:
    """:func:`ctc_prefix_beam_search` on each sequence of a batch ``(T, B, V)``."""
    lengths_ = [log_probs.shape[0]] * log_probs.shape[1] if lengths is None else lengths.tolist()
    return [ctc_prefix_beam_search(log_probs[:n, b], beam, blank) for b, n in enumerate(lengths_)]


def ctc_labelling_log_prob(log_probs: Tensor, labels: list[int], blank: int = 0) -> Tensor:
    """``log P(labels | frames)`` for one sequence ``(T, V)``: minus torch's CTC loss (summed)."""
    return -torch.nn.functional.ctc_loss(log_probs.unsqueeze(1), torch.tensor([labels], dtype=torch.long),
                                         torch.tensor([log_probs.shape[0]]), torch.tensor([len(labels)]),
                                         blank=blank, reduction="sum", zero_infinity=False)
