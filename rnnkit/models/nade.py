"""Output layers for a frame of binary notes given a conditioning vector (the RNN's state).

Shape legend: N frames (any leading shape), D notes (visible units), K the NADE's hidden units,
H the conditioning features.

``IndependentNotes``: each note a Bernoulli of its own, ``sigmoid(W h + b)``; the frame's
probability is their product (the RNN baseline of Boulanger-Lewandowski et al. 2012).

``NADE`` (Larochelle & Murray 2011), conditioned as in RNN-NADE (Boulanger-Lewandowski et al. 2012):
the notes of one frame in a fixed order, each given the ones before it,

    a_1 = c(h),  a_{i+1} = a_i + W[:, i] v_i                 (K)
    p(v_i = 1 | v_<i, h) = sigmoid(b_i(h) + V[i] . sigmoid(a_i))
    b(h) = B_b h + b,  c(h) = B_c h + c

so the frame's probability is exact and normalized (the 2^D configurations sum to 1), and
sampling draws the notes in order. :meth:`NADE.conditional_logits` computes every ``a_i`` at
once from a cumulative sum (teacher forcing within the frame); :meth:`NADE.conditional_logits_loop`
is the same equations one note at a time, the readable reference the tests hold it to.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class IndependentNotes(nn.Module):
    """``features (..., H)`` -> each note's logit ``(..., D)``; notes independent given ``h``."""

    def __init__(self, features: int, notes: int) -> None:
        super().__init__()
        self.notes = notes
        self.linear = nn.Linear(features, notes)

    def logits(self, h: Tensor) -> Tensor:
        return self.linear(h)

    def nll(self, h: Tensor, v: Tensor) -> Tensor:
        """``h (..., H)``, ``v (..., D)`` of 0/1 -> the frame's negative log-likelihood ``(...)`` (nats)."""
        return F.binary_cross_entropy_with_logits(self.logits(h), v, reduction="none").sum(-1)

    def sample(self, h: Tensor, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """A frame ``(..., D)`` of 0/1 for each ``h``, every note drawn from ``sigmoid(logit / temperature)``."""
        return torch.bernoulli(torch.sigmoid(self.logits(h) / temperature), generator=generator)


class NADE(nn.Module):
    """A NADE over ``notes`` binary units whose biases are functions of ``features`` (see the module)."""

    def __init__(self, features: int, notes: int, hidden: int) -> None:
        super().__init__()
        self.notes, self.hidden = notes, hidden
        self.visible_bias = nn.Linear(features, notes)  # b(h)
        self.hidden_bias = nn.Linear(features, hidden)  # c(h)
        self.weight_in = nn.Parameter(torch.empty(hidden, notes))  # W: note i's vote into the hidden units
        self.weight_out = nn.Parameter(torch.empty(notes, hidden))  # V: the hidden units' vote on note i
        nn.init.normal_(self.weight_in, std=0.01)
        nn.init.normal_(self.weight_out, std=0.01)

    def conditional_logits(self, h: Tensor, v: Tensor) -> Tensor:
        """``h (..., H)``, ``v (..., D)`` -> the logit of ``p(v_i = 1 | v_<i, h)`` for every i ``(..., D)``.

        ``a_i = c(h) + sum_{j<i} W[:, j] v_j`` for all i at once: an exclusive cumulative sum of
        the notes' votes, ``(..., D, K)``."""
        votes = v.unsqueeze(-1) * self.weight_in.t()  # (..., D, K)
        before = torch.cumsum(votes, dim=-2) - votes  # the votes of the notes before each
        a = self.hidden_bias(h).unsqueeze(-2) + before  # (..., D, K)
        return self.visible_bias(h) + (torch.sigmoid(a) * self.weight_out).sum(-1)

    def conditional_logits_loop(self, h: Tensor, v: Tensor) -> Tensor:
        """:meth:`conditional_logits` one note at a time, as the equations read (the reference)."""
        a = self.hidden_bias(h)  # a_1 = c(h)
        b = self.visible_bias(h)
        logits = []
        for i in range(self.notes):
            logits.append(b[..., i] + torch.sigmoid(a) @ self.weight_out[i])
            a = a + v[..., i : i + 1] * self.weight_in[:, i]
        return torch.stack(logits, dim=-1)

    def nll(self, h: Tensor, v: Tensor) -> Tensor:
        """``h (..., H)``, ``v (..., D)`` of 0/1 -> ``-log p(v | h)`` ``(...)`` (nats), exact."""
        return F.binary_cross_entropy_with_logits(self.conditional_logits(h, v), v, reduction="none").sum(-1)

    forward = nll

    def sample(self, h: Tensor, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """A frame ``(..., D)`` of 0/1 for each ``h``: note i drawn given the notes drawn before it,
        from ``sigmoid(logit / temperature)``."""
        a = self.hidden_bias(h)
        b = self.visible_bias(h)
        notes = []
        for i in range(self.notes):
            logit = b[..., i] + torch.sigmoid(a) @ self.weight_out[i]
            note = torch.bernoulli(torch.sigmoid(logit / temperature), generator=generator)
            notes.append(note)
            a = a + note.unsqueeze(-1) * self.weight_in[:, i]
        return torch.stack(notes, dim=-1)
