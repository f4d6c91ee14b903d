"""Stateful streaming: one step at a time, the state carried between calls.

    stream = rk.Stream(lstm, batch_size=1)      # starts from zeros (or state=...)
    for frame in frames:                        # frame: (B, I)
        y = stream(frame)                       # (B, H_out), as forward's output at that step
    stream.state                                # forward's h_n format; stream.reset() to restart

Any unidirectional layer streams (through its ``step``). For ``rk.RNN/LSTM/GRU`` in a
configuration torch's fused cell ops compute (no projection, no variant, no per-step
regularizer), the stream keeps one state per layer and calls the op directly, so a step costs
little more than the op itself: the weights are looked up once, when the stream is made (they
are the layer's own parameter objects, so in-place training updates are seen; make a new
stream after replacing a parameter object).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils._pytree import tree_flatten, tree_map

from rnnkit.layers.base import RecurrentLayer
from rnnkit.layers.torch_layers import TorchCompatibleLayer


class Stream:
    """Feed a layer one time step per call; see the module docstring.

    Args:
        layer: a unidirectional :class:`~rnnkit.layers.base.RecurrentLayer`.
        batch_size: the number of parallel streams (B).
        state: initial state in the form ``layer.forward`` takes; ``None`` means zeros.
    """

    def __init__(self, layer: RecurrentLayer, batch_size: int = 1, state: Any = None) -> None:
        if layer.bidirectional:
            raise ValueError("Stream: a bidirectional layer needs the whole sequence; expected a unidirectional layer")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"Stream: expected batch_size an int >= 1, got {batch_size!r}")
        self.layer = layer
        self.batch_size = batch_size
        fast = isinstance(layer, TorchCompatibleLayer) and layer.step_path() == "cell_op"
        self._weights = layer.cell_op_weights() if fast else None  # the parameters themselves, looked up once
        self._op = layer.cell_op() if fast else None
        self.reset(state)

    def reset(self, state: Any = None) -> None:
        """Start again from ``state`` (``None``: zeros)."""
        layer, B = self.layer, self.batch_size
        if state is None:
            state = layer.initial_state(B)
        if self._weights is None:
            self._state = state
            return
        self._cells = layer.split_state(state, B)  # per layer: (h,) or (h, c)
        like = layer.weight_ih_l0
        self._input_size, self._dtype, self._device = layer.input_size, like.dtype, like.device

    @property
    def state(self) -> Any:
        """The current state, in the form ``layer.forward`` returns as ``h_n``."""
        return self._state if self._weights is None else self.layer.join_state(self._cells)

    def __call__(self, x: Tensor) -> Tensor:
        """One step: ``x`` ``(B, I)`` -> the top layer's output ``(B, H_out)``."""
        layer = self.layer
        if self._weights is None or (layer.training and (layer.weight_drop > 0 or layer.dropout > 0)):
            out, state = layer.step(x, self.state)  # regularizers draw per step: the layer's step does that
            self.reset(state)
            return out
        if (
            not isinstance(x, Tensor) or x.dim() != 2 or x.shape[0] != self.batch_size
            or x.shape[1] != self._input_size or x.dtype != self._dtype or x.device != self._device
        ):
            raise ValueError(
                f"Stream: expected x of shape ({self.batch_size}, {self._input_size}), {self._dtype} on "
                f"{self._device}, got " + (f"{tuple(x.shape)}, {x.dtype} on {x.device}" if isinstance(x, Tensor)
                                           else type(x).__name__)
            )
        op, cells = self._op, self._cells
        for k, weights in enumerate(self._weights):
            if len(cells[k]) == 2:
                cells[k] = op(x, cells[k], *weights)
                x = cells[k][0]
            else:
                x = op(x, cells[k][0], *weights)
                cells[k] = (x,)
        return x

    def __repr__(self) -> str:
        return f"Stream({type(self.layer).__name__}, batch_size={self.batch_size}, fast={self._weights is not None})"


def stack_states(states: Sequence[Any], dim: int = 1) -> Any:
    """Several streams' states, each in a layer's state form (a tensor, or a tuple such as
    ``(h, c)``, each leaf ``(L, B_i, H)``), joined into one batch along ``dim``: what lets one
    forward pass advance many independent streams (a server's sessions)."""
    if not states:
        raise ValueError("stack_states: expected at least one state")
    return tree_map(lambda *leaves: torch.cat(leaves, dim), states[0], *states[1:])


def unstack_state(state: Any, dim: int = 1) -> list[Any]:
    """The inverse of :func:`stack_states` for streams of batch 1: one state per batch row."""
    leaves, _ = tree_flatten(state)
    if not leaves:
        raise ValueError("unstack_state: expected a state with at least one tensor")
    n = leaves[0].shape[dim]
    return [tree_map(lambda leaf, i=i: leaf.narrow(dim, i, 1).clone(), state) for i in range(n)]  # own storage each
