"""Input validation for layers: fail early, say what was expected and what came."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


def check_input(x: object, input_size: int, like: Tensor, batch_first: bool) -> Tensor:
    """Validate a padded input tensor: 2 dims (unbatched) or 3 dims, with ``input_size`` features."""
    if not isinstance(x, Tensor):
        raise TypeError(f"expected input to be a Tensor or PackedSequence, got {type(x).__name__}")
    layout = "(batch, time, features)" if batch_first else "(time, batch, features)"
    if x.dim() not in (2, 3):
        raise ValueError(
            f"expected input of 3 dims {layout}, or 2 dims (time, features) for one unbatched "
            f"sequence, got {x.dim()} dims of shape {tuple(x.shape)}"
        )
    if x.shape[-1] != input_size:
        raise ValueError(f"expected input.size(-1) == input_size={input_size}, got {x.shape[-1]} (shape {tuple(x.shape)})")
    if not x.is_floating_point():
        raise TypeError(f"expected a floating-point input, got {x.dtype}")
    if x.dtype != like.dtype:
        raise TypeError(f"expected input of dtype {like.dtype} (the layer's parameters), got {x.dtype}")
    if x.device != like.device:
        raise ValueError(f"expected input on {like.device} (the layer's parameters), got {x.device}")
    return x


def check_time_major(x: Tensor) -> None:
    """``x`` is ``(T, B, I)`` after any transpose: both must be non-empty."""
    if x.shape[0] == 0:
        raise ValueError(f"expected at least one time step, got input of shape {tuple(x.shape)} (time-major)")
    if x.shape[1] == 0:
        raise ValueError(f"expected a non-empty batch, got batch size 0 (time-major shape {tuple(x.shape)})")


def tracing() -> bool:
    """Whether torch.compile or torch.export is tracing: tensors' values are not known, so nothing
    may branch on them (eager calls check and branch as usual)."""
    return torch.compiler.is_compiling() or torch.compiler.is_exporting()


def check_lengths(lengths: Tensor | Sequence[int], batch_size: int, max_length: int) -> Tensor:
    """Validate ``lengths`` and return it as a CPU int64 tensor of ``batch_size`` values in [1, T]."""
    if not isinstance(lengths, Tensor):
        if not isinstance(lengths, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in lengths
        ):
            raise TypeError(f"expected lengths as a 1-D integer tensor or a list of ints, got {lengths!r}")
        lengths = torch.tensor(lengths, dtype=torch.int64)
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise TypeError(f"expected integer lengths, got dtype {lengths.dtype}")
    if lengths.dim() != 1:
        raise ValueError(f"expected lengths of 1 dim (batch,), got shape {tuple(lengths.shape)}")
    if lengths.numel() != batch_size:
        raise ValueError(f"expected {batch_size} lengths (one per sequence in the batch), got {lengths.numel()}")
    lengths = lengths.to("cpu", torch.int64)
    if tracing():
        return lengths  # traced: the values are data of the graph, not known here; eager calls check them
    low, high = int(lengths.min()), int(lengths.max())
    if low < 1:
        raise ValueError(f"expected every length >= 1, got {low} at index {int(lengths.argmin())}")
    if high > max_length:
        raise ValueError(
            f"expected every length <= the number of time steps {max_length}, got {high} at index "
            f"{int(lengths.argmax())}"
        )
    return lengths


def check_finite(x: Tensor, mask: Tensor | None) -> None:
    """Raise if ``x`` (``(T, B, I)``) has NaN or infinity at a valid (unpadded) step."""
    bad = ~torch.isfinite(x)
    if mask is not None:
        bad &= mask[..., None]
    if bool(bad.any()):
        t, b, i = (int(v) for v in bad.nonzero()[0])
        raise ValueError(f"expected finite input, got {x[t, b, i].item()} at time {t}, batch {b}, feature {i}")


def _autocast_dtype(like: Tensor) -> torch.dtype | None:
    """The dtype autocast computes in on ``like``'s device, or None outside autocast: a state
    that an earlier layer returned under autocast has it, and torch.nn's layers take it."""
    kind = like.device.type
    try:
        return torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else None
    except RuntimeError:  # a device autocast does not know (meta, ...)
        return None


def check_state(name: str, state: object, shape: tuple[int, ...], like: Tensor) -> Tensor:
    """Validate one initial-state tensor against its expected shape, dtype and device."""
    if not isinstance(state, Tensor):
        raise TypeError(f"expected {name} to be a Tensor, got {type(state).__name__}")
    if tuple(state.shape) != shape:
        raise ValueError(f"expected {name} of shape {shape}, got {tuple(state.shape)}")
    if state.dtype != like.dtype and state.dtype != _autocast_dtype(like):
        raise TypeError(f"expected {name} of dtype {like.dtype} (the input's), got {state.dtype}")
    if state.device != like.device:
        raise ValueError(f"expected {name} on {like.device} (the input's device), got {state.device}")
    return state
