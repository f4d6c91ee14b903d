"""The cell variants every test runs over, and the comparison with torch.nn (tests and the parity benchmark).

:data:`VARIANTS` is the one list of cell variants: the property tests (``tests/layers``), the
float64 gradient checks and the numpy transcriptions (``tests/cells``), the error tests and
the parity tests all read it. A new variant is one entry here (and, if it computes something
new, a line in the numpy transcription of ``tests/cells/test_golden.py``, which fails until then).

On CUDA, cuDNN computes float32 RNNs in TF32 by default (``torch.backends.cudnn.allow_tf32``);
use :func:`exact_float32` around a float32 comparison so both sides compute in float32.

The reference is torch.nn itself: both modules get the same state_dict, the same input and
initial state, and the same random projection of their results as a loss; the comparison
covers outputs, final states and the gradients of the input, the initial states and every
weight. Variable lengths go through torch.nn's packed path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.cells.base import RecurrentCell
from rnnkit.layers import GRU, LSTM, RNN
from rnnkit.layers.torch_layers import TorchCompatibleLayer

FAMILIES: dict[str, tuple[type[RecurrentCell], type[TorchCompatibleLayer], type[nn.Module]]] = {
    "rnn": (RNNCell, RNN, nn.RNN),
    "lstm": (LSTMCell, LSTM, nn.LSTM),
    "gru": (GRUCell, GRU, nn.GRU),
}


@dataclass(frozen=True)
class Variant:
    """One configuration of a cell family: the keyword arguments its cell and its layer share."""

    family: str  # rnn | lstm | gru
    options: tuple[tuple[str, Any], ...] = ()
    torch_computes: bool = False  # torch.nn has the same computation (its module takes the same options)

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.options)

    def cell(self, input_size: int, hidden_size: int, **kwargs: Any) -> RecurrentCell:
        return FAMILIES[self.family][0](input_size, hidden_size, **self.kwargs, **kwargs)

    def layer(self, input_size: int, hidden_size: int, num_layers: int = 1, **kwargs: Any) -> TorchCompatibleLayer:
        return FAMILIES[self.family][1](input_size, hidden_size, num_layers, **self.kwargs, **kwargs)


VARIANTS: dict[str, Variant] = {
    "rnn_tanh": Variant("rnn", (("nonlinearity", "tanh"),), torch_computes=True),
    "rnn_relu": Variant("rnn", (("nonlinearity", "relu"),), torch_computes=True),
    "lstm": Variant("lstm", (), torch_computes=True),
    "lstm_proj": Variant("lstm", (("proj_size", 2),), torch_computes=True),
    "lstm_peephole": Variant("lstm", (("peephole", True),)),
    "lstm_layer_norm": Variant("lstm", (("layer_norm", True),)),
    "lstm_all": Variant("lstm", (("peephole", True), ("proj_size", 2), ("layer_norm", True))),
    "gru": Variant("gru", (), torch_computes=True),
    "gru_reset_before": Variant("gru", (("reset_after", False),)),
    "gru_layer_norm": Variant("gru", (("layer_norm", True),)),
    "gru_reset_before_layer_norm": Variant("gru", (("reset_after", False), ("layer_norm", True))),
}

# the variants torch.nn computes too: (torch.nn class, rnnkit class, keyword arguments)
MODES: dict[str, tuple[type[nn.Module], type[nn.Module], dict]] = {
    name: (FAMILIES[v.family][2], FAMILIES[v.family][1], v.kwargs) for name, v in VARIANTS.items() if v.torch_computes
}


@contextlib.contextmanager
def exact_float32() -> Iterator[None]:
    """Turn TF32 off in cuDNN and cuBLAS for the duration, then restore the settings."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@dataclass(frozen=True)
