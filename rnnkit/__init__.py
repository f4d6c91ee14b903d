"""rnnkit: recurrent neural networks on PyTorch.

    import rnnkit as rk
    lstm = rk.LSTM(input_size=8, hidden_size=32, batch_first=True)
    output, (h_n, c_n) = lstm(x, lengths=lengths)
"""

from rnnkit import functional
from rnnkit.cells import GRUCell, Init, LSTMCell, MinGRUCell, MinLSTMCell, RNNCell
from rnnkit.layers import GRU, LSTM, RNN, EmbeddingDropout, LockedDropout, MinGRU, MinLSTM, Recurrent, Stream

__version__ = "0.1.0"

__all__ = [
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
    "functional",
]
