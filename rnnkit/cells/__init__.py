"""Recurrent cells: one time step each, ``step(x_t, state) -> (h_t, state)``."""

from rnnkit.cells.base import CellSpec, RecurrentCell
from rnnkit.cells.conv import ConvGRUCell, ConvGRUSpec, ConvLSTMCell, ConvLSTMSpec
from rnnkit.cells.gru import GRUCell, GRUSpec
from rnnkit.cells.init import Init
from rnnkit.cells.lstm import LSTMCell, LSTMSpec
from rnnkit.cells.minrnn import MinGRUCell, MinLSTMCell
from rnnkit.cells.orthogonal import ExpRNNCell
from rnnkit.cells.rnn import RNNCell, RNNSpec

__all__ = [
    "CellSpec",
    "ConvGRUCell",
    "ConvGRUSpec",
    "ConvLSTMCell",
    "ConvLSTMSpec",
    "ExpRNNCell",
    "GRUCell",
    "GRUSpec",
    "Init",
    "LSTMCell",
    "LSTMSpec",
    "MinGRUCell",
    "MinLSTMCell",
    "RNNCell",
    "RNNSpec",
    "RecurrentCell",
]
