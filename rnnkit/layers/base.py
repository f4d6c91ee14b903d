"""What every layer shares: input forms, lengths, stacking, directions, streaming.

Shape legend: T time, B batch, I input features, H hidden units, H_out = P (projection) or
H, D directions (1 or 2), L layers. Inputs are ``(T, B, I)``, or ``(B, T, I)`` with
``batch_first=True``, or ``(T, I)`` for one unbatched sequence, or a ``PackedSequence``.

Lengths are first-class: ``forward(input, hx, lengths=...)`` takes a 1-D integer tensor (any
device) or a list of ints. Then outputs past each sequence's length are zero, the final state
of every layer and direction is the state at that sequence's last valid step, the reverse
direction starts at each sequence's own last valid step, and the padding's values affect
nothing (they are never read).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.functional import mask_from_lengths, tree_map
from rnnkit.layers.checks import check_finite, check_input, check_lengths, check_time_major, tracing
from rnnkit.layers.loop import RunDirection, SteppedCell, run_direction


class RecurrentLayer(nn.Module):
    """Base of every layer: a stack of ``L x D`` cells and the time loop around them.

    Subclasses own the cells' parameters and say how to run them (:meth:`_cell`), what a
    user's initial state looks like (:meth:`_to_cell_states`, :meth:`_from_cell_states`),
    and may replace the loop with a fused kernel (:meth:`_forward_time_major`).
    """

    _state_batch_dim = 1  # hx is (L*D, B, H) as in torch.nn
    _feature_dim = -1  # where the directions' outputs join: (T, B, H) features (conv layers: channels)

    def __init__(
        self,
        input_size: int,
        num_layers: int,
        bidirectional: bool,
        batch_first: bool,
        dropout: float,
        check_finite: bool,
    ) -> None:
        super().__init__()
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers: expected an int >= 1, got {num_layers!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(f"dropout: expected a probability in [0, 1], got {dropout!r}")
        for flag, value in (("bidirectional", bidirectional), ("batch_first", batch_first), ("check_finite", check_finite)):
            if not isinstance(value, bool):
                raise ValueError(f"{flag}: expected True or False, got {value!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"dropout={dropout} acts between stacked layers and num_layers=1: it has no effect",
                stacklevel=3,
            )
        self.input_size = input_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.check_finite = check_finite

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    # -- what subclasses provide ---------------------------------------------------------
    def _runner(self, layer: int, direction: int, batch_size: int, like: Tensor, steps: int = 1) -> SteppedCell:
        """The cell of one (layer, direction) for a pass of ``steps`` steps (regularizer masks drawn)."""
        raise NotImplementedError

    def _cell_zero_state(self, layer: int, direction: int, batch_size: int, like: Tensor) -> Any:
        raise NotImplementedError

    def _to_cell_states(self, hx: Any, batch_size: int, like: Tensor) -> list[Any]:
        """A user's initial state (validated) -> one state per (layer, direction)."""
        raise NotImplementedError

    def _from_cell_states(self, states: list[Any]) -> Any:
        raise NotImplementedError

    def _param_like(self) -> Tensor:
        """A parameter whose dtype and device the input must share."""
        return next(self.parameters())

    # -- forward -------------------------------------------------------------------------
    def forward(self, input: Tensor | PackedSequence, hx: Any = None, lengths: Any = None) -> tuple[Any, Any]:
        """Run the stack over a batch of sequences.

        Args:
            input: ``(T, B, I)`` (``(B, T, I)`` if ``batch_first``), ``(T, I)``, or a
                ``PackedSequence``.
            hx: initial state (see the subclass); ``None`` means zeros.
            lengths: ``(B,)`` integers in ``[1, T]``, or ``None`` for full-length sequences.
                Not allowed with a ``PackedSequence``, which carries its own.

        Returns:
            ``(output, h_n)``: ``output`` is ``(T, B, D*H_out)`` (batch-first if the input was),
            zero past each length, or a ``PackedSequence`` if the input was one.
        """
        packed = isinstance(input, PackedSequence)
        if packed:
            if lengths is not None:
                raise ValueError("expected lengths=None with a PackedSequence input, which carries its own lengths")
            packed_input = input
            x, lengths = pad_packed_sequence(packed_input)  # (T, B, I), original batch order
            check_input(x, self.input_size, self._param_like(), batch_first=False)
            unbatched = False
        else:
            x = check_input(input, self.input_size, self._param_like(), self.batch_first)
            unbatched = x.dim() == 2
            if unbatched:
                if lengths is not None:
                    raise ValueError("expected lengths=None for an unbatched (2-dim) input; add a batch dim to use lengths")
                x = x.unsqueeze(1)
            elif self.batch_first:
                x = x.transpose(0, 1)
        x, lengths = time_major_with_lengths(x, lengths)
        T, B = x.shape[0], x.shape[1]
        if self.check_finite:
            check_finite(x, None if lengths is None else mask_from_lengths(lengths, T, x.device))
        if unbatched and hx is not None:
            hx = tree_map(lambda t: _check_leaf(t).unsqueeze(self._state_batch_dim), hx)

        output, h_n = self._forward_time_major(x, hx, lengths)

        if packed:
            lengths_all = lengths if lengths is not None else torch.full((B,), T, dtype=torch.int64)
            sorted_output = pack_padded_sequence(
                output.index_select(1, _sorted_indices(packed_input, output.device)),
                lengths_all[_sorted_indices(packed_input, torch.device("cpu"))],
                enforce_sorted=True,
            )
            output = PackedSequence(
                sorted_output.data, sorted_output.batch_sizes,
                packed_input.sorted_indices, packed_input.unsorted_indices,
            )
        elif unbatched:
            output = output.squeeze(1)
            h_n = tree_map(lambda t: t.squeeze(self._state_batch_dim), h_n)
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, h_n

    def _forward_time_major(self, x: Tensor, hx: Any, lengths: Tensor | None) -> tuple[Tensor, Any]:
        """``x``: ``(T, B, I)`` -> ``(output (T, B, D*H_out), final state)`` by the loop."""
        states = self._initial_cell_states(hx, x)
        output, finals = self._run_loop(x, states, lengths)
        return output, self._from_cell_states(finals)

    def _initial_cell_states(self, hx: Any, x: Tensor) -> list[Any]:
        B = x.shape[1]
        if hx is None:
            return [
                self._cell_zero_state(layer, d, B, x)
                for layer in range(self.num_layers)
                for d in range(self.num_directions)
            ]
        return self._to_cell_states(hx, B, x)

    def _run_loop(
        self, x: Tensor, states: list[Any], lengths: Tensor | None, run: RunDirection = run_direction
    ) -> tuple[Tensor, list[Any]]:
        """Every layer and direction in turn, each by ``run`` (the readable loop unless a subclass
        passes a fused one with the same signature)."""
        T = x.shape[0]
        mask = None
        if lengths is not None:
            mask = mask_from_lengths(lengths, T, x.device)  # (T, B)
            x = x.masked_fill(~mask.view(*mask.shape, *([1] * (x.dim() - 2))), 0.0)  # padding is never read, even if NaN
        finals: list[Any] = []
        for layer in range(self.num_layers):
            outputs = []
            for d in range(self.num_directions):
                cell = self._runner(layer, d, x.shape[1], x, steps=T)
                out, state = run(cell, x, states[layer * self.num_directions + d], lengths, mask, reverse=d == 1)
                outputs.append(out)
                finals.append(state)
            x = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=self._feature_dim)  # (T, B, D*H_out)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        return x, finals

    # -- streaming -----------------------------------------------------------------------
    def _check_step_input(self, x: Tensor) -> Tensor:
        """One step's input must be ``(B, I)`` with ``B >= 1``, on the layer's device and dtype."""
        if self.bidirectional:
            raise ValueError("step() streams forward in time; a bidirectional layer needs the whole sequence")
        x = check_input(x, self.input_size, self._param_like(), batch_first=False)
        if x.dim() != 2:
            raise ValueError(f"expected one step of shape (batch, {self.input_size}), got {tuple(x.shape)}")
        if x.shape[0] == 0:
            raise ValueError("expected a non-empty batch, got batch size 0")
        return x

    def step(self, x: Tensor, hx: Any = None) -> tuple[Tensor, Any]:
        """Advance the whole stack by one time step: ``x``: ``(B, I)`` -> ``(h_t (B, H_out), state)``.

        ``hx`` is in the same form ``forward`` takes and returns (``None`` = zeros), so
        feeding a sequence step by step equals ``forward`` on the whole sequence (in eval
        mode; dropout draws differ). Only unidirectional layers can stream.
        """
        x = self._check_step_input(x)
        states = self._initial_cell_states(hx, x.unsqueeze(0))
        finals = []
        for layer in range(self.num_layers):
            cell = self._runner(layer, 0, x.shape[0], x)
            x, state = cell.recur(cell.project_input(x), states[layer])
            finals.append(state)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        return x, self._from_cell_states(finals)


