"""``rk.ConvLSTM`` and ``rk.ConvGRU``: the time loop around the convolutional cells.

Shape legend: T time, B batch, I input channels, C hidden channels, H x W the frame, D
directions, L layers. Inputs are ``(T, B, I, H, W)``, or ``(B, T, I, H, W)`` with
``batch_first=True``. The state of every layer and direction is ``(B, C, H, W)``; the layer
takes and returns it stacked as torch.nn's layers do: ``(L*D, B, C, H, W)`` (the ConvLSTM a
pair ``(h, c)``).

What the other layers have, these have: stacking (layer ``k > 0`` reads ``D*C`` channels),
bidirectional, ``lengths`` (clips of different lengths in one batch: outputs past a length
are zero, the final state is the state at the last valid frame, padding is never read),
``step()`` streaming, ``initial_state()``, the init presets, and the recurrent regularizers
that make sense for feature maps:

* ``dropout``: between stacked layers.
* ``recurrent_dropout``: one mask per sequence and channel, ``(B, C, 1, 1)``, on ``H_{t-1}``
  where it enters ``W_h * H`` (variational dropout with whole feature maps dropped).
* ``zoneout``: per unit and step on ``h`` (and ``c``), its expectation at evaluation.

They run the readable loop (:func:`rnnkit.layers.loop.run_direction`); the convolutions
themselves are PyTorch's (oneDNN on CPU, cuDNN on GPU).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.cells.conv import ConvGRUSpec, ConvLSTMSpec, ConvSpec, Frame
from rnnkit.cells.init import Init, resolve_init
from rnnkit.functional import dropout_mask, mask_from_lengths, zoneout_keep
from rnnkit.layers.base import RecurrentLayer, SpecStack, time_major_with_lengths
from rnnkit.layers.checks import check_state
from rnnkit.layers.torch_layers import BoundCell, probability, zoneout_rates


class ConvRecurrentLayer(SpecStack, RecurrentLayer):
    """Base of :class:`ConvLSTM` and :class:`ConvGRU`: a stack of ``L x D`` convolutional cells,
    their parameters named as torch.nn's (``weight_ih_l0``, ``weight_hh_l1_reverse``, ...)."""

    _feature_dim = 2  # (T, B, C, H, W): the directions join along the channels

    def __init__(self, make_spec: Callable[[int], ConvSpec], input_channels: int, hidden_channels: int,
                 num_layers: int, bidirectional: bool, batch_first: bool, dropout: float, recurrent_dropout: float,
                 zoneout: Any, init: str | Init, check_finite: bool, device: torch.device | str | None,
                 dtype: torch.dtype | None) -> None:
        super().__init__(input_channels, num_layers, bidirectional, batch_first, dropout, check_finite)
        self.hidden_size = hidden_channels
        # layer k > 0 reads both directions' channels
        self.specs: list[ConvSpec] = [make_spec(input_channels if layer == 0 else hidden_channels * self.num_directions)
                                      for layer in range(num_layers)]
        self.recurrent_dropout = probability("recurrent_dropout", recurrent_dropout)
        self.zoneout = zoneout_rates(zoneout, isinstance(self.specs[0], ConvLSTMSpec))
        self.init = resolve_init(init)
        for layer, spec in enumerate(self.specs):
            for suffix in self._suffixes(layer):
                for name, shape in spec.parameter_shapes().items():
                    self.register_parameter(name + suffix, nn.Parameter(torch.empty(shape, device=device, dtype=dtype)))
        self.reset_parameters()

    @property
    def output_size(self) -> int:
        """Output channels: ``D * C``."""
        return self.hidden_size * self.num_directions

    def _param_like(self) -> Tensor:
        return self.weight_ih_l0

    def _runner(self, layer: int, direction: int, batch_size: int, like: Tensor, steps: int = 1) -> BoundCell:
        spec, C = self.specs[layer], self.hidden_size
        frame = tuple(like.shape[-2:])
        mask = None
        if self.recurrent_dropout > 0 and self.training:  # whole feature maps, one mask per sequence
            mask = dropout_mask((batch_size, C, 1, 1), self.recurrent_dropout, like)
        keep = None
        if any(self.zoneout):  # every unit and step, drawn before the pass
            keep = tuple(zoneout_keep((steps, batch_size, C, *frame), rate, self.training, like)
                         for rate in self.zoneout)
        return BoundCell(spec, self.cell_weights(layer, direction), mask, keep)

    def _cell_zero_state(self, layer: int, direction: int, batch_size: int, like: Tensor) -> Any:
        return self.specs[layer].zero_state(batch_size, like.device, like.dtype, tuple(like.shape[-2:]))

    # -- torch.nn's state format: (L*D, B, C, H, W) [, the same for c] --------------------------
    def _state_count(self) -> int:
        return 2 if isinstance(self.specs[0], ConvLSTMSpec) else 1

    def initial_state(self, batch_size: int, frame_size: Frame) -> Any:
        """Zeros in the form ``forward`` takes: ``(L*D, B, C, H, W)`` (ConvLSTM: ``(h_0, c_0)``)."""
        w = self._param_like()
        shape = (self.num_layers * self.num_directions, batch_size, self.hidden_size, *frame_size)
        zeros = [torch.zeros(shape, device=w.device, dtype=w.dtype) for _ in range(self._state_count())]
        return zeros[0] if len(zeros) == 1 else tuple(zeros)

    def _to_cell_states(self, hx: Any, batch_size: int, like: Tensor) -> list[Any]:
        shape = (self.num_layers * self.num_directions, batch_size, self.hidden_size, *like.shape[-2:])
        if self._state_count() == 1:
            return list(check_state("hx", hx, shape, like).unbind(0))
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"expected hx as a tuple (h_0, c_0), got {type(hx).__name__}")
        h, c = (check_state(f"hx[{i}]", t, shape, like).unbind(0) for i, t in enumerate(hx))
        return list(zip(h, c))

    def _from_cell_states(self, states: list[Any]) -> Any:
        if isinstance(states[0], Tensor):
            return torch.stack(states)
        return tuple(torch.stack(parts) for parts in zip(*states))

    # -- inputs --------------------------------------------------------------------------------
    def _check_frames(self, x: object, dims: int, layout: str) -> Tensor:
        like = self._param_like()
        if not isinstance(x, Tensor):
            raise TypeError(f"expected input to be a Tensor, got {type(x).__name__}")
        if x.dim() != dims or x.shape[-3] != self.input_size:
            raise ValueError(f"expected input of shape {layout} with {self.input_size} channels, got "
                             f"{tuple(x.shape)}")
        if not x.is_floating_point() or x.dtype != like.dtype:
            raise TypeError(f"expected input of dtype {like.dtype} (the layer's parameters), got {x.dtype}")
        if x.device != like.device:
            raise ValueError(f"expected input on {like.device} (the layer's parameters), got {x.device}")
        return x

    def forward(self, input: Tensor, hx: Any = None, lengths: Any = None) -> tuple[Tensor, Any]:
        """Run the stack over a batch of clips.

        Args:
            input: ``(T, B, I, H, W)`` (``(B, T, I, H, W)`` if ``batch_first``).
            hx: initial state, ``(L*D, B, C, H, W)`` (ConvLSTM: ``(h_0, c_0)``); ``None``: zeros.
            lengths: ``(B,)`` integers in ``[1, T]``, or ``None`` for full-length clips.

        Returns:
            ``(output, h_n)``: ``output`` is ``(T, B, D*C, H, W)`` (batch-first if the input was),
            zero past each length; ``h_n`` as ``hx``, the state at each clip's last valid frame.
        """
        layout = "(batch, time, channels, height, width)" if self.batch_first else \
            "(time, batch, channels, height, width)"
        x = self._check_frames(input, 5, layout)
        if self.batch_first:
            x = x.transpose(0, 1)
        x, lengths = time_major_with_lengths(x, lengths)
        if self.check_finite:
            valid = None if lengths is None else mask_from_lengths(lengths, x.shape[0], x.device)
            bad = ~torch.isfinite(x).flatten(2).all(-1)  # (T, B)
            if bool((bad if valid is None else bad & valid).any()):
                t, b = (int(v) for v in (bad if valid is None else bad & valid).nonzero()[0])
                raise ValueError(f"expected finite input, got a NaN or infinity in frame {t} of clip {b}")
        output, h_n = self._forward_time_major(x, hx, lengths)
        return (output.transpose(0, 1) if self.batch_first else output), h_n

    def _check_step_input(self, x: Tensor) -> Tensor:
        """One frame ``(B, I, H, W)`` for :meth:`RecurrentLayer.step` (which streams the stack by
        a frame: feeding a clip frame by frame equals ``forward`` on it, in eval mode)."""
        if self.bidirectional:
            raise ValueError("step() streams forward in time; a bidirectional layer needs the whole clip")
        return self._check_frames(x, 4, "(batch, channels, height, width)")

    def extra_repr(self) -> str:
        spec = self.specs[0]
        extras = [f"{self.input_size}, {self.hidden_size}, kernel_size={spec.kernel_size}",
                  f"num_layers={self.num_layers}"]
        extras += [f"{k}={v}" for k, v in (("bidirectional", self.bidirectional), ("dropout", self.dropout),
                                           ("recurrent_dropout", self.recurrent_dropout)) if v]
        if any(self.zoneout):
            extras.append(f"zoneout={self.zoneout}")
        return ", ".join(extras)


