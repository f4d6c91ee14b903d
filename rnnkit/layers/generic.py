"""``rk.Recurrent``: the time loop around any cell, including your own.

A cell is anything with ``output_size``, ``initial_state(batch_size)`` and
``step(x_t, state) -> (h_t, state)`` (see :mod:`rnnkit.cells.base`). rnnkit's cells also
offer ``project_input``/``recur``, which the loop uses to hoist the input projection.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn

from rnnkit.functional import tree_map
from rnnkit.layers.base import RecurrentLayer
from rnnkit.layers.loop import SteppedCell, StepOnly


class Recurrent(RecurrentLayer):
    """Stack, direction and lengths around cells that ``make_cell`` builds.

    ``make_cell(input_size)`` is called once per layer and direction (layer ``k > 0`` gets
    ``D * output_size`` inputs). ``forward(input, states=None, lengths=None)`` returns
    ``(output, states)``: ``output`` as for :class:`rk.LSTM`, ``states`` a list of
    ``L * D`` per-cell states (layer-major, forward direction first), each batch-first
    (``(B, ...)``) as the cell defines it.

    Example::

        layer = rk.Recurrent(lambda n: rk.LSTMCell(n, 64, layer_norm=True), input_size=32,
                             num_layers=2, bidirectional=True)
        output, states = layer(x, lengths=lengths)
    """

    _state_batch_dim = 0  # per-cell states are (B, ...)

    def __init__(
        self,
        make_cell: Callable[[int], nn.Module],
        input_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        batch_first: bool = False,
        dropout: float = 0.0,
        check_finite: bool = False,
    ) -> None:
        super().__init__(input_size, num_layers, bidirectional, batch_first, dropout, check_finite)
        cells = []
        layer_input = input_size
        for _ in range(num_layers):
            layer_cells = [make_cell(layer_input) for _ in range(self.num_directions)]
            for cell in layer_cells:
                for member in ("output_size", "initial_state", "step"):
                    if not hasattr(cell, member):
                        raise TypeError(f"expected a cell with {member!r} (see rnnkit.cells.base), got {type(cell).__name__}")
            cells.extend(layer_cells)
            layer_input = layer_cells[0].output_size * self.num_directions
        self.cells = nn.ModuleList(cells)

    @property
    def output_size(self) -> int:
        return self.cells[-1].output_size

    def _runner(self, layer: int, direction: int, batch_size: int, like: Tensor, steps: int = 1) -> SteppedCell:
        cell = self.cells[layer * self.num_directions + direction]
        if hasattr(cell, "project_input") and hasattr(cell, "recur"):
            return cell
        return StepOnly(cell)

    def _cell_zero_state(self, layer: int, direction: int, batch_size: int, like: Tensor) -> Any:
        return self.cells[layer * self.num_directions + direction].initial_state(batch_size)

    def initial_state(self, batch_size: int) -> list[Any]:
        return [cell.initial_state(batch_size) for cell in self.cells]

    def _to_cell_states(self, hx: Any, batch_size: int, like: Tensor) -> list[Any]:
        if not isinstance(hx, (list, tuple)) or len(hx) != len(self.cells):
            raise ValueError(f"expected states as a list of {len(self.cells)} per-cell states, got {type(hx).__name__}"
                             + (f" of length {len(hx)}" if isinstance(hx, (list, tuple)) else ""))
        for k, (state, cell) in enumerate(zip(hx, self.cells)):
            zero = cell.initial_state(batch_size)
            tree_map(lambda s, z, k=k: _same_shape(k, s, z), state, zero)
        return list(hx)

    def _from_cell_states(self, states: list[Any]) -> list[Any]:
        return states

    def _param_like(self) -> Tensor:
        for p in self.parameters():
            return p
        return torch.empty(0)


def _same_shape(index: int, state: Tensor, zero: Tensor) -> Tensor:
    if not isinstance(state, Tensor) or state.shape != zero.shape:
        got = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
        raise ValueError(f"expected states[{index}] of shape {tuple(zero.shape)}, got {got}")
    return state