class SpecStack:
    """For layers that hold one :class:`~rnnkit.cells.base.CellSpec` per layer (``specs``), an
    ``init`` and the parameters of every (layer, direction) named as torch.nn's
    (``weight_ih_l0``, ``bias_hh_l1_reverse``, ...): finding and initializing them."""

    specs: list[Any]
    init: Any
    num_directions: int

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}", f"_l{layer}_reverse"][: self.num_directions]

    def cell_weights(self, layer: int, direction: int) -> dict[str, Tensor]:
        """The parameters of one (layer, direction), under the cell's names (``weight_ih``, ...)."""
        suffix = self._suffixes(layer)[direction]
        return {name: getattr(self, name + suffix) for name in self.specs[layer].parameter_shapes()}

    def reset_parameters(self) -> None:
        for layer, spec in enumerate(self.specs):
            for direction in range(self.num_directions):
                spec.initialize(self.cell_weights(layer, direction), self.init)


def _sorted_indices(packed: PackedSequence, device: torch.device) -> Tensor:
    if packed.sorted_indices is None:
        return torch.arange(packed.batch_sizes[0], device=device)
    return packed.sorted_indices.to(device)


def time_major_with_lengths(x: Tensor, lengths: Any) -> tuple[Tensor, Tensor | None]:
    """Check a time-major ``(T, B, I)`` input and its lengths; ``None`` when all are full length."""
    check_time_major(x)
    if lengths is None:
        return x, None
    lengths = check_lengths(lengths, x.shape[1], x.shape[0])
    if tracing():  # the values are not known while tracing: always mask (a full-length batch masks nothing)
        return x, lengths
    return x, (None if int(lengths.min()) == x.shape[0] else lengths)  # full length: nothing to mask


def _check_leaf(state: Any) -> Tensor:
    if not isinstance(state, Tensor):
        raise TypeError(f"expected the state as a Tensor or a tuple of Tensors, got {type(state).__name__}")
    return state
