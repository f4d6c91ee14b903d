"""Helpers for padded, variable-length sequences.

Shape legend: T time steps, B batch, * any trailing feature dims.
Every helper takes time-major tensors ``(T, B, *)`` and ``lengths`` as a 1-D integer
tensor of ``B`` values in ``[1, T]``.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor


def mask_from_lengths(lengths: Tensor, max_length: int, device: torch.device | None = None) -> Tensor:
    """Boolean validity mask ``(T, B)``: ``mask[t, b]`` is True where ``t < lengths[b]``."""
    lengths = lengths.to(device if device is not None else lengths.device)
    steps = torch.arange(max_length, device=lengths.device)
    return steps[:, None] < lengths[None, :]  # (T, B)


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence within its own length; padding stays where it was.

    ``x`` is ``(T, B, *)``. Without lengths this is ``x.flip(0)``. With lengths, row ``b``
    becomes ``x[l_b - 1], ..., x[0], x[l_b], ..., x[T - 1]``, so applying it twice is the
    identity and the reversed sequence starts at its own last valid step.
    """
    if lengths is None:
        return x.flip(0)
    T = x.shape[0]
    steps = torch.arange(T, device=x.device)[:, None]  # (T, 1)
    lengths = lengths.to(x.device)[None, :]  # (1, B)
    source = torch.where(steps < lengths, lengths - 1 - steps, steps)  # (T, B)
    index = source.view(T, -1, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(0, index)


def last_valid(x: Tensor, lengths: Tensor | None) -> Tensor:
    """The element at each sequence's last valid step: ``(T, B, *) -> (B, *)``."""
    if lengths is None:
        return x[-1]
    index = (lengths.to(x.device) - 1).view(1, -1, *([1] * (x.dim() - 2)))
    return x.gather(0, index.expand(1, *x.shape[1:])).squeeze(0)


def sequence_summary(output: Tensor, lengths: Tensor | None, bidirectional: bool) -> Tensor:
    """What a (bi)directional layer read of each whole sequence: ``(T, B, D*H) -> (B, D*H)``.

    The forward direction's output at each sequence's last valid step; with two directions,
    joined by the backward direction's output at step 0 (where the backward pass ends).
    """
    if not bidirectional:
        return last_valid(output, lengths)
    width = output.shape[-1] // 2
    return torch.cat([last_valid(output[..., :width], lengths), output[0, :, width:]], dim=-1)


def tree_map(fn: Callable[..., Tensor], *trees: Any) -> Any:
    """Apply ``fn`` leaf-wise over matching tensors, tuples and lists (a recurrent state)."""
    first = trees[0]
    if isinstance(first, Tensor):
        return fn(*trees)
    if isinstance(first, (tuple, list)):
        return type(first)(tree_map(fn, *parts) for parts in zip(*trees))
    raise TypeError(f"expected a recurrent state of tensors, tuples or lists, got {type(first).__name__}")


def select_state(keep_new: Tensor, new: Any, old: Any) -> Any:
    """Take ``new`` where ``keep_new`` (``(B,)`` bool) is True, else ``old``, leaf-wise.

    This is how a layer freezes the state of sequences that have already ended, so the final
    state is the state at each sequence's last valid step.
    """
    return tree_map(lambda n, o: torch.where(keep_new.view(-1, *([1] * (n.dim() - 1))), n, o), new, old)
