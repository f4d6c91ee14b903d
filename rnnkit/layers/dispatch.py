"""Which implementation runs a layer, and why: decided here and nowhere else.

Three implementations compute a pass over a sequence (see :mod:`rnnkit.layers.torch_layers`):
``"torch"`` (torch's fused kernel: oneDNN or native on CPU, cuDNN on GPU), ``"rnnkit"`` (rnnkit's
fused kernel with hand-written BPTT, CPU) and ``"loop"`` (the readable time loop, the reference).
One step of streaming runs either torch's fused cell op (``"cell_op"``) or the loop's step.

:func:`forward_path` and :func:`step_path` return a :class:`PathChoice`: the path's name (a
``str``, so ``layer.forward_path() == "rnnkit"`` reads as before) with ``.reason``, the why.
"""

from __future__ import annotations

from typing import Any

import torch

from rnnkit.functional import kernels
from rnnkit.layers.checks import tracing
from rnnkit.layers.kernel import kernel_supports

# torch's fused one-step ops, by kernel mode
CELL_OPS = {
    "lstm": torch.lstm_cell,
    "gru": torch.gru_cell,
    "rnn_tanh": torch.rnn_tanh_cell,
    "rnn_relu": torch.rnn_relu_cell,
}


class PathChoice(str):
    """A path's name (``"torch"``, ``"rnnkit"``, ``"loop"``, ``"cell_op"``) and, in ``reason``, why."""

    reason: str

    def __new__(cls, name: str, reason: str) -> PathChoice:
        choice = super().__new__(cls, name)
        choice.reason = reason
        return choice

    def __repr__(self) -> str:
        return f"PathChoice({str(self)!r}, reason={self.reason!r})"


def torch_computes(layer: Any) -> bool:
    """Whether torch's fused kernel computes the layer's configuration exactly: no variant
    (peepholes, layer norm, the reset-before GRU) and no per-step regularizer."""
    return layer.specs[0].fusable and layer.recurrent_dropout == 0 and not any(layer.zoneout)


def kernel_runs(layer: Any, device: torch.device, dtype: torch.dtype) -> bool:
    """Whether rnnkit's kernel computes the configuration on ``device``/``dtype`` and is built."""
    return kernel_supports(layer.specs[0]) and kernels.supports(device, dtype) and kernels.available()


def onnx_operator(layer: Any) -> bool:
    """Whether an ONNX export writes the layer (without lengths) as ONNX's own LSTM/GRU/RNN
    operator, which reads any sequence length; else it is the readable loop, unrolled."""
    return layer.impl in ("auto", "torch") and torch_computes(layer) and not getattr(layer.specs[0], "proj_size", 0)


def under_functorch(x: torch.Tensor) -> bool:
    """Whether ``x`` is wrapped by a torch.func transform (vmap, grad, jacrev, ...); False while
    torch.compile traces (it handles the transforms itself, and cannot trace this check)."""
    wrapped = getattr(torch._C._functorch, "is_functorch_wrapped_tensor", None)
    return bool(wrapped is not None and not torch.compiler.is_compiling() and wrapped(x))


def _decide(layer: Any, device: torch.device, dtype: torch.dtype, lengths: bool = False,
            chunked: bool = False, functorch: bool = False) -> tuple[str, str]:
    """The path ``layer.forward`` runs, and why, for inputs on ``device``/``dtype``; ``lengths``: the
    sequences have different lengths; ``chunked``: the pass is checkpointed in chunks of time.

    ``impl="auto"``: rnnkit's kernel wherever it computes the configuration, except the plain
    LSTM (oneDNN is as fast or faster there); else torch's kernel where it applies; else the
    loop. Checkpointed chunks of padded sequences cannot go through torch's kernel (its
    per-direction call takes no lengths): rnnkit's kernel or the loop run them. Nor can inputs
    under a torch.func transform (``functorch``): torch's RNN ops have no vmap rule.
    ``torch.jit.trace`` runs the loop (the fused calls do not trace); an ONNX export runs torch's
    kernel where it computes the layer (ONNX has the operator, any sequence length), else the
    loop (unrolled over the exported length). Padded sequences traced by torch.compile or
    torch.export run a path that masks (rnnkit's kernel, else the loop), never torch's, which packs
    them by their lengths' values.
    """
    name, why = _eager_choice(layer, device, dtype, lengths, chunked, functorch)
    if layer.impl == "auto" and torch.onnx.is_in_onnx_export():  # both exporters (the TorchScript one traces)
        if onnx_operator(layer) and not lengths:
            return ("torch", "ONNX export: torch's kernel, which becomes ONNX's own LSTM/GRU/RNN operator")
        return ("loop", "ONNX export: the readable loop, in ONNX's elementwise operators (rnnkit's kernel has no "
                        "ONNX form, torch's converter gets the LSTM's projection wrong, and torch's kernel packs "
                        "padded sequences by their lengths' values, which an export cannot know)")
    if layer.impl == "auto" and name == "torch" and lengths and tracing():
        if kernel_runs(layer, device, dtype):
            return ("rnnkit", "traced with lengths: rnnkit's kernel, which masks the padding (torch's packs it by "
                              "the lengths' values, which a trace cannot know)")
        return ("loop", "traced with lengths: the readable loop, which masks the padding")
    return name, why


