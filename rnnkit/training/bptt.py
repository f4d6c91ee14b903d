"""Backpropagation through time over long streams, and where gradients go.

Full BPTT needs nothing special: a layer's forward over whole (padded, length-masked)
sequences, then ``loss.backward()``. Truncated BPTT trains on chunks of ``k`` steps of a
long stream, carrying the recurrent state from one chunk to the next but cutting the graph
between them (:func:`detach_state`), so memory and time per step stay bounded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor


def detach_state(state: Any) -> Any:
    """Keep a recurrent state's value, drop its history (the truncation in truncated BPTT).

    Without this, the next chunk's backward would run back through every chunk before it:
    the cost of a step would grow with the stream, and the graph would hold all activations.
    """
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    if isinstance(state, dict):
        return {k: detach_state(v) for k, v in state.items()}
    raise TypeError(f"detach_state: expected tensors, tuples, lists or dicts, got {type(state).__name__}")


def batchify(stream: Tensor, batch_size: int) -> Tensor:
    """Lay a stream out as ``batch_size`` contiguous columns, time-major: ``(N, *) -> (N // B, B, *)``.

    With the stream ``a b c d e f g h i j k l`` and ``batch_size=3``::

        a e i     each column is one contiguous third of the stream;
        b f j     row t holds step t of every column, so consecutive chunks of rows
        c g k     continue each column where the last chunk stopped, and the state
        d h l     carried between chunks belongs to the same piece of text.

    The ``N % B`` items at the end that do not fill a row are dropped.
    """
    if batch_size < 1 or stream.shape[0] < batch_size:
        raise ValueError(f"batchify: expected 1 <= batch_size <= stream length {stream.shape[0]}, got {batch_size}")
    rows = stream.shape[0] // batch_size
    columns = stream[: rows * batch_size].reshape(batch_size, rows, *stream.shape[1:])  # (B, N // B, *)
    return columns.transpose(0, 1).contiguous()  # (N // B, B, *)


@dataclass
class StreamBatch:
    """One chunk of a batchified stream: inputs ``x`` ``(k, B, *)``, next-step targets ``y``.

    ``reset`` is True on the first chunk of each pass over the stream: start from a zero state.
    """

    x: Tensor
    y: Tensor
    reset: bool

    def to(self, device: torch.device | str) -> StreamBatch:
        return StreamBatch(self.x.to(device), self.y.to(device), self.reset)


class StreamBatches:
    """Chunks of ``k`` steps over a batchified stream, pass after pass.

    With ``random_length=True`` each chunk's length is drawn as in AWD-LSTM (Merity et al.
    2017): ``k`` with probability 0.95 else ``k / 2``, then ~ N(that, 5), at least 5 steps.
    The position and the generator are the whole state, so a resumed run sees the same chunks.
    """

    def __init__(self, data: Tensor, bptt: int, random_length: bool = False, seed: int = 0) -> None:
        if data.shape[0] < 2:
            raise ValueError(f"StreamBatches: expected at least 2 rows of batchified data, got {data.shape[0]}")
        if bptt < 1:
            raise ValueError(f"bptt: expected a positive integer, got {bptt}")
        self.data = data
        self.bptt = bptt
        self.random_length = random_length
        self.position = 0
        self.generator = torch.Generator().manual_seed(seed)

    def chunk_length(self) -> int:
        if not self.random_length:
            return self.bptt
        base = self.bptt if torch.rand((), generator=self.generator).item() < 0.95 else self.bptt / 2
        return max(5, int(base + 5 * torch.randn((), generator=self.generator).item()))

    def next(self) -> StreamBatch:
        if self.position >= self.data.shape[0] - 1:
            self.position = 0
        start = self.position
        length = min(self.chunk_length(), self.data.shape[0] - 1 - start)
        self.position = start + length
        return StreamBatch(self.data[start : start + length], self.data[start + 1 : start + 1 + length], start == 0)

    def __len__(self) -> int:
        """Chunks in one pass at the nominal length."""
        return math.ceil((self.data.shape[0] - 1) / self.bptt)

    def state_dict(self) -> dict[str, Any]:
        return {"position": self.position, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.position = int(state["position"])
        self.generator.set_state(state["generator"])


class RandomBatches:
    """Batches drawn by ``make_batch(generator)``; the generator's state is the whole state."""

    def __init__(self, make_batch: Callable[[torch.Generator], Any], seed: int = 0) -> None:
        self.make_batch = make_batch
        self.generator = torch.Generator().manual_seed(seed)

    def next(self) -> Any:
        return self.make_batch(self.generator)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])


def gradient_flow(
    step: Callable[[Tensor, Any], tuple[Tensor, Any]],
    inputs: Tensor,
    loss_fn: Callable[[Tensor], Tensor],
    state: Any = None,
) -> Tensor:
    """How much the loss still feels each time step: ``||dLoss/dh_t||`` for every ``t``.

    Runs ``step(x_t, state) -> (h_t, state)`` (a cell's or a unidirectional layer's ``step``)
    over ``inputs`` ``(T, B, I)``, applies ``loss_fn`` to the stacked outputs ``(T, B, H)``,
    and differentiates with respect to each ``h_t`` as the recurrence uses it, so the
    gradient counts every path from ``h_t`` to the loss, through all later steps. Returns
    ``(T,)``: the norm over ``H``, averaged over the batch. A tanh RNN's curve typically falls
    by orders of magnitude from the last step back to the first; a gated cell's stays up.
    Does not touch any ``.grad``; put the model in eval mode first so dropout is off.
    """
    if inputs.dim() != 3:
        raise ValueError(f"gradient_flow: expected inputs of shape (T, B, I), got {tuple(inputs.shape)}")
    outputs = []
    inputs = inputs.detach().requires_grad_()  # so every h_t is in the graph, parameters or not
    with torch.enable_grad():
        for x_t in inputs.unbind(0):
            h, state = step(x_t, state)
            outputs.append(h)
        loss = loss_fn(torch.stack(outputs))
        grads = torch.autograd.grad(loss, outputs, allow_unused=True)
    norms = [torch.zeros(()) if g is None else g.detach().norm(dim=-1).mean().cpu() for g in grads]
    return torch.stack(norms)
