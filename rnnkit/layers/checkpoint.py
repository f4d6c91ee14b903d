"""Gradient checkpointing over time: train very long sequences within a memory budget.

With ``time_chunk=K`` a layer runs each (layer, direction) over the sequence in chunks of
``K`` steps under :func:`torch.utils.checkpoint.checkpoint`: the forward pass keeps only
each chunk's input, output and the state at its boundary, and the backward pass recomputes
one chunk's activations at a time. Memory for activations falls from ``O(T)`` to ``O(K)``
(plus the outputs, which the next layer needs anyway); the cost is one more forward pass.

Regularizer masks are drawn once per pass, before the chunks, so the recomputation sees the
same draws and the gradients equal the unchunked ones (the tests hold them equal).
:func:`time_chunk_for_budget` picks ``K`` from a memory budget.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from rnnkit.functional import reverse_padded
from rnnkit.layers.loop import RunDirection


def _run_window(run: RunDirection, cell: Any, start: int, stop: int, x: Tensor, state: Any,
                lengths: Tensor | None, mask: Tensor | None) -> tuple[Tensor, Any]:
    window = cell.window(start, stop) if hasattr(cell, "window") else cell  # a fresh per-pass cell each run
    return run(window, x, state, lengths, mask, reverse=False)


def chunked(run: RunDirection, chunk: int) -> RunDirection:
    """``run`` (the signature of :func:`~rnnkit.layers.loop.run_direction`) in checkpointed chunks of time."""

    def run_chunked(cell: Any, x: Tensor, state: Any, lengths: Tensor | None, mask: Tensor | None,
                    reverse: bool = False) -> tuple[Tensor, Any]:
        if reverse:
            x = reverse_padded(x, lengths)
        T = x.shape[0]
        outputs = []
        for start in range(0, T, chunk):
            stop = min(start + chunk, T)
            part_lengths = None if lengths is None else (lengths - start).clamp(0, stop - start)
            part_mask = None if mask is None else mask[start:stop]
            out, state = checkpoint(
                _run_window, run, cell, start, stop, x[start:stop], state, part_lengths, part_mask,
                use_reentrant=False,
            )
            outputs.append(out)
        output = torch.cat(outputs)
        if reverse:
            output = reverse_padded(output, lengths)
        return output, state

    return run_chunked


def activation_bytes_per_step(layer: Any, batch_size: int) -> tuple[int, int]:
    """Rough bytes per time step of an ``rk.RNN/LSTM/GRU``: (kept for the whole sequence, alive for one chunk).

    Kept: every layer's output and, in the backward pass, its gradient, and the input and its
    gradient. Per chunk step: the gate pre-activations, the saved activations, their gradients
    and the states of every (layer, direction), as the fused and loop paths keep them (an upper
    bound: the loop keeps less per step than this).
    """
    element = next(layer.parameters()).element_size()
    D, L = layer.num_directions, layer.num_layers
    spec = layer.specs[0]
    G, H, H_out = spec.num_gates, spec.hidden_size, spec.output_size
    kept = batch_size * 2 * (layer.input_size + L * D * H_out) * element
    per_chunk_step = batch_size * L * D * (4 * G * H + 4 * H) * element
    return kept, per_chunk_step


def time_chunk_for_budget(layer: Any, batch_size: int, steps: int, budget_bytes: int) -> int:
    """The longest chunk (in steps) whose estimated training memory fits ``budget_bytes``.

    ``steps`` is the sequence length T. Returns ``steps`` when no checkpointing is needed;
    raises ``ValueError`` when even a chunk of one step does not fit (the outputs alone, which
    every layer keeps, may exceed a small budget). The estimate is an upper bound for rnnkit's
    own paths; ``benchmarks/speed.py`` measures it against the real peak (its T = 10,000 table).
    """
    kept, per_step = activation_bytes_per_step(layer, batch_size)
    room = budget_bytes - kept * steps
    if room < per_step:
        need = kept * steps + per_step
        raise ValueError(
            f"memory budget {budget_bytes / 2**20:.1f} MiB: expected at least ~{need / 2**20:.1f} MiB for "
            f"T={steps}, B={batch_size} (the outputs alone need {kept * steps / 2**20:.1f} MiB)"
        )
    return int(min(steps, room // per_step))
