"""What every cell is: a frozen spec (sizes and variant flags) plus its parameters.

The contract a layer relies on (any object with these three members can be run over time
by :class:`rnnkit.layers.Recurrent`)::

    cell.output_size                      # int, features of h_t
    cell.initial_state(batch_size)        # the zero state: a tensor or a tuple of tensors
    cell.step(x_t, state) -> (h_t, state) # x_t: (B, I) -> h_t: (B, output_size)

rnnkit's own cells also split ``step`` into ``project_input`` (the input's share of the
gates, computed for the whole sequence at once) and ``recur`` (the part that depends on the
previous state), so a layer can hoist the input projection out of the time loop.

A :class:`CellSpec` holds everything about a cell except its tensors. A cell module owns one
set of parameters for its spec; a layer owns one set per layer and direction, named as in
torch.nn (``weight_ih_l0``, ``weight_hh_l1_reverse``, ...), and hands them to the same spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from rnnkit.cells.init import Init, initialize, resolve_init
from rnnkit.functional import gate_projection

INPUT_SIDE = ("weight_ih", "bias_ih", "ln_ih_weight", "ln_ih_bias")

Weights = dict[str, Tensor]


def _check_size(name: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class CellSpec:
    """Sizes and flags of one cell; the equations live in :mod:`rnnkit.functional`.

    Subclasses set ``num_gates`` (G) and the gate indices that initialization needs, and
    implement :meth:`parameter_shapes` and :meth:`recur`.
    """

    input_size: int
    hidden_size: int
    bias: bool = True

    num_gates: ClassVar[int] = 1
    forget_gate: ClassVar[int | None] = None
    chrono_gates: ClassVar[tuple[int, int | None] | None] = None
    family: ClassVar[str] = ""

    def __post_init__(self) -> None:
        _check_size("input_size", self.input_size)
        _check_size("hidden_size", self.hidden_size)
        if not isinstance(self.bias, bool):
            raise ValueError(f"bias: expected True or False, got {self.bias!r}")

    @property
    def output_size(self) -> int:
        return self.hidden_size

    @property
    def fusable(self) -> bool:
        """Whether torch.nn's fused kernel computes exactly this cell."""
        return True

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """Parameter names and shapes, in torch.nn's order, then the variants' extras."""
        G, H = self.num_gates, self.hidden_size
        shapes: dict[str, tuple[int, ...]] = {
            "weight_ih": (G * H, self.input_size),
            "weight_hh": (G * H, self.output_size),
        }
        if self.bias:
            shapes["bias_ih"] = (G * H,)
            shapes["bias_hh"] = (G * H,)
        return shapes

    def initialize(self, weights: Weights, init: Init) -> None:
        initialize(weights, init, self.hidden_size, self.forget_gate, self.chrono_gates)

    def zero_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> Any:
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def project(self, x: Tensor, weights: Weights) -> Tensor:
        """``(*, I) -> (*, G*H)``: the input's contribution to the gates."""
        inputs = {k: weights[k] for k in INPUT_SIDE if k in weights}
        return gate_projection(x, **inputs, num_gates=self.num_gates)

    def recur(self, xg: Tensor, state: Any, weights: Weights, recurrent_mask: Tensor | None = None) -> tuple[Tensor, Any]:
        """``(B, G*H), state -> (h_t (B, output_size), state)``; ``recurrent_mask`` drops ``h_{t-1}``."""
        raise NotImplementedError

    @staticmethod
    def recurrent_weights(weights: Weights) -> Weights:
        return {k: v for k, v in weights.items() if k not in INPUT_SIDE}


class RecurrentCell(nn.Module):
    """A cell module: one :class:`CellSpec` and its parameters, stepped one time step at a time.

    The parameter names are torch.nn's cell names (``weight_ih``, ``weight_hh``,
    ``bias_ih``, ``bias_hh``), so a ``torch.nn.LSTMCell`` state_dict loads unchanged.
    """

    def __init__(
        self,
        spec: CellSpec,
        init: str | Init = "torch",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.init = resolve_init(init)
        for name, shape in spec.parameter_shapes().items():
            self.register_parameter(name, nn.Parameter(torch.empty(shape, device=device, dtype=dtype)))
        self.reset_parameters()

    @property
    def input_size(self) -> int:
        return self.spec.input_size

    @property
    def hidden_size(self) -> int:
        return self.spec.hidden_size

    @property
    def output_size(self) -> int:
        return self.spec.output_size

    def weights(self) -> Weights:
        return dict(self.named_parameters(recurse=False))

    def reset_parameters(self) -> None:
        self.spec.initialize(self.weights(), self.init)

    def initial_state(self, batch_size: int) -> Any:
        """The zero state for ``batch_size`` sequences, on the parameters' device and dtype."""
        w = self.weight_hh
        return self.spec.zero_state(batch_size, w.device, w.dtype)

    def project_input(self, x: Tensor) -> Tensor:
        """``(*, I) -> (*, G*H)``; see :meth:`CellSpec.project`."""
        return self.spec.project(x, self.weights())

    def recur(self, xg: Tensor, state: Any) -> tuple[Tensor, Any]:
        """``(B, G*H), state -> (h_t, state)``; see :meth:`CellSpec.recur`."""
        return self.spec.recur(xg, state, self.weights())

    def step(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """One time step: ``x``: ``(B, I)`` -> ``(h_t: (B, output_size), new state)``.

        ``state=None`` means the zero state.
        """
        if x.dim() != 2 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__}.step: expected x of shape (batch, {self.input_size}), "
                f"got {tuple(x.shape)}"
            )
        if state is None:
            state = self.initial_state(x.shape[0])
        return self.recur(self.project_input(x), state)

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        return self.step(x, state)

    def extra_repr(self) -> str:
        fields = ", ".join(f"{k}={v}" for k, v in vars(self.spec).items())
        return fields
