"""rk.quantize_dynamic: rk layers get torch's int8 kernel (the same numbers as torch's own
quantize_dynamic of the equivalent torch.nn module), with rk's interface; what torch has no int8
kernel for is refused by name, never left in float without a word."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit as rk
from rnnkit.layers.quantized import DynamicQuantized

pytestmark = [pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning"),
              pytest.mark.filterwarnings("ignore:torch.ao.quantization is deprecated:DeprecationWarning")]


def torch_quantized(module: nn.Module) -> nn.Module:
    return torch.ao.quantization.quantize_dynamic(nn.Sequential(module), {type(module)}, dtype=torch.qint8)[0]


@pytest.mark.parametrize("make", [lambda: rk.LSTM(6, 8, num_layers=2), lambda: rk.GRU(6, 8, bidirectional=True)])
def test_the_int8_layer_is_torchs_int8_kernel_with_lengths(make) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    layer = make().eval()
    quantized = rk.quantize_dynamic(layer)
    assert isinstance(quantized, DynamicQuantized) and layer.weight_ih_l0.dtype == torch.float32  # a copy
    reference = torch_quantized(layer.to_torch())
    x, lengths = torch.randn(7, 3, 6), torch.tensor([7, 4, 2])
    got, got_state = quantized(x, lengths=lengths)
    packed, state = reference(pack_padded_sequence(x, lengths, enforce_sorted=False))
    expected, _ = pad_packed_sequence(packed, total_length=7)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert got[4:, 1].abs().max() == 0 and got[2:, 2].abs().max() == 0  # zero past each length
    float_output, _ = layer(x, lengths=lengths)
    assert 0 < (got - float_output).abs().max() < 0.05  # int8 weights: close to float, not equal


def test_step_batch_first_and_linear_heads() -> None:
    torch.manual_seed(1)
    model = nn.Sequential()
    model.rnn = rk.LSTM(5, 8, batch_first=True)
    model.head = nn.Linear(8, 3)
    quantized = rk.quantize_dynamic(model)
    assert isinstance(quantized.rnn, DynamicQuantized)
    assert isinstance(quantized.head, torch.ao.nn.quantized.dynamic.Linear)
    assert isinstance(model.rnn, rk.LSTM)  # the original is untouched
    x = torch.randn(2, 6, 5)
    output, (h, _) = quantized.rnn(x)
    stepped, state = None, None
    for t in range(6):
        stepped, state = quantized.rnn.step(x[:, t], state)
    # activations are quantized per call, the input per step here and per sequence in forward:
    # the two agree to the quantization's precision, not to the bit
    torch.testing.assert_close(stepped, output[:, -1], rtol=0, atol=0.02)
    torch.testing.assert_close(h[0], output[:, -1])
    first, _ = quantized.rnn(x[:, :1])
    torch.testing.assert_close(quantized.rnn.step(x[:, 0])[0], first[:, 0], rtol=0, atol=0)


def test_what_torch_cannot_quantize_is_refused_by_name() -> None:
    model = nn.Sequential(rk.LSTM(3, 4, peephole=True), rk.GRU(3, 4, zoneout=0.1), rk.RNN(3, 4), rk.LSTM(3, 4),
                          rk.MinGRU(3, 4), rk.ConvLSTM(3, 4, 3))
    with pytest.raises(ValueError) as error:
        rk.quantize_dynamic(model)
    message = str(error.value)
    assert "0 (LSTM): torch's quantized LSTM computes no peephole" in message
    assert "1 (GRU): torch's quantized GRU computes no zoneout=(0.1,)" in message
    assert "2 (RNN): torch has no quantized Elman RNN layer" in message
    assert "3 (LSTM)" not in message
    assert "4 (MinGRU): MinGRU has no quantized kernel in torch" in message
    assert "5 (ConvLSTM): ConvLSTM has no quantized kernel in torch" in message
    with pytest.raises(ValueError, match="dtype: expected torch.qint8 or torch.float16, got torch.int8"):
        rk.quantize_dynamic(rk.LSTM(3, 4), dtype=torch.int8)


def test_a_quantized_model_has_no_parameters_and_still_says_where_it_runs() -> None:
    from rnnkit.training import model_device

    model = nn.Sequential()
    model.rnn, model.head = rk.GRU(3, 4), nn.Linear(4, 2)
    quantized = rk.quantize_dynamic(model)
    assert list(quantized.parameters()) == []  # every weight is packed int8: tasks must not ask a parameter
    assert model_device(quantized) == torch.device("cpu") and model_device(model) == torch.device("cpu")
    assert model_device(nn.Sequential()) == torch.device("cpu")