class ConvLSTM(ConvRecurrentLayer):
    """ConvLSTM layer (Shi et al. 2015): ``(T, B, I, H, W) -> (T, B, D*C, H, W), (h_n, c_n)``.

    Args:
        input_channels (I), hidden_channels (C), kernel_size (odd k), num_layers, bias,
        batch_first, dropout, bidirectional: as ``torch.nn.LSTM`` with channels for features.
        peephole: the paper's peepholes (default on); ``frame_size``: peephole weights over
            the whole state as the paper, else one per channel (any frame size).
        recurrent_dropout, zoneout: see the module docstring. init, check_finite, device, dtype.

    Example::

        layer = rk.ConvLSTM(1, 64, kernel_size=5, num_layers=2, batch_first=True)
        output, (h_n, c_n) = layer(clips, lengths=lengths)   # clips (B, T, 1, 64, 64)
    """

    def __init__(self, input_channels: int, hidden_channels: int, kernel_size: int = 3, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 peephole: bool = True, frame_size: Frame | None = None, recurrent_dropout: float = 0.0,
                 zoneout: Any = 0.0, init: str | Init = "torch", check_finite: bool = False,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        frame = None if frame_size is None else tuple(frame_size)
        super().__init__(lambda i: ConvLSTMSpec(i, hidden_channels, bias, kernel_size, peephole, frame),
                         input_channels, hidden_channels, num_layers, bidirectional, batch_first, dropout,
                         recurrent_dropout, zoneout, init, check_finite, device, dtype)


class ConvGRU(ConvRecurrentLayer):
    """ConvGRU layer (Ballas et al. 2016): ``(T, B, I, H, W) -> (T, B, D*C, H, W), h_n``.

    Arguments as :class:`ConvLSTM`, without the peepholes; ``zoneout`` is one rate.
    """

    def __init__(self, input_channels: int, hidden_channels: int, kernel_size: int = 3, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 recurrent_dropout: float = 0.0, zoneout: float = 0.0, init: str | Init = "torch",
                 check_finite: bool = False, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__(lambda i: ConvGRUSpec(i, hidden_channels, bias, kernel_size), input_channels,
                         hidden_channels, num_layers, bidirectional, batch_first, dropout, recurrent_dropout,
                         zoneout, init, check_finite, device, dtype)
