"""ONNX export of every layer variant (``torch.onnx.export``, the dynamo exporter), run in
onnxruntime and compared with PyTorch: the whole sequence with a dynamic batch, and one streaming
step with the state as explicit inputs and outputs, stepped over a sequence."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import Tensor, nn

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


def export(module: nn.Module, example: tuple, dynamic_shapes: tuple, path: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, path, dynamo=True, dynamic_shapes=dynamic_shapes, verbose=False)


@pytest.mark.parametrize("name", VARIANTS)
def test_the_whole_sequence_exports_with_a_dynamic_batch(name: str, tmp_path) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    layer = VARIANTS[name]().eval()
    path = str(tmp_path / "layer.onnx")
    export(layer, (torch.randn(T, 2, I),), ({1: torch.export.Dim("batch")},), path)
    x = torch.randn(T, 7, I)  # another batch size
    output = run_onnx(path, x)[0]
    assert (output - layer(x)[0]).abs().max() < 1e-5  # float32, onnxruntime against PyTorch


class Streaming(nn.Module):
    """One step with the state in and out as tensors: ``(x_t (B, I), state) -> (h_t, state)``."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        h, new = self.layer.step(x, state if len(state) > 1 else state[0])
        return (h, *new) if isinstance(new, tuple) else (h, new)


@pytest.mark.parametrize("name", [n for n in VARIANTS if "bidirectional" not in n])
def test_one_step_exports_and_streams_a_sequence_of_any_length(name: str, tmp_path) -> None:  # noqa: ANN001
    torch.manual_seed(1)
    layer = VARIANTS[name]().eval()
    state = layer.initial_state(2)
    state = state if isinstance(state, tuple) else (state,)
    batch = torch.export.Dim("batch")
    path = str(tmp_path / "step.onnx")
    export(Streaming(layer), (torch.randn(2, I), state), ({0: batch}, tuple({1: batch} for _ in state)), path)
    xs = torch.randn(11, 3, I)  # 11 steps at batch 3: neither was the export's
    leaves = [t.new_zeros(t.shape[0], 3, t.shape[2]) for t in state]
    outputs = []
    for x in xs:
        h, *leaves = run_onnx(path, x, *leaves)
        outputs.append(h)
    assert (torch.stack(outputs) - layer(xs)[0]).abs().max() < 1e-5
