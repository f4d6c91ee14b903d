"""Recurrent regularizers as pure functions, each with its mask shape and eval behaviour.

Shape legend: T time, B batch, H features, V vocabulary. Every function is the identity
(or its expectation) when ``training`` is False.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.functional import kernels


def dropout_mask(shape: tuple[int, ...], p: float, like: Tensor) -> Tensor:
    """Inverted-dropout mask: 0 with probability ``p``, else ``1 / (1 - p)``."""
    keep = torch.full(shape, 1.0 - p, dtype=like.dtype, device=like.device)
    return torch.bernoulli(keep) / (1.0 - p)


def locked_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Variational dropout (Gal & Ghahramani 2016): one mask per sequence, shared over time.

    ``x``: ``(T, B, H)``; the mask is ``(1, B, H)``, broadcast over ``T``.
    """
    if not training or p == 0:
        return x
    return x * dropout_mask((1, *x.shape[1:]), p, x)


def weight_drop(weight: Tensor, p: float, training: bool) -> Tensor:
    """DropConnect (Wan et al. 2013) on a weight matrix, as AWD-LSTM drops ``W_hh``.

    A functional call on the weight: the parameter itself is never replaced or modified. Each
    entry is kept with probability ``1 - p`` and scaled by ``1 / (1 - p)``; the mask comes from
    :func:`bernoulli_mask` (fast on CPU), since it is drawn afresh on every forward pass.
    """
    if not training or p == 0:
        return weight
    keep = bernoulli_mask(weight.shape, 1.0 - p, weight)
    return weight * (keep.to(weight.dtype) / (1.0 - p))


def embedding_dropout(weight: Tensor, p: float, training: bool) -> Tensor:
    """Drop whole rows (words) of an embedding matrix ``(V, E)``; mask ``(V, 1)`` (Gal & Ghahramani 2016)."""
    if not training or p == 0:
        return weight
    return weight * dropout_mask((weight.shape[0], 1), p, weight)


def bernoulli_mask(shape: tuple[int, ...], probability: float, like: Tensor) -> Tensor:
    """A bool mask of ``shape`` on ``like``'s device, each entry True with ``probability``.

    On CPU with rnnkit's kernels built it is drawn counter-based in C++ from one seed taken
    from torch's generator (so ``torch.manual_seed`` fixes it), several times faster than
    ``torch.rand``; elsewhere, and inside torch.compile (which traces torch's generator, not
    the C++ one), ``torch.rand(shape) < probability``.
    """
    if like.device.type == "cpu" and not torch.compiler.is_compiling() and kernels.available():
        return kernels.keep_mask(tuple(shape), probability)
    return torch.rand(shape, device=like.device) < probability


def zoneout_keep(shape: tuple[int, ...], rate: float, training: bool, like: Tensor) -> Tensor | float | None:
    """What zoneout keeps of the previous state: ``None`` when ``rate`` is 0.

    Training: a bool mask of ``shape`` (``(T, B, H)`` for a whole sequence), True (keep the
    previous value) with probability ``rate`` per unit and step (:func:`bernoulli_mask`).
    Evaluation: the expectation, ``rate`` itself, as a float.
    """
    if rate == 0:
        return None
    if not training:
        return float(rate)
    return bernoulli_mask(shape, rate, like)


def zoneout_blend(previous: Tensor, new: Tensor, keep: Tensor | float) -> Tensor:
    """The zoned-out state: ``previous`` where the bool ``keep`` is True, else ``new``; or, with
    a float rate, ``keep * previous + (1 - keep) * new``."""
    if isinstance(keep, Tensor):
        return torch.where(keep, previous, new)
    return keep * previous + (1.0 - keep) * new


def zoneout(previous: Tensor, new: Tensor, rate: float, training: bool) -> Tensor:
    """Zoneout (Krueger et al. 2017): each unit keeps its previous value with probability ``rate``.

    Training draws a fresh ``(B, H)`` mask every step; evaluation uses the expectation
    ``rate * previous + (1 - rate) * new``.
    """
    keep = zoneout_keep(new.shape, rate, training, new)
    return new if keep is None else zoneout_blend(previous, new, keep)


def _masked_mean(values: Tensor, mask: Tensor | None) -> Tensor:
    if mask is None:
        return values.mean()
    weights = mask[..., None].to(values.dtype).expand_as(values)
    return (values * weights).sum() / weights.sum().clamp_min(1.0)


def activation_regularization(h: Tensor, alpha: float, mask: Tensor | None = None) -> Tensor:
    """AR (Merity et al. 2017): ``alpha * mean(h_t^2)`` over valid steps. ``h``: ``(T, B, H)``, ``mask``: ``(T, B)``."""
    return alpha * _masked_mean(h.pow(2), mask)


def temporal_activation_regularization(h: Tensor, beta: float, mask: Tensor | None = None) -> Tensor:
    """TAR (Merity et al. 2017): ``beta * mean((h_t - h_{t-1})^2)`` over pairs of valid steps."""
    diffs = (h[1:] - h[:-1]).pow(2)
    return beta * _masked_mean(diffs, None if mask is None else mask[1:] & mask[:-1])


def spec_augment(features: Tensor, lengths: Tensor | None, freq_masks: int, freq_width: int, time_masks: int,
                 time_width: float, training: bool, generator: torch.Generator | None = None) -> Tensor:
    """SpecAugment's masking (Park et al. 2019): ``freq_masks`` bands of up to ``freq_width``
    features and ``time_masks`` spans of up to ``time_width`` (a fraction) of each sequence's
    valid frames set to zero (the mean of normalized features). ``features``: ``(T, B, F)``;
    each sequence draws its own masks."""
    if not training or (freq_masks == 0 and time_masks == 0):
        return features
    steps, batch, size = features.shape
    lengths = torch.full((batch,), steps) if lengths is None else lengths.cpu()
    keep = torch.ones(batch, steps, size, dtype=torch.bool)

    def draw(high: int) -> int:
        return int(torch.randint(0, max(high, 0) + 1, (1,), generator=generator))

    for b in range(batch):
        for _ in range(freq_masks):
            width = draw(min(freq_width, size))
            start = draw(size - width)
            keep[b, :, start : start + width] = False
        for _ in range(time_masks):
            width = draw(int(time_width * int(lengths[b])))
            start = draw(int(lengths[b]) - width)
            keep[b, start : start + width, :] = False
    return features * keep.transpose(0, 1).to(features.device, features.dtype)
