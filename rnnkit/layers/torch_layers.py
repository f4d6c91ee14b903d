"""``rk.RNN``, ``rk.LSTM``, ``rk.GRU``: drop-in replacements for their torch.nn namesakes.

Same constructor arguments, same parameter names and layouts (``weight_ih_l{k}``,
``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``, ``weight_hr_l{k}``, with a
``_reverse`` suffix for the backward direction), same ``(output, h_n)`` results: a
``state_dict`` moves between ``torch.nn.LSTM`` and ``rk.LSTM`` unchanged, both ways. On top:
``lengths=``, streaming ``step``, the variants (peepholes, layer norm, the reset-before GRU)
and initialization schemes.

``impl`` picks how ``forward`` runs (:meth:`TorchCompatibleLayer.forward_path` says which):

* ``"torch"``: torch's fused kernel (oneDNN or native on CPU, cuDNN on GPU), for the
  configurations it computes exactly (no variant, no per-step regularizer).
* ``"rnnkit"``: rnnkit's own fused kernel with a hand-written backward through time
  (:mod:`rnnkit.functional.kernels`, CPU, float32/float64): the LSTM with peepholes,
  recurrent dropout and zoneout, the reset-after GRU and the Elman RNN.
* ``"loop"``: the readable time loop, for everything (the reference the others are tested against).
  All three paths work under torch.compile, torch.export, torch.func (grad, vmap, jacrev,
  functional_call) and double backward: rnnkit's kernel is a set of ``torch.library`` custom ops,
  and its backward under ``create_graph=True`` differentiates the readable loop on the saved inputs.
* ``"auto"`` (default): on CPU rnnkit's kernel for every configuration it covers except the
  plain LSTM (oneDNN is as fast or faster there), torch's kernel otherwise where it applies,
  else the loop; on GPU cuDNN where it applies, else the loop; under a torch.func transform not
  torch's kernel (its RNN ops have no vmap rule). Asking for a path that cannot run the
  configuration is an error.

Recurrent regularizers, one argument each (see :mod:`rnnkit.functional.regularizers`):

* ``dropout``: between stacked layers, torch.nn's meaning (fused path kept).
* ``weight_drop``: DropConnect on every ``weight_hh``, one draw per forward (fused path kept).
* ``recurrent_dropout``: one mask per sequence on ``h_{t-1}`` inside ``W_hh h`` (rnnkit's kernel).
* ``zoneout``: on ``h`` and, for the LSTM, ``c``; a float for both or ``(h_rate, c_rate)``
  (rnnkit's kernel); the masks for every step are drawn before the pass.

All of them work with ``lengths``, stacking and both directions, act only in training
mode, and use their expectation at eval (zoneout) or nothing (the dropouts).

``time_chunk=K`` trains long sequences in bounded memory: gradient checkpointing over chunks
of ``K`` steps (see :mod:`rnnkit.layers.checkpoint`, and ``time_chunk_for_budget`` to pick
``K`` from a budget); the gradients equal the unchunked ones.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.cells import GRUSpec, Init, LSTMSpec, RNNSpec
from rnnkit.cells.base import CellSpec, Weights
from rnnkit.cells.init import resolve_init
from rnnkit.functional import dropout_mask, weight_drop, zoneout_blend, zoneout_keep
from rnnkit.layers import dispatch
from rnnkit.layers.base import RecurrentLayer, SpecStack
from rnnkit.layers.checkpoint import chunked
from rnnkit.layers.checks import check_state
from rnnkit.layers.dispatch import PathChoice
from rnnkit.layers.fused import fused_forward, run_direction_torch
from rnnkit.layers.kernel import kernel_supports, run_direction_kernel
from rnnkit.layers.loop import run_direction

IMPLEMENTATIONS = ("auto", "torch", "rnnkit", "loop")


class BoundCell:
    """One (layer, direction) of a layer for one forward pass.

    Its spec, its slice of the layer's parameters (after weight drop), the recurrent-dropout
    mask drawn for this pass (``(B, H_out)``), and what zoneout keeps, per state leaf: a bool
    ``(T, B, H)`` mask for every step of the pass, or the rate at evaluation (see
    :func:`~rnnkit.functional.zoneout_keep`). ``recur`` is called once per step, in order.
    """

    __slots__ = ("spec", "weights", "recurrent_mask", "keep", "_step")

    def __init__(
        self,
        spec: CellSpec,
        weights: Weights,
        recurrent_mask: Tensor | None = None,
        keep: tuple[Tensor | float | None, ...] | None = None,
    ) -> None:
        self.spec = spec
        self.weights = weights
        self.recurrent_mask = recurrent_mask
        self.keep = keep
        self._step = 0

    def project_input(self, x: Tensor) -> Tensor:
        return self.spec.project(x, self.weights)

    def window(self, start: int, stop: int) -> BoundCell:
        """The same cell for steps ``start:stop`` of the pass (its zoneout masks sliced), from step 0."""
        keep = None if self.keep is None else tuple(
            k[start:stop] if isinstance(k, Tensor) else k for k in self.keep
        )
        return BoundCell(self.spec, self.weights, self.recurrent_mask, keep)

    def recur(self, xg: Tensor, state: Any) -> tuple[Tensor, Any]:
        h, new_state = self.spec.recur(xg, state, self.weights, self.recurrent_mask)
        if self.keep is None:
            return h, new_state
        t, self._step = self._step, self._step + 1
        if isinstance(new_state, tuple):
            new_state = tuple(
                new if keep is None else zoneout_blend(old, new, _at(keep, t))
                for old, new, keep in zip(state, new_state, self.keep)
            )
            return new_state[0], new_state  # the output is the zoned-out h
        new_state = zoneout_blend(state, new_state, _at(self.keep[0], t))
        return new_state, new_state


def _at(keep: Tensor | float, t: int) -> Tensor | float:
    """Step ``t`` of a ``(T, B, H)`` mask; a rate holds for every step."""
    return keep[t] if isinstance(keep, Tensor) else keep


class TorchCompatibleLayer(SpecStack, RecurrentLayer):
    """Shared body of :class:`RNN`, :class:`LSTM` and :class:`GRU`: one spec per layer."""

    proj_size = 0  # torch.nn's RNN and GRU have it too; the LSTM sets its own

    def __init__(
        self,
        specs: list[CellSpec],
        batch_first: bool,
        dropout: float,
        bidirectional: bool,
        init: str | Init,
        impl: str,
        check_finite: bool,
        device: torch.device | str | None,
        dtype: torch.dtype | None,
        recurrent_dropout: float = 0.0,
        zoneout: float | tuple[float, float] = 0.0,
        weight_drop: float = 0.0,
        time_chunk: int = 0,
    ) -> None:
        super().__init__(specs[0].input_size, len(specs), bidirectional, batch_first, dropout, check_finite)
        if isinstance(time_chunk, bool) or not isinstance(time_chunk, int) or time_chunk < 0:
            raise ValueError(f"time_chunk: expected an int >= 0 (0: no checkpointing), got {time_chunk!r}")
        self.time_chunk = time_chunk
        if impl not in IMPLEMENTATIONS:
            raise ValueError(f"impl: expected one of {list(IMPLEMENTATIONS)}, got {impl!r}")
        self.recurrent_dropout = probability("recurrent_dropout", recurrent_dropout)
        self.weight_drop = probability("weight_drop", weight_drop)
        self.zoneout = zoneout_rates(zoneout, isinstance(specs[0], LSTMSpec))
        self.specs = specs
        if impl == "torch" and not dispatch.torch_computes(self):
            raise ValueError(
                f"impl='torch': torch's kernel cannot compute this configuration ({specs[0]}, "
                f"recurrent_dropout={recurrent_dropout}, zoneout={zoneout}); use impl='auto', 'rnnkit' or 'loop'"
            )
        if impl == "rnnkit" and not kernel_supports(specs[0]):
            raise ValueError(
                f"impl='rnnkit': rnnkit's kernel does not compute this configuration ({specs[0]}); "
                "use impl='auto' or 'loop'"
            )
        self.hidden_size = specs[0].hidden_size
        self.bias = specs[0].bias
        self.impl = impl
        self.init = resolve_init(init)
        for layer, spec in enumerate(specs):
            for suffix in self._suffixes(layer):
                for name, shape in spec.parameter_shapes().items():
                    param = nn.Parameter(torch.empty(shape, device=device, dtype=dtype))
                    self.register_parameter(name + suffix, param)
        self.reset_parameters()
        self.flatten_parameters()

    def forward_path(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                     lengths: bool = False, chunked: bool = False, functorch: bool = False) -> PathChoice:
        """Which implementation ``forward`` runs for inputs on ``device``/``dtype`` (default: the
        parameters'): ``"torch"``, ``"rnnkit"`` or ``"loop"``, with ``.reason`` saying why; see
        :func:`rnnkit.layers.dispatch.forward_path` (``lengths``, ``chunked``, ``functorch``: that pass's)."""
        like = self.weight_ih_l0
        device = torch.device(device) if device is not None else like.device
        return dispatch.forward_path(self, device, dtype or like.dtype, lengths, chunked, functorch)

    def step_path(self) -> PathChoice:
        """Which implementation :meth:`step` (and :class:`~rnnkit.layers.streaming.Stream`) runs:
        ``"cell_op"`` or ``"loop"``, with ``.reason``."""
        return dispatch.step_path(self)

    @property
    def output_size(self) -> int:
        return self.specs[0].output_size

    def _param_like(self) -> Tensor:
        return self.weight_ih_l0

    def _forward_weights(self, layer: int, direction: int) -> Weights:
        """The weights of one (layer, direction) for this pass: ``weight_hh`` dropped if asked."""
        weights = self.cell_weights(layer, direction)
        if self.weight_drop > 0 and self.training:
            weights["weight_hh"] = weight_drop(weights["weight_hh"], self.weight_drop, True)
        return weights

    def _runner(self, layer: int, direction: int, batch_size: int, like: Tensor, steps: int = 1) -> BoundCell:
        spec = self.specs[layer]
        mask = None
        if self.recurrent_dropout > 0 and self.training:  # one mask per sequence for the whole pass
            mask = dropout_mask((batch_size, spec.output_size), self.recurrent_dropout, like)
        keep = None
        if any(self.zoneout):  # every step's draw, before the pass: the loop and the kernel read the same
            sizes = (spec.output_size, spec.hidden_size)
            keep = tuple(
                zoneout_keep((steps, batch_size, size), rate, self.training, like)
                for rate, size in zip(self.zoneout, sizes)
            )
        return BoundCell(spec, self._forward_weights(layer, direction), mask, keep)

    def _cell_zero_state(self, layer: int, direction: int, batch_size: int, like: Tensor) -> Any:
        return self.specs[layer].zero_state(batch_size, like.device, like.dtype)

    # -- torch.nn's state format: (L*D, B, H_out) [, (L*D, B, H)] ---------------------------
    def _state_shapes(self, batch_size: int) -> list[tuple[int, ...]]:
        LD = self.num_layers * self.num_directions
        return [(LD, batch_size, self.output_size)]

    def initial_state(self, batch_size: int) -> Any:
        """Zeros in the form ``forward`` takes: ``(L*D, B, H_out)`` (LSTM: ``(h_0, c_0)``)."""
        w = self.weight_ih_l0
        zeros = [torch.zeros(s, device=w.device, dtype=w.dtype) for s in self._state_shapes(batch_size)]
        return zeros[0] if len(zeros) == 1 else tuple(zeros)

    def _validate_hx(self, hx: Any, batch_size: int, like: Tensor) -> list[Tensor]:
        shapes = self._state_shapes(batch_size)
        if len(shapes) == 1:
            return [check_state("hx", hx, shapes[0], like)]
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"expected hx as a tuple (h_0, c_0), got {type(hx).__name__}")
        return [check_state(f"hx[{i}]", t, s, like) for i, (t, s) in enumerate(zip(hx, shapes))]

    def _to_cell_states(self, hx: Any, batch_size: int, like: Tensor) -> list[Any]:
        parts = [t.unbind(0) for t in self._validate_hx(hx, batch_size, like)]
        return list(parts[0]) if len(parts) == 1 else list(zip(*parts))

    def _from_cell_states(self, states: list[Any]) -> Any:
        if isinstance(states[0], Tensor):
            return torch.stack(states)
        return tuple(torch.stack(parts) for parts in zip(*states))

    # -- torch.nn's RNN attributes, and conversion both ways ------------------------------------
    # rk layers are not subclasses of torch.nn.RNNBase (its forward, flattening and checks
    # would come with it), so ``isinstance(layer, nn.LSTM)`` is False; the attributes below are
    # torch.nn's, for the tools that read them, and ``to_torch()`` gives the torch module itself.
    TORCH_MODES = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN_TANH", "rnn_relu": "RNN_RELU"}

    @property
    def mode(self) -> str:
        """torch.nn's name of the cell: ``LSTM``, ``GRU``, ``RNN_TANH`` or ``RNN_RELU``."""
        return self.TORCH_MODES[self.kernel_mode()]

    @property
    def _all_weights(self) -> list[list[str]]:
        """Parameter names per (layer, direction), torch.nn's names first, then a variant's
        (``weight_ch``, ``ln_*``), as torch.nn's ``_all_weights``."""
        return [[name + suffix for name in self.specs[layer].parameter_shapes()]
                for layer in range(self.num_layers) for suffix in self._suffixes(layer)]

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """The parameters per (layer, direction), as torch.nn's ``all_weights``."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    @property
    def _flat_weights_names(self) -> list[str]:
        return [name for names in self._all_weights for name in names]

    @property
    def _flat_weights(self) -> list[nn.Parameter]:
        return [getattr(self, name) for name in self._flat_weights_names]

    def _torch_arguments(self) -> dict[str, Any]:
        arguments = {"input_size": self.input_size, "hidden_size": self.hidden_size, "num_layers": self.num_layers,
                     "bias": self.bias, "batch_first": self.batch_first, "dropout": self.dropout,
                     "bidirectional": self.bidirectional}
        if self.kernel_mode() == "lstm":
            arguments["proj_size"] = self.specs[0].proj_size
        if self.kernel_mode().startswith("rnn_"):
            arguments["nonlinearity"] = self.specs[0].nonlinearity
        return arguments

    def _beyond_torch(self) -> list[str]:
        """What this layer computes that torch.nn's cannot (empty: ``to_torch`` is exact)."""
        spec = self.specs[0]
        found = [name for name in ("peephole", "layer_norm") if getattr(spec, name, False)]
        if getattr(spec, "reset_after", True) is False:
            found.append("reset_after=False")
        found += [f"{name}={getattr(self, name)}" for name in ("recurrent_dropout", "weight_drop") if getattr(self, name)]
        if any(self.zoneout):
            found.append(f"zoneout={self.zoneout}")
        return found

    @classmethod
    def from_torch(cls, module: nn.RNNBase, **extras: Any) -> TorchCompatibleLayer:
        """The rk layer of a ``torch.nn.RNN`` / ``LSTM`` / ``GRU``: the same arguments, device,
        dtype, mode and weights (exact). ``extras`` (``peephole=True``, ``zoneout=0.1``, ...)
        are passed on; parameters they add keep their initialization."""
        torch_class = getattr(nn, cls.__name__)
        if not isinstance(module, torch_class):
            raise TypeError(f"{cls.__name__}.from_torch: expected a torch.nn.{cls.__name__}, got "
                            f"{type(module).__module__}.{type(module).__name__}")
        arguments = {name: getattr(module, name) for name in
                     ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional")}
        if cls.__name__ == "LSTM":
            arguments["proj_size"] = module.proj_size
        if cls.__name__ == "RNN":
            arguments["nonlinearity"] = module.nonlinearity
        like = next(module.parameters())
        layer = cls(**arguments, **extras, device=like.device, dtype=like.dtype)
        missing, unexpected = layer.load_state_dict(module.state_dict(), strict=False)
        added = {name for names in layer._all_weights for name in names} - set(module.state_dict())
        if unexpected or set(missing) - added:
            raise ValueError(f"{cls.__name__}.from_torch: the weights do not match (missing {missing}, "
                             f"unexpected {unexpected})")
        return layer.train(module.training)

    def to_torch(self) -> nn.RNNBase:
        """The ``torch.nn`` module that computes exactly this layer (same arguments, device, dtype,
        weights, mode). A layer with something torch.nn has no equivalent for is refused."""
        beyond = self._beyond_torch()
        if beyond:
            raise ValueError(f"{type(self).__name__}.to_torch: torch.nn.{type(self).__name__} has no "
                             f"{', '.join(beyond)}; only a layer without them converts exactly")
        like = self.weight_ih_l0
        module = getattr(nn, type(self).__name__)(**self._torch_arguments(), device=like.device, dtype=like.dtype)
        module.load_state_dict(self.state_dict())
        return module.train(self.training)

    # -- the fused path ----------------------------------------------------------------------
    def kernel_mode(self) -> str:
        """The name of torch's kernel for this cell: ``lstm``, ``gru``, ``rnn_tanh`` or ``rnn_relu``."""
        raise NotImplementedError

    def _ordered_weights(self, for_forward: bool = False) -> list[Tensor]:
        """Weights in torch.nn's flat order; ``for_forward`` applies this pass's weight drop."""
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
        flat = []
        for layer in range(self.num_layers):
            for direction in range(self.num_directions):
                get = self._forward_weights if for_forward else self.cell_weights
                weights = get(layer, direction)
                flat.extend(weights[n] for n in names if n in weights)
        return flat

    def _forward_time_major(self, x: Tensor, hx: Any, lengths: Tensor | None) -> tuple[Tensor, Any]:
        chunk = self.time_chunk if torch.is_grad_enabled() and 0 < self.time_chunk < x.shape[0] else 0
        path = dispatch.path_name(self, x.device, x.dtype, lengths is not None, chunk > 0, dispatch.under_functorch(x))
        if path != "torch" or chunk:
            states = self._initial_cell_states(hx, x)
            run = {"rnnkit": run_direction_kernel, "loop": run_direction, "torch": run_direction_torch}[path]
            if chunk:
                run = chunked(run, chunk)
            output, finals = self._run_loop(x, states, lengths, run)
            return output, self._from_cell_states(finals)
        if hx is None:
            hx = self.initial_state(x.shape[1])
        else:
            hx = self._validate_hx(hx, x.shape[1], x)
            hx = hx[0] if len(hx) == 1 else tuple(hx)
        # cuDNN's backward needs its training-mode forward, so a backward pass in eval mode
        # (gradients of a trained model, say) runs that forward too, without dropout.
        needs_grad = torch.is_grad_enabled() and (x.requires_grad or self.weight_ih_l0.requires_grad)
        return fused_forward(
            self.kernel_mode(), x, hx, self._ordered_weights(for_forward=True), self.bias, self.num_layers,
            self.dropout if self.training else 0.0, self.training or needs_grad, self.bidirectional, lengths,
        )

    # -- streaming: torch's fused cell ops for the configurations they compute ------------------
    def cell_op(self) -> Any:
        """torch's fused one-step op for this layer's cell (``torch.lstm_cell``, ...)."""
        return dispatch.CELL_OPS[self.kernel_mode()]

    def cell_op_weights(self, for_forward: bool = False) -> list[list[Tensor]]:
        """Per layer, the cell op's weight arguments ``[w_ih, w_hh(, b_ih, b_hh)]``: the
        parameters themselves (``for_forward``: this pass's, with weight drop in training)."""
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if self.bias else ("weight_ih", "weight_hh")
        out = []
        for layer in range(self.num_layers):
            weights = [getattr(self, f"{name}_l{layer}") for name in names]
            if for_forward and self.weight_drop > 0 and self.training:
                weights[1] = weight_drop(weights[1], self.weight_drop, True)
            out.append(weights)
        return out

    def split_state(self, hx: Any, batch_size: int) -> list[tuple[Tensor, ...]]:
        """A state in ``forward``'s form (checked) -> per layer, its ``(h,)`` or ``(h, c)``
        (views); :meth:`join_state` is the inverse."""
        parts = self._validate_hx(hx, batch_size, self.weight_ih_l0)
        return [tuple(p.select(0, layer) for p in parts) for layer in range(self.num_layers * self.num_directions)]

    def join_state(self, per_layer: list[tuple[Tensor, ...]]) -> Any:
        """Per-layer ``(h,)`` / ``(h, c)`` -> the state in ``forward``'s form."""
        stacked = [torch.stack(p) for p in zip(*per_layer)]
        return stacked[0] if len(stacked) == 1 else tuple(stacked)

    def step(self, x: Tensor, hx: Any = None) -> tuple[Tensor, Any]:
        """One time step through the stack; see :meth:`RecurrentLayer.step`.

        Where torch has a fused cell op for this exact configuration (:meth:`step_path`),
        each layer is one call of it; otherwise the loop's step.
        """
        if self.bidirectional or self.step_path() == "loop":
            return super().step(x, hx)
        x = self._check_step_input(x)
        if hx is None:
            hx = self.initial_state(x.shape[0])
        states = self.split_state(hx, x.shape[0])
        op, lstm = self.cell_op(), len(states[0]) == 2
        finals = []
        for layer, weights in enumerate(self.cell_op_weights(for_forward=True)):
            result = op(x, states[layer] if lstm else states[layer][0], *weights)
            finals.append(result if lstm else (result,))
            x = result[0] if lstm else result
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = torch.nn.functional.dropout(x, self.dropout, training=True)
        if self.num_layers == 1:  # views, not copies: this path runs once per streamed step
            return x, tuple(s.unsqueeze(0) for s in finals[0]) if lstm else finals[0][0].unsqueeze(0)
        return x, self.join_state(finals)

    def flatten_parameters(self) -> None:
        """Lay the fused kernel's weights out in one cuDNN buffer (a no-op off CUDA).

        Called after every ``.to()``/``.cuda()``, as torch.nn does, so cuDNN need not compact
        the weights on every call. The parameters stay the same objects with the same values.
        """
        weights = self._ordered_weights()
        first = weights[0]
        if not (first.is_cuda and torch.backends.cudnn.is_acceptable(first)):
            return
        if any(w.dtype != first.dtype or not w.is_cuda for w in weights):
            return
        if len({w.data_ptr() for w in weights}) != len(weights):  # aliased weights: leave them
            return
        if not torch._use_cudnn_rnn_flatten_weight():
            return
        from torch.backends.cudnn import rnn as cudnn_rnn

        proj_size = getattr(self.specs[0], "proj_size", 0)
        per_layer = (4 if self.bias else 2) + (1 if proj_size else 0)
        with torch.cuda.device_of(first), torch.no_grad():
            torch._cudnn_rnn_flatten_weight(
                weights, per_layer, self.input_size, cudnn_rnn.get_cudnn_mode(self._cudnn_mode()),
                self.hidden_size, proj_size, self.num_layers, False, self.bidirectional,
            )

    def _apply(self, fn, recurse=True):  # noqa: ANN001 -- nn.Module's signature
        result = super()._apply(fn, recurse)
        self.flatten_parameters()
        return result

    def _cudnn_mode(self) -> str:
        return self.kernel_mode().upper()

    def extra_repr(self) -> str:
        spec = self.specs[0]
        parts = [f"{spec.input_size}, {spec.hidden_size}"]
        if self.num_layers != 1:
            parts.append(f"num_layers={self.num_layers}")
        for name, default in (("batch_first", False), ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, name) != default:
                parts.append(f"{name}={getattr(self, name)}")
        skip = {"input_size", "hidden_size"}
        parts += [f"{k}={v}" for k, v in vars(spec).items() if k not in skip]
        for name in ("recurrent_dropout", "weight_drop", "time_chunk"):
            if getattr(self, name):
                parts.append(f"{name}={getattr(self, name)}")
        if any(self.zoneout):
            parts.append(f"zoneout={self.zoneout}")
        parts.append(f"impl={self.impl!r}")
        return ", ".join(parts)


def probability(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name}: expected a probability in [0, 1), got {value!r}")
    return float(value)


def zoneout_rates(zoneout: Any, is_lstm: bool) -> tuple[float, ...]:
    """``(h_rate,)``, or ``(h_rate, c_rate)`` for the LSTM."""
    if isinstance(zoneout, (tuple, list)):
        if not is_lstm or len(zoneout) != 2:
            raise ValueError(
                f"zoneout: expected a float{' or (h_rate, c_rate)' if is_lstm else ''}, got {zoneout!r}"
            )
        rates = tuple(probability("zoneout", z) for z in zoneout)
    else:
        rate = probability("zoneout", zoneout)
        rates = (rate, rate) if is_lstm else (rate,)
    return rates


def _layer_input_sizes(input_size: int, output_size: int, num_layers: int, bidirectional: bool) -> list[int]:
    return [input_size] + [output_size * (2 if bidirectional else 1)] * (num_layers - 1)


class RNN(TorchCompatibleLayer):
    """Elman RNN layer, a drop-in for ``torch.nn.RNN``.

    ``forward(input, hx=None, lengths=None) -> (output, h_n)`` with ``hx``, ``h_n``:
    ``(L*D, B, H)``. See :class:`~rnnkit.layers.base.RecurrentLayer` for inputs and lengths.

    Args (as torch.nn.RNN): input_size, hidden_size, num_layers, nonlinearity ('tanh' or
    'relu'), bias, batch_first, dropout, bidirectional. Extras: ``init`` (a preset name or an
    :class:`~rnnkit.cells.init.Init`; ``"irnn"`` for Le et al. 2015), ``impl``,
    ``check_finite`` (raise on NaN/inf in the valid part of the input), device, dtype, and
    the regularizers ``recurrent_dropout``, ``zoneout``, ``weight_drop`` (module docstring).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        recurrent_dropout: float = 0.0,
        zoneout: float | tuple[float, float] = 0.0,
        weight_drop: float = 0.0,
        time_chunk: int = 0,
        init: str | Init = "torch",
        impl: str = "auto",
        check_finite: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        sizes = _layer_input_sizes(input_size, hidden_size, _count(num_layers), bidirectional)
        specs = [RNNSpec(size, hidden_size, bias, nonlinearity) for size in sizes]
        super().__init__(
            specs, batch_first, dropout, bidirectional, init, impl, check_finite, device, dtype,
            recurrent_dropout, zoneout, weight_drop, time_chunk,
        )
        self.nonlinearity = nonlinearity

    def kernel_mode(self) -> str:
        return f"rnn_{self.specs[0].nonlinearity}"


class LSTM(TorchCompatibleLayer):
    """LSTM layer, a drop-in for ``torch.nn.LSTM``, plus peepholes and layer normalization.

    ``forward(input, hx=None, lengths=None) -> (output, (h_n, c_n))`` with ``h_n``:
    ``(L*D, B, H_out)`` and ``c_n``: ``(L*D, B, H)``, ``H_out = proj_size or hidden_size``.

    Args (as torch.nn.LSTM): input_size, hidden_size, num_layers, bias, batch_first,
    dropout, bidirectional, proj_size. Extras: ``peephole`` (Gers & Schmidhuber 2000),
    ``layer_norm`` (Ba et al. 2016), ``init``, ``impl``, ``check_finite``, device, dtype.
    Peepholes run rnnkit's kernel on CPU; layer norm runs the readable loop.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        peephole: bool = False,
        layer_norm: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float | tuple[float, float] = 0.0,
        weight_drop: float = 0.0,
        time_chunk: int = 0,
        init: str | Init = "torch",
        impl: str = "auto",
        check_finite: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        output_size = proj_size if isinstance(proj_size, int) and proj_size > 0 else hidden_size
        sizes = _layer_input_sizes(input_size, output_size, _count(num_layers), bidirectional)
        specs = [LSTMSpec(size, hidden_size, bias, proj_size, peephole, layer_norm) for size in sizes]
        super().__init__(
            specs, batch_first, dropout, bidirectional, init, impl, check_finite, device, dtype,
            recurrent_dropout, zoneout, weight_drop, time_chunk,
        )
        self.proj_size = proj_size

    def _state_shapes(self, batch_size: int) -> list[tuple[int, ...]]:
        LD = self.num_layers * self.num_directions
        return [(LD, batch_size, self.output_size), (LD, batch_size, self.hidden_size)]

    def kernel_mode(self) -> str:
        return "lstm"


class GRU(TorchCompatibleLayer):
    """GRU layer, a drop-in for ``torch.nn.GRU``, plus the reset-before form and layer norm.

    ``forward(input, hx=None, lengths=None) -> (output, h_n)`` with ``h_n``: ``(L*D, B, H)``.

    Args (as torch.nn.GRU): input_size, hidden_size, num_layers, bias, batch_first, dropout,
    bidirectional. Extras: ``reset_after`` (False: Cho et al. 2014's original form, as Keras's
    ``reset_after=False``), ``layer_norm`` (Ba et al. 2016), ``init``, ``impl``,
    ``check_finite``, device, dtype. ``reset_after=False`` and layer norm run the readable loop.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        reset_after: bool = True,
        layer_norm: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float | tuple[float, float] = 0.0,
        weight_drop: float = 0.0,
        time_chunk: int = 0,
        init: str | Init = "torch",
        impl: str = "auto",
        check_finite: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        sizes = _layer_input_sizes(input_size, hidden_size, _count(num_layers), bidirectional)
        specs = [GRUSpec(size, hidden_size, bias, reset_after, layer_norm) for size in sizes]
        super().__init__(
            specs, batch_first, dropout, bidirectional, init, impl, check_finite, device, dtype,
            recurrent_dropout, zoneout, weight_drop, time_chunk,
        )

    def kernel_mode(self) -> str:
        return "gru"


def _count(num_layers: Any) -> int:
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(f"num_layers: expected an int >= 1, got {num_layers!r}")
    return num_layers
