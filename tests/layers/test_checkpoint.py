"""Gradient checkpointing over time (time_chunk): the same values and gradients, less memory kept."""

from __future__ import annotations

import pytest
import torch

import rnnkit as rk
from rnnkit.layers.checkpoint import time_chunk_for_budget

T, B, I, H = 11, 4, 3, 5
F64 = {"dtype": torch.float64}

LAYERS = {
    "lstm torch path": lambda **kw: rk.LSTM(I, H, 2, bidirectional=True, **kw, **F64),
    "lstm projection torch path": lambda **kw: rk.LSTM(I, H, proj_size=3, **kw, **F64),
    "gru kernel regularized": lambda **kw: rk.GRU(I, H, 2, recurrent_dropout=0.3, zoneout=0.2, weight_drop=0.2,
                                                 dropout=0.3, **kw, **F64),
    "lstm kernel zoneout bidirectional": lambda **kw: rk.LSTM(I, H, bidirectional=True, zoneout=(0.2, 0.3), **kw, **F64),
    "lstm layer norm loop": lambda **kw: rk.LSTM(I, H, layer_norm=True, recurrent_dropout=0.2, **kw, **F64),
    "rnn torch path": lambda **kw: rk.RNN(I, H, **kw, **F64),
}


@pytest.mark.parametrize("variable", [False, True])
@pytest.mark.parametrize("name", list(LAYERS))
def test_chunked_equals_unchunked(name: str, variable: bool, device: str) -> None:
    full, chunked = LAYERS[name]().to(device), LAYERS[name](time_chunk=3).to(device)
    chunked.load_state_dict(full.state_dict())
    x = torch.randn(T, B, I, **F64, device=device, requires_grad=True)
    lengths = torch.tensor([11, 4, 1, 7]) if variable else None
    results = []
    for layer in (full, chunked):
        torch.manual_seed(5)  # the same regularizer draws for both
        out, h_n = layer(x, lengths=lengths)
        finals = h_n if isinstance(h_n, tuple) else (h_n,)
        loss = (out * torch.linspace(-1, 1, out.shape[-1], **F64, device=device)).sum() + sum(f.pow(2).sum() for f in finals)
        results.append((out, finals, torch.autograd.grad(loss, [x, *layer.parameters()])))
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=1e-12)


def test_chunks_keep_less_for_backward() -> None:
    """Bytes of tensors saved for backward (the activations) fall with the chunk length."""

    def saved_bytes(layer: torch.nn.Module) -> int:
        total = 0

        def pack(t: torch.Tensor) -> torch.Tensor:
            nonlocal total
            total += t.numel() * t.element_size()
            return t

        x = torch.randn(200, 2, I)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            layer(x)[0].sum()
        return total

    full = rk.GRU(I, 64)
    chunked = rk.GRU(I, 64, time_chunk=20)
    assert saved_bytes(chunked) < saved_bytes(full) / 3


def test_time_chunk_for_budget() -> None:
    layer = rk.LSTM(32, 128)
    kept, per_step = 4 * 2 * (32 + 128) * 16, 4 * 16 * (4 * 4 * 128 + 4 * 128)
    assert time_chunk_for_budget(layer, 16, 10_000, kept * 10_000 + 50 * per_step) == 50
    assert time_chunk_for_budget(layer, 16, 100, 10**12) == 100
    with pytest.raises(ValueError, match="memory budget 1.0 MiB: expected at least"):
        time_chunk_for_budget(layer, 16, 10_000, 2**20)
    with pytest.raises(ValueError, match="time_chunk: expected an int >= 0"):
        rk.GRU(I, H, time_chunk=-1)
