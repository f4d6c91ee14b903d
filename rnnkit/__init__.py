"""rnnkit: recurrent neural networks on PyTorch.

    import rnnkit as rk
    lstm = rk.LSTM(input_size=8, hidden_size=32, batch_first=True)
    output, (h_n, c_n) = lstm(x, lengths=lengths)

The layers are here; the rest is one attribute away and imported on first use:
``rk.functional``, ``rk.cells``, ``rk.layers``, ``rk.models``, ``rk.training`` (the loop,
optimizers, checkpoints), ``rk.data``, ``rk.config``, ``rk.tasks`` (the applications), and
``rk.fit_task`` (train an application on your data, with its baselines and data report).
``rk.quantize_dynamic(model)``: int8 weights for the rk LSTM/GRU layers and linear layers;
``rk.export_onnx(layer, path, streaming=...)``: a layer as ONNX, the whole sequence or one step;
``rk.export_run(run_dir, format=..., streaming=...)``: a trained run's model as ONNX or a
``torch.export`` program (``rnnkit export``); ``rnnkit.serve``: a trained run behind an HTTP server.
"""

import importlib
from typing import Any

from rnnkit import functional
from rnnkit.cells import ConvGRUCell, ConvLSTMCell, ExpRNNCell, GRUCell, Init, LSTMCell, MinGRUCell, MinLSTMCell, RNNCell
from rnnkit.layers import GRU, ConvGRU, ConvLSTM, ExpRNN, LSTM, RNN, EmbeddingDropout, LockedDropout, MinGRU, MinLSTM, Recurrent, Stream
from rnnkit.layers.export import export_onnx
from rnnkit.layers.quantized import quantize_dynamic

__version__ = "0.1.0"

_SUBPACKAGES = ("cells", "config", "data", "functional", "layers", "models", "serve", "tasks", "training")


def __getattr__(name: str) -> Any:
    """``rk.training`` and the other subpackages, imported when first used (PEP 562)."""
    if name in _SUBPACKAGES:
        return importlib.import_module(f"rnnkit.{name}")
    if name == "fit_task":  # train a task and report it with its baselines (rnnkit.tasks.core.api)
        return importlib.import_module("rnnkit.tasks.core.api").fit_task
    if name == "export_run":  # a trained run's model as ONNX or an ExportedProgram (rnnkit.tasks.core.export)
        return importlib.import_module("rnnkit.tasks.core.export").export_run
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")

__all__ = [
    "ConvGRU",
    "ConvGRUCell",
    "ConvLSTM",
    "ConvLSTMCell",
    "ExpRNN",
    "ExpRNNCell",
    "GRU",
    "EmbeddingDropout",
    "GRUCell",
    "Init",
    "LSTM",
    "LSTMCell",
    "LockedDropout",
    "MinGRU",
    "MinGRUCell",
    "MinLSTM",
    "MinLSTMCell",
    "RNN",
    "RNNCell",
    "Recurrent",
    "Stream",
    "__version__",
    "export_onnx",
    "functional",
    "quantize_dynamic",
]