class ParityCase:
    """One configuration: a mode of :data:`MODES` and torch.nn's flags, plus ours."""

    mode: str
    bias: bool = True
    batch_first: bool = False
    bidirectional: bool = False
    num_layers: int = 1
    variable_lengths: bool = False
    impl: str = "auto"
    time_steps: int = 5
    batch_size: int = 4
    input_size: int = 3
    hidden_size: int = 4


def build_pair(case: ParityCase, device: str | torch.device, dtype: torch.dtype) -> tuple[nn.Module, nn.Module]:
    """A torch.nn module and the rnnkit layer carrying its exact state_dict."""
    torch_cls, rk_cls, extra = MODES[case.mode]
    flags = dict(bias=case.bias, batch_first=case.batch_first, bidirectional=case.bidirectional, **extra)
    ref = torch_cls(case.input_size, case.hidden_size, case.num_layers, **flags).to(device, dtype)
    ours = rk_cls(case.input_size, case.hidden_size, case.num_layers, impl=case.impl, device=device, dtype=dtype, **flags)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def case_lengths(case: ParityCase) -> Tensor | None:
    """Lengths that include a full-length sequence, a length of 1 and ones in between."""
    if not case.variable_lengths:
        return None
    T = case.time_steps
    pattern = [T, max(T // 2, 1), 1, max(T - 1, 1)]
    return torch.tensor([pattern[b % len(pattern)] for b in range(case.batch_size)])


def _flat(result) -> list[Tensor]:
    output, h_n = result
    return [output, *(h_n if isinstance(h_n, tuple) else (h_n,))]


def compare_with_torch(
    case: ParityCase, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float64
) -> dict[str, float]:
    """Max absolute differences, rnnkit vs torch.nn, of every result and gradient.

    Keys: ``output``, ``h_n``, ``c_n`` (LSTM), ``grad input``, ``grad h_0``, ``grad c_0``,
    and ``grad <parameter name>`` for every weight.
    """
    ref, ours = build_pair(case, device, dtype)
    T, B, I = case.time_steps, case.batch_size, case.input_size
    D = 2 if case.bidirectional else 1
    shape = (B, T, I) if case.batch_first else (T, B, I)
    x = torch.randn(shape, device=device, dtype=dtype, requires_grad=True)
    h_out = MODES[case.mode][2].get("proj_size", 0) or case.hidden_size
    h0 = torch.randn(case.num_layers * D, B, h_out, device=device, dtype=dtype, requires_grad=True)
    leaves = [x, h0]
    hx: Tensor | tuple[Tensor, Tensor] = h0
    if isinstance(ref, nn.LSTM):
        c0 = torch.randn(case.num_layers * D, B, case.hidden_size, device=device, dtype=dtype, requires_grad=True)
        leaves.append(c0)
        hx = (h0, c0)
    lengths = case_lengths(case)

    if lengths is None:
        expected = _flat(ref(x, hx))
    else:
        packed = pack_padded_sequence(x, lengths, batch_first=case.batch_first, enforce_sorted=False)
        out, h_n = ref(packed, hx)
        out, _ = pad_packed_sequence(out, batch_first=case.batch_first, total_length=T)
        expected = _flat((out, h_n))
    got = _flat(ours(x, hx, lengths=lengths))

    weights = [torch.randn_like(t) for t in expected]  # a random projection as the loss
    loss = lambda results: sum((r * w).sum() for r, w in zip(results, weights))  # noqa: E731
    expected_grads = torch.autograd.grad(loss(expected), leaves + list(ref.parameters()))
    got_grads = torch.autograd.grad(loss(got), leaves + list(ours.parameters()))

    names = ["output", "h_n", "c_n"][: len(expected)]
    names += ["grad input", "grad h_0", "grad c_0"][: len(leaves)]
    names += [f"grad {name}" for name, _ in ref.named_parameters()]
    pairs = list(zip(expected, got)) + list(zip(expected_grads, got_grads))
    return {name: (g - e).abs().max().item() for name, (e, g) in zip(names, pairs)}
