"""Layers: the time loop around cells, stacking, directions, lengths, and fused fast paths."""

from rnnkit.layers.base import RecurrentLayer
from rnnkit.layers.conv import ConvGRU, ConvLSTM
from rnnkit.layers.generic import Recurrent
from rnnkit.layers.minrnn import MinGRU, MinLSTM
from rnnkit.layers.orthogonal import ExpRNN
from rnnkit.layers.regularizers import EmbeddingDropout, LockedDropout, SpecAugment
from rnnkit.layers.streaming import Stream, stack_states, unstack_state
from rnnkit.layers.torch_layers import GRU, LSTM, RNN

__all__ = [
    "ConvGRU", "ConvLSTM", "ExpRNN", "GRU", "LSTM", "RNN", "MinGRU", "MinLSTM", "EmbeddingDropout", "LockedDropout", "Recurrent", "RecurrentLayer",
    "SpecAugment",
    "Stream", "stack_states", "unstack_state",
]
