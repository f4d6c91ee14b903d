"""ONNX export of every layer variant (``torch.onnx.export``, the dynamo exporter), run in
onnxruntime and compared with PyTorch: the whole sequence with a dynamic batch, and one streaming
step with the state as explicit inputs and outputs, stepped over a sequence."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

import rnnkit as rk

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore")]

I, H, T = 3, 4, 5
VARIANTS = {
    "lstm, 2 layers, bidirectional": lambda: rk.LSTM(I, H, num_layers=2, bidirectional=True),
    "lstm, projection": lambda: rk.LSTM(I, H, proj_size=2),
    "lstm, peepholes": lambda: rk.LSTM(I, H, peephole=True),
    "lstm, layer norm, zoneout (evaluation)": lambda: rk.LSTM(I, H, layer_norm=True, zoneout=0.2),
    "gru": lambda: rk.GRU(I, H),
    "gru, reset before": lambda: rk.GRU(I, H, reset_after=False),
    "rnn, relu": lambda: rk.RNN(I, H, nonlinearity="relu"),
}


def run_onnx(path: str, *inputs: Tensor) -> list[Tensor]:
    session = ort.InferenceSession(path)
    feeds = {spec.name: value.numpy() for spec, value in zip(session.get_inputs(), inputs)}
    return [torch.from_numpy(out) for out in session.run(None, feeds)]


@pytest.mark.parametrize("name", VARIANTS)
def test_the_whole_sequence_exports_with_a_dynamic_batch(name: str, tmp_path) -> None:
    torch.manual_seed(0)
    layer = VARIANTS[name]().eval()
    path = str(rk.export_onnx(layer, tmp_path / "layer.onnx", steps=T))
    x = torch.randn(T, 7, I)  # another batch size
    output = run_onnx(path, x)[0]
    assert (output - layer(x)[0]).abs().max() < 1e-5  # float32, onnxruntime against PyTorch


@pytest.mark.parametrize("name", [n for n in VARIANTS if "bidirectional" not in n])
def test_one_step_exports_and_streams_a_sequence_of_any_length(name: str, tmp_path) -> None:
    torch.manual_seed(1)
    layer = VARIANTS[name]().eval()
    path = str(rk.export_onnx(layer, tmp_path / "step.onnx", streaming=True))
    xs = torch.randn(11, 3, I)  # 11 steps at batch 3: neither was the export's
    state = layer.initial_state(3)
    leaves = list(state) if isinstance(state, tuple) else [state]
    outputs = []
    for x in xs:
        h, *leaves = run_onnx(path, x, *leaves)
        outputs.append(h)
    assert (torch.stack(outputs) - layer(xs)[0]).abs().max() < 1e-5
