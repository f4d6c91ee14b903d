"""Video models. Frame predictors: the ConvLSTM encoder-forecaster (Shi et al. 2015) and the
FC-LSTM (Srivastava et al. 2015) it is compared with. Action recognizers: the LRCN (Donahue et
al. 2015), a ConvLSTM over time, and the two CNN baselines (see :class:`ActionModelConfig`).
Captioners: rnnkit's encoder-decoder with a frame CNN as its source embedding
(:func:`build_captioner`), and the slot-classifier baseline.

Shape legend: T_in frames read, K frames predicted, B batch, C channels, H x W frames, p the
patch size. ``forward(frames (T_in, B, C, H, W), future=K) -> logits (K, B, C, H, W)``: per
pixel logits (``sigmoid`` gives the frame; binary cross-entropy or MSE trains them).

Both read the input clip with an encoder stack and hand its final states to a forecaster
stack of the same shape, which runs ``K`` steps without input (it is not conditioned on its
own outputs, as in both papers), so a rollout of any length (``future`` beyond the training
horizon) is the same call.

ConvLSTM: as Shi et al. (section 4.1), each ``H x W x C`` frame is first cut into
``p x p`` patches, a ``(C p^2, H / p, W / p)`` tensor (space-to-depth), so the recurrent
state is ``(hidden, H / p, W / p)``; the forecaster's states of every layer, joined along the
channels, go through a 1x1 convolution back to ``C p^2`` patch logits and then to pixels.
FC-LSTM: each frame flattened to ``C H W`` features, LSTM stacks of ``hidden_size`` units, and
a linear layer back to pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.layers.conv import ConvLSTM
from rnnkit.layers.torch_layers import LSTM
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.models.sequence import RecurrentConfig


@dataclass
class VideoPredictorConfig:
    kind: Literal["convlstm", "fclstm"] = "convlstm"
    hidden_channels: list[int] = field(default_factory=lambda: [64, 64])  # convlstm: per layer
    kernel_size: int = 5  # convlstm: the state-to-state and input-to-state kernels
    patch: int = 4  # convlstm: frames cut into patch x patch blocks (Shi et al. use 4 on 64x64)
    peephole: bool = True  # convlstm: the paper's peepholes (one weight per channel here)
    hidden_size: int = 1024  # fclstm: units per layer
    num_layers: int = 2  # fclstm: layers

    def __post_init__(self) -> None:
        if self.kind not in ("convlstm", "fclstm"):
            raise ValueError(f"model.kind: expected 'convlstm' or 'fclstm', got {self.kind!r}")
        if not self.hidden_channels or any(isinstance(c, bool) or not isinstance(c, int) or c < 1
                                           for c in self.hidden_channels):
            raise ValueError(f"model.hidden_channels: expected a list of positive ints, got {self.hidden_channels!r}")
        for name in ("kernel_size", "patch", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"model.{name}: expected a positive int, got {value!r}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"model.kernel_size: expected an odd size, got {self.kernel_size}")


class ConvLSTMPredictor(nn.Module):
    """Shi et al.'s encoding-forecasting ConvLSTM network over ``p x p`` patches."""

    def __init__(self, channels: int, config: VideoPredictorConfig) -> None:
        super().__init__()
        p, k = config.patch, config.kernel_size
        self.channels, self.patch = channels, p

        def stack(first: int) -> nn.ModuleList:
            sizes = [first, *config.hidden_channels]
            return nn.ModuleList(ConvLSTM(sizes[i], sizes[i + 1], k, peephole=config.peephole)
                                 for i in range(len(config.hidden_channels)))

        self.encoder = stack(channels * p * p)
        self.forecaster = stack(channels * p * p)  # fed zeros: its input weights see no input
        self.output = nn.Conv2d(sum(config.hidden_channels), channels * p * p, 1)

    def _check(self, frames: Tensor, future: int) -> None:
        if frames.dim() != 5 or frames.shape[2] != self.channels:
            raise ValueError(f"expected frames (time, batch, {self.channels}, height, width), got {tuple(frames.shape)}")
        if frames.shape[-1] % self.patch or frames.shape[-2] % self.patch:
            raise ValueError(f"expected a height and width divisible by model.patch={self.patch}, got "
                             f"{tuple(frames.shape[-2:])}")
        if future < 1:
            raise ValueError(f"future: expected a positive number of frames, got {future}")

    def forward(self, frames: Tensor, future: int) -> Tensor:
        """``frames (T_in, B, C, H, W)`` -> logits ``(future, B, C, H, W)``."""
        self._check(frames, future)
        T, B, C, H, W = frames.shape
        p = self.patch
        x = F.pixel_unshuffle(frames.reshape(T * B, C, H, W), p).view(T, B, C * p * p, H // p, W // p)
        states = []
        for layer in self.encoder:
            x, state = layer(x)  # (T, B, hidden, H/p, W/p)
            states.append(state)
        x = x.new_zeros(future, B, C * p * p, H // p, W // p)  # the forecaster reads no input
        outputs = []
        for layer, state in zip(self.forecaster, states):
            x, _ = layer(x, state)
            outputs.append(x)
        joined = torch.cat(outputs, dim=2).flatten(0, 1)  # (K*B, sum hidden, H/p, W/p)
        logits = F.pixel_shuffle(self.output(joined), p)  # (K*B, C, H, W)
        return logits.view(future, B, C, H, W)


class FCLSTMPredictor(nn.Module):
    """Srivastava et al.'s future predictor: LSTMs over flattened frames."""

    def __init__(self, channels: int, frame_size: tuple[int, int], config: VideoPredictorConfig) -> None:
        super().__init__()
        self.channels, self.frame_size = channels, tuple(frame_size)
        pixels = channels * frame_size[0] * frame_size[1]
        self.encoder = LSTM(pixels, config.hidden_size, config.num_layers)
        self.forecaster = LSTM(1, config.hidden_size, config.num_layers)  # fed zeros
        self.output = nn.Linear(config.hidden_size, pixels)

    def forward(self, frames: Tensor, future: int) -> Tensor:
        """``frames (T_in, B, C, H, W)`` -> logits ``(future, B, C, H, W)``."""
        if frames.dim() != 5 or tuple(frames.shape[2:]) != (self.channels, *self.frame_size):
            raise ValueError(f"expected frames (time, batch, {self.channels}, {self.frame_size[0]}, "
                             f"{self.frame_size[1]}), got {tuple(frames.shape)}")
        if future < 1:
            raise ValueError(f"future: expected a positive number of frames, got {future}")
        T, B = frames.shape[:2]
        _, state = self.encoder(frames.reshape(T, B, -1))
        hidden, _ = self.forecaster(frames.new_zeros(future, B, 1), state)  # (K, B, hidden)
        return self.output(hidden).view(future, B, self.channels, *self.frame_size)


def build_predictor(channels: int, frame_size: tuple[int, int], config: VideoPredictorConfig) -> nn.Module:
    if config.kind == "convlstm":
        return ConvLSTMPredictor(channels, config)
    return FCLSTMPredictor(channels, frame_size, config)


# -- action recognition -----------------------------------------------------------------------------


@dataclass
class ActionModelConfig:
    """``lrcn`` (Donahue et al. 2015): a small CNN per frame, then ``classifier`` (the recurrent
    stack, pooling over valid frames, the head) over the frame features; ``convlstm``: a ConvLSTM
    stack over ``patch x patch`` patches, its state at the last valid frame averaged over space.
    ``frame``: baselines that see no recurrence: ``single`` (the middle frame's CNN features) or
    ``difference`` (the CNN over frame differences, averaged over time)."""

    kind: Literal["lrcn", "convlstm", "single", "difference"] = "lrcn"
    cnn_channels: list[int] = field(default_factory=lambda: [16, 32, 64])  # stride-2 3x3 blocks
    hidden_size: int = 64  # lrcn: the recurrent stack's units; convlstm: its channels
    cell: Literal["lstm", "gru"] = "lstm"
    kernel_size: int = 3  # convlstm
    patch: int = 4  # convlstm
    pooling: Literal["last", "mean", "max", "attention"] = "mean"  # lrcn: over valid frames

    def __post_init__(self) -> None:
        if self.kind not in ("lrcn", "convlstm", "single", "difference"):
            raise ValueError(f"model.kind: expected lrcn, convlstm, single or difference, got {self.kind!r}")
        if not self.cnn_channels or any(isinstance(c, bool) or not isinstance(c, int) or c < 1
                                        for c in self.cnn_channels):
            raise ValueError(f"model.cnn_channels: expected a list of positive ints, got {self.cnn_channels!r}")
        if self.kernel_size % 2 == 0 or self.kernel_size < 1 or self.patch < 1 or self.hidden_size < 1:
            raise ValueError(f"model.kernel_size (odd) / patch / hidden_size: expected positive ints, got "
                             f"{self.kernel_size}, {self.patch}, {self.hidden_size}")


class FrameCNN(nn.Module):
    """``(N, C, H, W) -> (N, F)``: stride-2 3x3 convolutions with ReLU, averaged down to a
    ``grid x grid`` map (any frame size) and flattened, ``F = widths[-1] * grid^2``.

    The grid keeps where things are: a mean over the whole frame would give a moving object the
    same features in every frame, and the recurrence after it nothing to see move.

    ``norm``: a group normalization (4 groups, or one per channel below 4) after each
    convolution, per frame, so a frame's features never depend on the others in the batch (nor on
    padding). ``global_max``: the last map's maximum over space too (``F += widths[-1]``): what
    is in the frame wherever it is, which a readout of the grid must otherwise learn at every
    place. ``L`` blocks see ``2^(L+1) - 1`` pixels: four see a 28-pixel digit whole."""

    def __init__(self, channels: int, widths: list[int], grid: int = 4, norm: bool = False,
                 global_max: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, width in enumerate(widths):
            layers.append(nn.Conv2d(channels if i == 0 else widths[i - 1], width, 3, stride=2, padding=1))
            if norm:
                layers.append(nn.GroupNorm(4 if width % 4 == 0 else width, width))
            layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers)
        self.grid, self.global_max = grid, global_max
        self.output_size = widths[-1] * (grid * grid + int(global_max))

    def forward(self, frames: Tensor) -> Tensor:
        maps = self.layers(frames)  # (N, widths[-1], h, w)
        features = F.adaptive_avg_pool2d(maps, self.grid).flatten(1)
        return torch.cat([features, maps.amax(dim=(-2, -1))], dim=1) if self.global_max else features


def _valid(lengths: Tensor, T: int) -> Tensor:
    return (torch.arange(T, device=lengths.device)[:, None] < lengths[None]).unsqueeze(-1)  # (T, B, 1)


class ActionRecognizer(nn.Module):
    """``(clips (T, B, C, H, W), lengths (B,)) -> logits (B, K)``; padded frames are never read."""

    def __init__(self, channels: int, num_classes: int, config: ActionModelConfig) -> None:
        super().__init__()
        self.config = config
        if config.kind == "convlstm":
            p = config.patch
            self.convlstm = ConvLSTM(channels * p * p, config.hidden_size, config.kernel_size)
            self.head = nn.Linear(config.hidden_size, num_classes)
            return
        self.cnn = FrameCNN(channels, config.cnn_channels)
        if config.kind == "lrcn":
            recurrent = RecurrentConfig(cell=config.cell, hidden_size=config.hidden_size)
            self.sequence = SequenceClassifier(self.cnn.output_size, num_classes,
                                               ClassifierConfig(recurrent=recurrent, pooling=config.pooling))
        else:
            self.head = nn.Linear(self.cnn.output_size, num_classes)

    def forward(self, clips: Tensor, lengths: Tensor | None = None) -> Tensor:
        T, B, C, H, W = clips.shape
        lengths = (torch.full((B,), T, dtype=torch.long) if lengths is None else lengths).to(clips.device)
        kind = self.config.kind
        if kind == "convlstm":
            p = self.config.patch
            x = F.pixel_unshuffle(clips.flatten(0, 1), p).view(T, B, C * p * p, H // p, W // p)
            _, (h, _) = self.convlstm(x, lengths=lengths)  # h (1, B, hidden, H/p, W/p): at the last valid frame
            return self.head(h[0].mean(dim=(-2, -1)))
        if kind == "single":  # the middle valid frame: no motion to see
            middle = clips[(lengths - 1) // 2, torch.arange(B, device=clips.device)]  # (B, C, H, W)
            return self.head(self.cnn(middle))
        if kind == "difference":  # how each frame differs from the one before, averaged over valid steps
            changes = (clips[1:] - clips[:-1]).abs() if T > 1 else torch.zeros_like(clips)
            features = self.cnn(changes.flatten(0, 1)).view(changes.shape[0], B, -1)
            valid = _valid((lengths - 1).clamp(min=1), changes.shape[0])
            return self.head((features * valid).sum(0) / valid.sum(0))
        features = self.cnn(clips.flatten(0, 1)).view(T, B, -1)  # (T, B, F)
        return self.sequence(features, lengths)


# -- captioning ---------------------------------------------------------------------------------------


class FrameEmbedding(nn.Module):
    """``(T, B, C, H, W) -> (T, B, E)``: :class:`FrameCNN` on every frame, then a linear layer: the
    source side of an encoder-decoder whose source is frames."""

    def __init__(self, channels: int, widths: list[int], embedding_size: int, norm: bool = False,
                 global_max: bool = False) -> None:
        super().__init__()
        self.cnn = FrameCNN(channels, widths, norm=norm, global_max=global_max)
        self.project = nn.Linear(self.cnn.output_size, embedding_size)

    def forward(self, clips: Tensor) -> Tensor:
        T, B = clips.shape[:2]
        return self.project(self.cnn(clips.flatten(0, 1))).view(T, B, -1)


@dataclass
class CaptionModelConfig:
    """The frame CNN (``cnn_channels``, ``cnn_norm``, ``cnn_global_max``: see :class:`FrameCNN`),
    then rnnkit's encoder-decoder with attention over the frames (``seq2seq``: the encoder LSTM
    over the frame embeddings, the decoder LSTM, their sizes)."""

    cnn_channels: list[int] = field(default_factory=lambda: [16, 32, 64, 64])  # four blocks see a digit whole
    cnn_norm: bool = True
    cnn_global_max: bool = True
    seq2seq: Seq2SeqConfig = field(default_factory=lambda: Seq2SeqConfig(
        RecurrentConfig(hidden_size=128, num_layers=1, bidirectional=True), embedding_size=64))

    def __post_init__(self) -> None:
        if not self.cnn_channels or any(isinstance(c, bool) or not isinstance(c, int) or c < 1
                                        for c in self.cnn_channels):
            raise ValueError(f"model.cnn_channels: expected a list of positive ints, got {self.cnn_channels!r}")
        if self.seq2seq.tie_embeddings or self.seq2seq.copy:
            raise ValueError("model.seq2seq.tie_embeddings / copy: the source is frames, not tokens; expected false")


def build_captioner(channels: int, vocabulary: int, config: CaptionModelConfig) -> Seq2Seq:
    """``(clips (T, B, C, H, W), lengths, caption inputs (L, B)) -> logits (L, B, V)``: a Seq2Seq
    whose source embedding is :class:`FrameEmbedding`, so its decoding (greedy, beam search)
    and attention are the translation task's, over time steps."""
    embedding = FrameEmbedding(channels, config.cnn_channels, config.seq2seq.embedding_size, config.cnn_norm,
                               config.cnn_global_max)
    return Seq2Seq(0, vocabulary, config.seq2seq, source_embedding=embedding)


class SlotClassifier(nn.Module):
    """The captioning baseline without a language model: the frame embeddings, an LSTM over
    them, its outputs averaged over valid frames, one softmax per slot.
    ``(clips (T, B, C, H, W), lengths) -> [logits (B, n_k) for each slot]``."""

    def __init__(self, channels: int, slots: list[int], config: CaptionModelConfig) -> None:
        super().__init__()
        self.embedding = FrameEmbedding(channels, config.cnn_channels, config.seq2seq.embedding_size, config.cnn_norm,
                                        config.cnn_global_max)
        hidden = config.seq2seq.recurrent.hidden_size
        self.lstm = LSTM(config.seq2seq.embedding_size, hidden)
        self.heads = nn.ModuleList(nn.Linear(hidden, n) for n in slots)

    def forward(self, clips: Tensor, lengths: Tensor) -> list[Tensor]:
        lengths = lengths.to(clips.device)
        output, _ = self.lstm(self.embedding(clips), lengths=lengths)  # (T, B, H), zero past each length
        pooled = output.sum(0) / lengths.unsqueeze(-1).to(output.dtype)
        return [head(pooled) for head in self.heads]
