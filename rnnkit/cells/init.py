"""Initialization schemes, applied per gate block.

A recurrent weight matrix stacks one block per gate (``(G*H, I)`` for ``weight_ih``,
``(G*H, H)`` for ``weight_hh``). Schemes that depend on a matrix's shape (Xavier/Glorot,
orthogonal, identity) are applied to each ``H``-row block on its own, so every gate gets a
well-conditioned square-ish matrix rather than one slice of a tall one.

Presets (pass the name as ``init=`` to any cell or layer):

* ``"torch"`` (default): every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)), as torch.nn.
* ``"xavier"``: Keras's recipe. Xavier-uniform input weights, orthogonal recurrent weights,
  zero biases, LSTM forget-gate bias 1 (Jozefowicz et al. 2015).
* ``"irnn"``: identity recurrent weights, input weights ~ N(0, 0.001^2), zero biases
  (Le et al. 2015); meant for the ReLU Elman RNN.
* ``Init.chrono(T_max)``: chrono initialization (Tallec & Ollivier 2018) of the LSTM/GRU gate
  biases for dependencies up to ``T_max`` steps long, on top of the "xavier" weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import ClassVar

import torch
from torch import Tensor, nn

INPUT_SCHEMES = ("torch", "xavier_uniform", "xavier_normal", "normal")
RECURRENT_SCHEMES = ("torch", "orthogonal", "identity", "xavier_uniform", "xavier_normal")
BIAS_SCHEMES = ("torch", "zeros")


@dataclass(frozen=True)
class Init:
    """How to initialize one recurrent layer or cell.

    Attributes:
        input: scheme for ``weight_ih``, per gate block; one of :data:`INPUT_SCHEMES`.
        recurrent: scheme for ``weight_hh``, per gate block; one of :data:`RECURRENT_SCHEMES`.
        bias: ``"torch"`` (uniform) or ``"zeros"``.
        forget_bias: LSTM only: the forget-gate bias (put in ``bias_ih``; ``bias_hh`` 0 there).
            Cells without a forget gate and layers with ``bias=False`` ignore it, so the
            "xavier" preset fits every layer.
        chrono_max_length: if set, chrono initialization of the gate biases for this T_max.
        input_std: standard deviation for ``input="normal"``.
    """

    input: str = "torch"
    recurrent: str = "torch"
    bias: str = "torch"
    forget_bias: float | None = None
    chrono_max_length: int | None = None
    input_std: float = 0.001

    PRESETS: ClassVar[tuple[str, ...]] = ("torch", "xavier", "irnn")

    def __post_init__(self) -> None:
        for field, value, choices in (
            ("input", self.input, INPUT_SCHEMES),
            ("recurrent", self.recurrent, RECURRENT_SCHEMES),
            ("bias", self.bias, BIAS_SCHEMES),
        ):
            if value not in choices:
                raise ValueError(f"Init.{field}: expected one of {list(choices)}, got {value!r}")
        if self.chrono_max_length is not None and (
            isinstance(self.chrono_max_length, bool)
            or not isinstance(self.chrono_max_length, int)
            or self.chrono_max_length < 3
        ):
            raise ValueError(
                f"Init.chrono_max_length: expected an int >= 3 (the longest dependency in "
                f"steps), got {self.chrono_max_length!r}"
            )
        if self.input_std <= 0:
            raise ValueError(f"Init.input_std: expected a positive number, got {self.input_std!r}")

    @classmethod
    def preset(cls, name: str) -> Init:
        """The named preset: ``"torch"``, ``"xavier"`` or ``"irnn"``."""
        if name == "torch":
            return cls()
        if name == "xavier":
            return cls("xavier_uniform", "orthogonal", "zeros", forget_bias=1.0)
        if name == "irnn":
            return cls("normal", "identity", "zeros")
        raise ValueError(f"init: expected an Init or one of {list(cls.PRESETS)}, got {name!r}")

    @classmethod
    def chrono(cls, max_length: int) -> Init:
        """Chrono initialization (Tallec & Ollivier 2018) with Keras-style weights."""
        return replace(cls.preset("xavier"), forget_bias=None, chrono_max_length=max_length)


def resolve_init(init: str | Init) -> Init:
    """Accept a preset name or an :class:`Init`."""
    if isinstance(init, Init):
        return init
    if isinstance(init, str):
        return Init.preset(init)
    raise TypeError(f"init: expected an Init or one of {list(Init.PRESETS)}, got {init!r}")


def _per_block(weight: Tensor, block_rows: int, fill) -> None:
    for block in weight.split(block_rows, dim=0):
        fill(block)


def _fill_input(weight: Tensor, hidden_size: int, init: Init, bound: float) -> None:
    fills = {
        "torch": lambda w: nn.init.uniform_(w, -bound, bound),
        "xavier_uniform": nn.init.xavier_uniform_,
        "xavier_normal": nn.init.xavier_normal_,
        "normal": lambda w: nn.init.normal_(w, 0.0, init.input_std),
    }
    _per_block(weight, hidden_size, fills[init.input])


def _fill_recurrent(weight: Tensor, hidden_size: int, init: Init, bound: float) -> None:
    fills = {
        "torch": lambda w: nn.init.uniform_(w, -bound, bound),
        "orthogonal": nn.init.orthogonal_,
        "identity": nn.init.eye_,
        "xavier_uniform": nn.init.xavier_uniform_,
        "xavier_normal": nn.init.xavier_normal_,
    }
    _per_block(weight, hidden_size, fills[init.recurrent])


@torch.no_grad()
def initialize(
    weights: dict[str, Tensor],
    init: Init,
    hidden_size: int,
    forget_gate: int | None,
    chrono_gates: tuple[int, int | None] | None,
) -> None:
    """Initialize one cell's parameters in place.

    ``weights`` maps the cell's parameter names (``weight_ih``, ``weight_hh``, ``bias_ih``,
    ``bias_hh``, ``weight_hr``, ``weight_ch``, ``ln_*``) to tensors. ``forget_gate`` is the
    index of the LSTM forget-gate block; ``chrono_gates`` is ``(keep_gate, input_gate)``:
    the block whose bias sets the memory time scale (LSTM forget gate, GRU update gate) and
    the block that gets its negation (LSTM input gate; ``None`` for the GRU).
    """
    H = hidden_size
    bound = 1.0 / math.sqrt(H)
    uniform = lambda w: nn.init.uniform_(w, -bound, bound)  # noqa: E731
    for name, w in weights.items():
        if name == "weight_ih":
            _fill_input(w, H, init, bound)
        elif name == "weight_hh":
            _fill_recurrent(w, H, init, bound)
        elif name in ("bias_ih", "bias_hh"):
            uniform(w) if init.bias == "torch" else nn.init.zeros_(w)
        elif name == "weight_hr":  # projection (P, H)
            uniform(w) if init.input == "torch" else nn.init.xavier_uniform_(w)
        elif name == "weight_ch":  # peepholes
            uniform(w) if init.recurrent == "torch" else nn.init.zeros_(w)
        elif name.startswith("ln_"):  # layer-norm gains 1, shifts 0
            nn.init.ones_(w) if name.endswith("_weight") else nn.init.zeros_(w)
        else:
            raise KeyError(f"no initialization rule for parameter {name!r}")

    has_bias = "bias_ih" in weights
    if init.forget_bias is not None and forget_gate is not None and has_bias:
        _set_gate_bias(weights, forget_gate, H, torch.full((H,), float(init.forget_bias)))
    if init.chrono_max_length is not None:
        if chrono_gates is None:
            raise ValueError("Init.chrono_max_length: chrono initialization needs an LSTM or GRU")
        if not has_bias:
            raise ValueError("Init.chrono_max_length: expected a layer with bias=True, got bias=False")
        keep_gate, input_gate = chrono_gates
        # b_keep ~ log(U[1, T_max - 1]): the gate keeps its memory for about T_max steps.
        uniform_draw = torch.empty(H).uniform_(1.0, init.chrono_max_length - 1)
        keep_bias = torch.log(uniform_draw)
        _set_gate_bias(weights, keep_gate, H, keep_bias)
        if input_gate is not None:
            _set_gate_bias(weights, input_gate, H, -keep_bias)


def _set_gate_bias(weights: dict[str, Tensor], gate: int, H: int, value: Tensor) -> None:
    # The effective bias is bias_ih + bias_hh: put the value in bias_ih, zero in bias_hh.
    rows = slice(gate * H, (gate + 1) * H)
    weights["bias_ih"][rows] = value.to(weights["bias_ih"])
    weights["bias_hh"][rows] = 0.0
