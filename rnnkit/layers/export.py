"""ONNX export of a recurrent layer: the whole sequence, or one streaming step with the state as
explicit inputs and outputs (``rk.export_onnx``).

Under ``torch.onnx.export`` a layer with ``impl="auto"`` runs torch's kernel where it computes the
layer (it becomes ONNX's own LSTM / GRU / RNN operator) and the readable loop otherwise, unrolled
over the example's length (see :mod:`rnnkit.layers.dispatch`). A sequence export keeps the batch
dynamic; for sequences of any length, export the step and stream: each call takes ``x_t (B, I)``
and the state, and returns ``h_t (B, H_out)`` and the new state, as :meth:`RecurrentLayer.step`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import Tensor, nn


class StreamingStep(nn.Module):
    """``(x_t (B, I), state) -> (h_t (B, H_out), *new state)``: one step of ``layer`` with its
    state as a tuple of tensors (``(h,)``, or ``(h, c)`` for the LSTM, each ``(L, B, H)``)."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        if getattr(layer, "bidirectional", False):
            raise ValueError("StreamingStep: a bidirectional layer needs the whole sequence; export it without "
                             "streaming")
        self.layer = layer

    def forward(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        h, new = self.layer.step(x, state if len(state) > 1 else state[0])
        return (h, *new) if isinstance(new, tuple) else (h, new)


def export_onnx(layer: nn.Module, path: str | Path, steps: int = 8, streaming: bool = False) -> Path:
    """Write ``layer`` (in eval mode) to ``path`` as ONNX, the batch dynamic. ``streaming``: one
    step (inputs ``x`` and the state leaves); else the whole sequence of ``steps`` time steps
    (time-major ``(T, B, I)``, or ``(B, T, I)`` with ``batch_first``). Needs the ``onnx`` extra."""
    from rnnkit.extras import require

    require("onnxscript", "ONNX export")
    was_training = layer.training
    layer.eval()
    batch = torch.export.Dim("batch")
    like = next(layer.parameters())
    size = layer.input_size
    try:
        if streaming:
            state = layer.initial_state(2)
            state = tuple(s.to(like) for s in (state if isinstance(state, tuple) else (state,)))
            module, example = StreamingStep(layer), (torch.zeros(2, size, dtype=like.dtype, device=like.device), state)
            dynamic = ({0: batch}, tuple({1: batch} for _ in state))
        else:
            shape = (2, steps, size) if layer.batch_first else (steps, 2, size)
            module, example = layer, (torch.zeros(shape, dtype=like.dtype, device=like.device),)
            dynamic = ({0 if layer.batch_first else 1: batch},)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, example, str(path), dynamo=True, dynamic_shapes=dynamic, verbose=False,
                              external_data=False)  # one file, the weights inside
    finally:
        layer.train(was_training)
    return Path(path)
