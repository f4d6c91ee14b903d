"""The readable time loop: run one cell over one direction of a padded batch.

This is the reference every fused path is tested against, and the path that runs every
configuration a fused kernel cannot.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import torch
from torch import Tensor

from rnnkit.functional import reverse_padded, select_state
from rnnkit.layers.checks import tracing


class SteppedCell(Protocol):
    """What the loop needs: the input projection for a whole sequence, then one step."""

    def project_input(self, x: Tensor) -> Tensor: ...

    def recur(self, xg: Tensor, state: Any) -> tuple[Tensor, Any]: ...


class StepOnly:
    """Adapts a cell that only has ``step(x_t, state)`` to :class:`SteppedCell`."""

    def __init__(self, cell: Any) -> None:
        self.cell = cell

    def project_input(self, x: Tensor) -> Tensor:
        return x

    def recur(self, xg: Tensor, state: Any) -> tuple[Tensor, Any]:
        return self.cell.step(xg, state)


RunDirection = Callable[..., tuple[Tensor, Any]]  # the signature of run_direction


def run_direction(
    cell: SteppedCell,
    x: Tensor,
    state: Any,
    lengths: Tensor | None,
    mask: Tensor | None,
    reverse: bool = False,
) -> tuple[Tensor, Any]:
    """Run ``cell`` over ``x``: ``(T, B, I) -> (output (T, B, H_out), final state)``.

    With ``lengths`` (CPU int64 ``(B,)``) and ``mask`` (``(T, B)``, on ``x``'s device): outputs
    past each length are zero and each sequence's state stops changing at its last valid step.
    ``reverse=True`` runs each sequence backwards from its own last valid step.
    """
    if reverse:
        x = reverse_padded(x, lengths)
    # One matrix product for the input's share of every step; unbind (not x[t]) so that each
    # step's backward does not write a full-size zero gradient.
    inputs = cell.project_input(x).unbind(0)
    # steps every sequence still has need no mask (while tracing the lengths' values are unknown: mask all)
    all_valid_until = x.shape[0] if lengths is None else 0 if tracing() else int(lengths.min())
    outputs = []
    for t, xg in enumerate(inputs):
        h, new_state = cell.recur(xg, state)
        if t < all_valid_until:
            state = new_state
        else:
            valid = mask[t]  # (B,)
            state = select_state(valid, new_state, state)
            h = h.masked_fill(~valid.view(-1, *([1] * (h.dim() - 1))), 0.0)  # (B, 1, ...) over h's units
        outputs.append(h)
    output = torch.stack(outputs)  # (T, B, H_out)
    if reverse:
        output = reverse_padded(output, lengths)
    return output, state
