"""rk layers beside torch.nn's: exact conversion both ways, and torch.nn's RNN attributes
(``mode``, ``all_weights``, ``_flat_weights``) for the tools that read them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnkit as rk

F64 = {"dtype": torch.float64}
CASES = [
    (nn.LSTM, rk.LSTM, {"num_layers": 2, "bidirectional": True, "proj_size": 3, "batch_first": True}),
    (nn.GRU, rk.GRU, {"num_layers": 2, "bias": False}),
    (nn.RNN, rk.RNN, {"nonlinearity": "relu", "bidirectional": True}),
]


@pytest.mark.parametrize("torch_class,rk_class,arguments", CASES)
def test_from_torch_and_back_are_exact(torch_class, rk_class, arguments) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    reference = torch_class(4, 5, **arguments, **F64)
    layer = rk_class.from_torch(reference)
    x = torch.randn(3, 6, 4, **F64) if arguments.get("batch_first") else torch.randn(6, 3, 4, **F64)
    expected, got = reference(x), layer(x)
    torch.testing.assert_close(got[0], expected[0], rtol=0, atol=1e-12)
    assert layer.mode == reference.mode and layer.proj_size == reference.proj_size
    assert layer._all_weights == reference._all_weights
    assert layer._flat_weights_names == reference._flat_weights_names
    assert all(a is getattr(layer, n) for a, n in zip(layer._flat_weights, layer._flat_weights_names))
    assert [[p.shape for p in ws] for ws in layer.all_weights] == [[p.shape for p in ws] for ws in reference.all_weights]
    back = layer.to_torch()
    assert type(back) is torch_class and back.weight_ih_l0.dtype == torch.float64
    torch.testing.assert_close(back(x)[0], expected[0], rtol=0, atol=0)


def test_from_torch_with_a_variant_keeps_the_weights_and_to_torch_refuses_it() -> None:
    torch.manual_seed(1)
    reference = nn.LSTM(4, 5)
    layer = rk.LSTM.from_torch(reference, peephole=True, zoneout=0.1)
    assert torch.equal(layer.weight_hh_l0, reference.weight_hh_l0) and layer.weight_ch_l0.shape == (15,)
    assert "weight_ch_l0" in layer._all_weights[0]
    with torch.no_grad():
        layer.weight_ch_l0.zero_()
    layer.eval()  # zoneout at evaluation blends with rate 0.1: not torch's LSTM
    x = torch.randn(6, 2, 4)
    assert not torch.allclose(layer(x)[0], reference(x)[0])
    with pytest.raises(ValueError, match=r"torch.nn.LSTM has no peephole, zoneout=\(0.1, 0.1\)"):
        layer.to_torch()
    with pytest.raises(ValueError, match="torch.nn.GRU has no reset_after=False"):
        rk.GRU(4, 5, reset_after=False).to_torch()


def test_from_torch_names_the_wrong_module() -> None:
    with pytest.raises(TypeError, match=r"LSTM.from_torch: expected a torch.nn.LSTM, got torch.nn.modules.rnn.GRU"):
        rk.LSTM.from_torch(nn.GRU(2, 3))
    assert not isinstance(rk.LSTM(2, 3), nn.LSTM)  # as the README says: not a subclass
