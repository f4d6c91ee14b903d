"""A recurrent sequence autoencoder (Malhotra et al. 2016, "LSTM-based encoder-decoder for
multi-sensor anomaly detection"): reconstruct a window from the encoder's final state.

Shape legend: W window, B batch, C channels, H hidden units.

The encoder reads ``x_1 .. x_W``; the decoder starts from its final state and, reading
nothing but a zero input, emits the window in reverse order ``x_W .. x_1`` (the most recent
values first, where the state remembers them best). Windows unlike those seen in training
reconstruct badly: their error is the anomaly score.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.models.sequence import RecurrentConfig, build_recurrent


class SequenceAutoencoder(nn.Module):
    """``(W, B, C) -> (W, B, C)`` reconstruction, in the input's time order."""

    def __init__(self, channels: int, config: RecurrentConfig) -> None:
        super().__init__()
        if config.bidirectional:
            raise ValueError("model.recurrent.bidirectional: the autoencoder's decoder continues the encoder's "
                             "state; expected false")
        self.encoder = build_recurrent(config, channels)
        self.decoder = build_recurrent(config, 1)
        self.head = nn.Linear(self.decoder.output_size, channels)

    def forward(self, x: Tensor) -> Tensor:
        _, state = self.encoder(x)
        blank = torch.zeros(x.shape[0], x.shape[1], 1, dtype=x.dtype, device=x.device)  # (W, B, 1)
        output, _ = self.decoder(blank, state)
        return self.head(output).flip(0)  # emitted newest first; flip back to time order
