"""Dynamic int8 quantization of models that hold rk layers (``rk.quantize_dynamic``).

torch's ``torch.ao.quantization.quantize_dynamic(model, {nn.LSTM})`` swaps modules by their
exact type, so it passes over ``rk.LSTM`` and leaves it in float without a word. Here each
``rk.LSTM`` / ``rk.GRU`` that torch.nn computes exactly becomes a :class:`DynamicQuantized`
layer: torch's dynamically quantized kernel (int8 weights, activations quantized per call)
behind rk's interface, ``lengths=``, ``PackedSequence``, ``batch_first``, unbatched input and
``step()`` included; then torch quantizes the ``nn.Linear`` layers (and any ``nn.LSTM`` /
``nn.GRU``) as it always does. A layer torch has no int8 kernel for (a variant, a per-step
regularizer, the Elman RNN, any layer on a GPU) is refused with its name and why: never a silent
float layer.

Shape legend: T time, B batch, I input features, H_out outputs per direction.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.layers.base import RecurrentLayer
from rnnkit.layers.minrnn import MinRNN
from rnnkit.layers.torch_layers import GRU, LSTM, RNN, TorchCompatibleLayer

QUANTIZED_DTYPES = (torch.qint8, torch.float16)


class DynamicQuantized(RecurrentLayer):
    """An ``rk.LSTM`` or ``rk.GRU`` run by torch's dynamically quantized kernel (CPU, float32
    inputs). ``forward(input, hx=None, lengths=None)`` as the layer it came from; ``step(x_t,
    hx)`` advances one step. Made by :func:`quantize_dynamic`."""

    def __init__(self, layer: TorchCompatibleLayer, dtype: torch.dtype = torch.qint8) -> None:
        super().__init__(layer.input_size, layer.num_layers, layer.bidirectional, layer.batch_first, layer.dropout,
                         layer.check_finite)
        module = layer.to_torch().cpu().float()
        module.batch_first = False  # rk's forward hands over time-major inputs
        holder = torch.ao.quantization.quantize_dynamic(nn.Sequential(module), {type(module)}, dtype=dtype)
        self.quantized = holder[0]
        self.hidden_size, self.proj_size, self.mode = layer.hidden_size, layer.proj_size, layer.mode
        self.register_buffer("_like", torch.empty(0), persistent=False)  # inputs must be float32 on CPU

    def _param_like(self) -> Tensor:
        return self._like

    def _forward_time_major(self, x: Tensor, hx: Any, lengths: Tensor | None) -> tuple[Tensor, Any]:
        if lengths is None:
            return self.quantized(x, hx)
        packed = pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        output, state = self.quantized(packed, hx)
        output, _ = pad_packed_sequence(output, total_length=x.shape[0])
        return output, state

    def step(self, x: Tensor, hx: Any = None) -> tuple[Tensor, Any]:
        """One step: ``x`` ``(B, I)`` -> ``(h_t (B, H_out), state)``, the state as ``forward``'s."""
        x = self._check_step_input(x)
        output, state = self.quantized(x.unsqueeze(0), hx)
        return output[0], state

    def extra_repr(self) -> str:
        return f"{self.mode}, {self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, int8 weights"


def quantizable(layer: nn.Module) -> str | None:
    """Why ``layer`` (an rk layer) cannot be dynamically quantized, or None if it can."""
    if isinstance(layer, RNN):
        return "torch has no quantized Elman RNN layer"
    if not isinstance(layer, (LSTM, GRU)):
        return f"{type(layer).__name__} has no quantized kernel in torch"
    if layer.weight_ih_l0.device.type != "cpu":
        return f"torch's quantized kernels run on CPU; this layer is on {layer.weight_ih_l0.device}"
    beyond = layer._beyond_torch()
    if beyond:
        return f"torch's quantized {layer.mode} computes no {', '.join(beyond)}"
    return None


def quantize_dynamic(model: nn.Module, dtype: torch.dtype = torch.qint8, linear: bool = True) -> nn.Module:
    """``model`` with int8 weights (``dtype=torch.float16`` for half-precision weights): each
    ``rk.LSTM`` / ``rk.GRU`` as a :class:`DynamicQuantized` layer and, with ``linear``, each
    ``nn.Linear`` (and any ``nn.LSTM`` / ``nn.GRU``) by torch's ``quantize_dynamic``. Returns a
    new model (``model`` is not changed), on CPU, in eval mode.

    Raises ``ValueError`` naming every rk layer that cannot be quantized and why (an Elman
    RNN, peepholes, layer norm, the reset-before GRU, recurrent dropout, zoneout, weight drop).
    """
    if dtype not in QUANTIZED_DTYPES:
        raise ValueError(f"dtype: expected torch.qint8 or torch.float16, got {dtype}")
    refused = [f"{name or 'the model'} ({type(m).__name__}): {why}" for name, m in model.named_modules()
               if isinstance(m, (RecurrentLayer, MinRNN)) and not isinstance(m, DynamicQuantized)
               and (why := quantizable(m)) is not None]
    if refused:
        raise ValueError("quantize_dynamic: these layers cannot be quantized; keep the model in float, or build "
                         "them without what is named:\n  " + "\n  ".join(refused))
    model = copy.deepcopy(model).cpu().float().eval()
    if isinstance(model, (LSTM, GRU)):
        model = DynamicQuantized(model, dtype)
    else:
        for parent in list(model.modules()):
            for child_name, child in list(parent.named_children()):
                if isinstance(child, (LSTM, GRU)):
                    setattr(parent, child_name, DynamicQuantized(child, dtype))
    if linear:
        model = torch.ao.quantization.quantize_dynamic(model, {nn.Linear, nn.LSTM, nn.GRU}, dtype=dtype)
    return model.eval()