def _eager_choice(layer: Any, device: torch.device, dtype: torch.dtype, lengths: bool, chunked: bool,
                  functorch: bool) -> tuple[str, str]:
    impl, spec = layer.impl, layer.specs[0]
    if impl == "loop":
        return ("loop", "impl='loop': the readable loop")
    if impl == "rnnkit":
        if not (kernel_supports(spec) and kernels.supports(device, dtype)):
            raise ValueError(f"impl='rnnkit': rnnkit's kernel runs on CPU in float32/float64, got {device} {dtype}")
        if not kernels.available():
            raise RuntimeError("impl='rnnkit': the fused kernels could not be built; use impl='auto' or 'loop'")
        return ("rnnkit", "impl='rnnkit': rnnkit's fused kernel")
    if impl == "auto" and torch.jit.is_tracing():
        return ("loop", "torch.jit.trace: the readable loop, whose graph traces (the fused kernels' calls do not)")
    fits_torch = torch_computes(layer)
    if impl == "torch":
        choice = ("torch", "impl='torch': torch's fused kernel")
    elif kernel_runs(layer, device, dtype) and (not fits_torch or layer.kernel_mode() != "lstm"):
        why = "torch's kernel cannot compute this configuration" if not fits_torch else \
            "torch has no oneDNN kernel for it on CPU"
        choice = ("rnnkit", f"rnnkit's fused kernel ({why})")
    elif fits_torch:
        where = "cuDNN" if torch.device(device).type == "cuda" else "oneDNN or native"
        choice = ("torch", f"torch's fused kernel ({where})")
    else:
        missing = "it is not built" if kernel_supports(spec) and kernels.supports(device, dtype) else \
            f"it does not cover this configuration on {device} {dtype}"
        return ("loop", f"the readable loop: torch's kernel cannot compute this configuration and "
                        f"rnnkit's cannot run ({missing})")
    if choice[0] == "torch" and (chunked and lengths or functorch and impl == "auto"):
        why = "checkpointed chunks of padded sequences" if not functorch else "a torch.func transform"
        if kernel_runs(layer, device, dtype):
            return ("rnnkit", f"rnnkit's fused kernel: {why}")
        return ("loop", f"the readable loop: {why}")
    return choice


def forward_path(layer: Any, device: torch.device, dtype: torch.dtype, lengths: bool = False,
                 chunked: bool = False, functorch: bool = False) -> PathChoice:
    """The path ``layer.forward`` runs, as a :class:`PathChoice`; see :func:`_decide`."""
    return PathChoice(*_decide(layer, device, dtype, lengths, chunked, functorch))


def path_name(layer: Any, device: torch.device, dtype: torch.dtype, lengths: bool = False,
              chunked: bool = False, functorch: bool = False) -> str:
    """:func:`forward_path`'s name alone, a plain ``str``: what ``forward`` reads (torch.compile
    traces it, and cannot trace the making of a ``str`` subclass)."""
    return _decide(layer, device, dtype, lengths, chunked, functorch)[0]


def step_path(layer: Any) -> PathChoice:
    """The path one streaming step runs: torch's fused cell op for the configurations it
    computes (no projection, no variant, no per-step regularizer), else the loop's step."""
    if layer.impl == "loop":
        return PathChoice("loop", "impl='loop': the readable loop's step")
    if not torch_computes(layer):
        return PathChoice("loop", "the loop's step: torch's cell op cannot compute this configuration")
    if getattr(layer.specs[0], "proj_size", 0):
        return PathChoice("loop", "the loop's step: torch has no cell op with a projection")
    return PathChoice("cell_op", f"torch's fused cell op ({layer.kernel_mode()}_cell)")
