"""Whole-sequence recurrences with a hand-written backward through time (rnnkit's fused path).

``lstm_sequence``, ``layer_norm_lstm_sequence``, ``gru_sequence`` and ``rnn_sequence`` run one
direction of one layer over a whole time-major sequence and return the same values as stepping
the readable recurrences in :mod:`rnnkit.functional.recurrences` (the tests hold them equal in
float64, values and every gradient). They cover what torch's fused kernels cannot: a per-sequence recurrent-dropout
mask, zoneout, peepholes, layer normalization, and lengths, all inside the kernel.

How: the input projection for all steps arrives precomputed (one GEMM, by the caller); each
step is one GEMM for ``W_hh h_{t-1}`` plus one vectorized pass of gate math; the backward
walks time in reverse and computes ``dW_hh`` as one GEMM after the loop. The loops are C++
(``csrc/recurrences.cpp``), compiled on first use with ``torch.utils.cpp_extension`` into
``~/.cache/rnnkit`` (``RNNKIT_CACHE`` to move it; ~30 s once). Without a compiler, or with
``RNNKIT_NO_EXTENSION=1``, :func:`available` is False and the layers run the readable loop
instead (with a one-line notice), so results never depend on the build.

Shape legend: T time, B batch, H hidden, G gates (LSTM 4, GRU 3, Elman 1).
Optional inputs shared by all three:

* ``recurrent_mask``: ``(B, H)``, multiplies ``h_{t-1}`` where it enters ``W_hh h``.
* ``keep``: per state tensor, zoneout (see :func:`rnnkit.functional.zoneout_keep`): a bool
  ``(T, B, H)`` mask of the units that keep their previous value (training), or the rate as a
  float (evaluation: ``state_t = rate * state_{t-1} + (1 - rate) * new``).
* ``valid``: ``(T, B)`` of 0/1 in the input's dtype; where 0 the state is carried unchanged
  and the output is 0 (lengths).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor

SOURCE = Path(__file__).with_name("csrc") / "recurrences.cpp"
SUPPORTED_DTYPES = (torch.float32, torch.float64)
BUILD_WAIT_SECONDS = 600  # how long to wait for another process that is building the same kernels


def _cache_dir(digest: str) -> Path:
    root = Path(os.environ.get("RNNKIT_CACHE", Path.home() / ".cache" / "rnnkit"))
    return root / "extensions" / digest


def build_folder() -> tuple[Path, str]:
    """Where this machine's build of the kernels lives, and the extension's name.

    -march=native: the build is for this machine, so its CPU flags are part of the cache key,
    with the source, torch's version and Python's.
    """
    key = SOURCE.read_bytes() + torch.__version__.encode() + sys.version.encode() + _cpu_flags().encode()
    digest = hashlib.sha256(key).hexdigest()[:16]
    return _cache_dir(digest), f"rnnkit_recurrences_{digest}"


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return ""


def _ninja_on_path() -> None:
    """torch's extension builder runs ``ninja`` from PATH; the ``ninja`` wheel (a dependency)
    ships one inside the environment, which is not on PATH unless the venv is activated."""
    if shutil.which("ninja") is None:
        try:
            import ninja
        except ImportError:
            return
        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")


@contextlib.contextmanager
def _building(folder: Path, wait: float | None = None) -> Iterator[None]:
    """Hold ``folder/build.lock`` (an OS lock, released when its holder dies) while torch builds.

    torch's own guard is a plain ``lock`` file that its builder deletes when done, and that waiters
    poll for without end: a builder killed mid-build (a cut-off session, a cancelled job) leaves it
    behind, and every later build would hang. Every rnnkit builder holds ``build.lock`` for as long
    as torch's file may exist, so a ``lock`` file found while holding it is stale and removed.
    Waits at most ``wait`` seconds (``BUILD_WAIT_SECONDS``) for a live builder, then gives up.
    """
    try:
        import fcntl
    except ImportError:  # Windows: torch's guard alone
        yield
        return
    wait = BUILD_WAIT_SECONDS if wait is None else wait
    fd = os.open(folder / "build.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another process has been building the kernels in {folder} "
                                       f"for over {wait:.0f} s") from None
                time.sleep(0.2)
        stale = folder / "lock"
        if stale.exists():
            print(f"rnnkit: removing {stale}, left by a kernel build that did not finish", file=sys.stderr)
            stale.unlink(missing_ok=True)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@functools.cache
def _load() -> str | None:
    """Build (once per machine and source) and load the kernels; ``None`` on success, else why not."""
    if os.environ.get("RNNKIT_NO_EXTENSION"):
        return "RNNKIT_NO_EXTENSION is set"
    try:
        from torch.utils.cpp_extension import load

        _ninja_on_path()
        folder, name = build_folder()
        folder.mkdir(parents=True, exist_ok=True)
        with _building(folder):
            if not (folder / f"{name}.so").exists():
                print(f"rnnkit: building the fused recurrence kernels (once, ~30 s) in {folder}", file=sys.stderr)
            load(
                name=name, sources=[str(SOURCE)], build_directory=str(folder), is_python_module=False,
                extra_cflags=["-O3", "-march=native", "-mprefer-vector-width=512", "-fno-math-errno",
                              "-fno-trapping-math", "-fopenmp-simd"], verbose=False,
            )
    except Exception as error:  # no compiler, no headers, a read-only cache: fall back, say why
        return f"{type(error).__name__}: {str(error).strip().splitlines()[-1] if str(error).strip() else ''}"
    return None


@functools.cache
def _notice(reason: str) -> None:
    warnings.warn(
        f"rnnkit: fused recurrence kernels unavailable ({reason}); running the readable loop instead",
        RuntimeWarning, stacklevel=4,
    )


def available() -> bool:
    """Whether the compiled kernels are loaded (building them on the first call).

    With ``RNNKIT_REQUIRE_KERNEL=1`` (CI sets it) a kernel that cannot be built or loaded is an
    error instead of a fallback to the loop, so a broken build cannot pass unnoticed.
    """
    reason = _load()
    if reason is not None and os.environ.get("RNNKIT_REQUIRE_KERNEL"):
        raise RuntimeError(f"rnnkit: fused recurrence kernels unavailable ({reason}) and RNNKIT_REQUIRE_KERNEL is set")
    if reason is not None and not os.environ.get("RNNKIT_NO_EXTENSION"):
        _notice(reason)
    return reason is None


def _ops():
    reason = _load()
    if reason is not None:
        raise RuntimeError(f"rnnkit: fused recurrence kernels unavailable ({reason})")
    return torch.ops.rnnkit


def supports(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether inputs on ``device`` in ``dtype`` can go through the kernels: CPU, float32/float64,
    and no autocast (which would change dtypes in the middle of a pass)."""
    return device.type == "cpu" and dtype in SUPPORTED_DTYPES and not torch.is_autocast_enabled(device.type)


def _arg(t: Tensor | float | None, like: Tensor) -> Tensor:
    """A contiguous tensor for the kernel, an empty one for 'absent', a 0-dim one for a rate."""
    if t is None:
        return like.new_empty(0)
    if isinstance(t, float):
        return torch.tensor(t, dtype=torch.float64)
    return t.contiguous()


def keep_mask(shape: tuple[int, ...], rate: float) -> Tensor:
    """A bool mask on CPU, ``True`` with probability ``rate`` per unit, drawn counter-based in
    C++ from one seed taken from torch's generator (``torch.manual_seed`` fixes it)."""
    seed = int(torch.randint(0, 2**62, ()))
    return _ops().keep_mask(seed, list(shape), float(rate))


def _first_order_only() -> None:
    """The hand-written backward is not itself differentiable: say so rather than return
    gradients that silently miss the second-order terms (grad mode is on in a backward pass
    only under ``create_graph=True``)."""
    if torch.is_grad_enabled():
        raise RuntimeError(
            "rnnkit's fused kernel has no double backward (create_graph=True); "
            "build the layer with impl='loop' for higher-order gradients"
        )


def _needs_grad(*tensors: Tensor | None) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


# -- LSTM --------------------------------------------------------------------------------


class _LSTMSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xg, h0, c0, weight_hh, weight_ch, recurrent_mask, keep_h, keep_c, valid):
        out, hs, cs, act = _ops().lstm_forward(
            xg, h0, c0, weight_hh, weight_ch, recurrent_mask, keep_h, keep_c, valid, True
        )
        ctx.save_for_backward(weight_hh, weight_ch, recurrent_mask, keep_h, keep_c, valid, act, hs, cs)
        return out, hs[-1].clone(), cs[-1].clone()

    @staticmethod
    def backward(ctx, d_out, d_h, d_c):
        _first_order_only()
        weight_hh, weight_ch, recurrent_mask, keep_h, keep_c, valid, act, hs, cs = ctx.saved_tensors
        d_gates, d_h0, d_c0, d_whh, c_new = _ops().lstm_backward(
            d_out.contiguous(), d_h.contiguous(), d_c.contiguous(), weight_hh, weight_ch, recurrent_mask,
            keep_h, keep_c, valid, act, hs, cs,
        )
        d_wch = _peephole_grad(d_gates, cs, c_new, weight_hh.shape[1]) if weight_ch.numel() else None
        return d_gates, d_h0, d_c0, d_whh, d_wch, None, None, None, None


def lstm_sequence(
    xg: Tensor,
    state: tuple[Tensor, Tensor],
    weight_hh: Tensor,
    weight_ch: Tensor | None = None,
    *,
    recurrent_mask: Tensor | None = None,
    keep: tuple[Tensor | float | None, Tensor | float | None] = (None, None),
    valid: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """LSTM over a sequence: ``xg`` ``(T, B, 4H)`` = ``W_ih x_t + b_ih + b_hh``; ``state`` ``(h_0, c_0)``.

    ``weight_hh``: ``(4H, H)``; ``weight_ch``: ``(3H,)`` peepholes or None; ``keep``:
    zoneout of ``(h, c)``. Returns ``(output (T, B, H), (h_T, c_T))``, as stepping
    :func:`~rnnkit.functional.lstm_recurrence` with the same masks.
    """
    h0, c0 = state
    args = [_arg(t, xg) for t in (xg, h0, c0, weight_hh, weight_ch, recurrent_mask, keep[0], keep[1], valid)]
    if _needs_grad(xg, h0, c0, weight_hh, weight_ch):
        out, h, c = _LSTMSequence.apply(*args)
    else:
        out, hs, cs, _ = _ops().lstm_forward(*args, False)
        h, c = hs[-1], cs[-1]
    return out, (h, c)


class _LayerNormLSTMSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xg, h0, c0, weight_hh, ln_hh_w, ln_hh_b, ln_c_w, ln_c_b, weight_ch,
                recurrent_mask, keep_h, keep_c, valid):
        out, hs, cs, act, xhat, chat, rstd = _ops().lstm_ln_forward(
            xg, h0, c0, weight_hh, ln_hh_w, ln_hh_b, ln_c_w, ln_c_b, weight_ch, recurrent_mask, keep_h, keep_c,
            valid, True,
        )
        ctx.save_for_backward(weight_hh, ln_hh_w, ln_hh_b, ln_c_w, ln_c_b, weight_ch, recurrent_mask, keep_h, keep_c,
                              valid, act, xhat, chat, rstd, hs, cs)
        return out, hs[-1].clone(), cs[-1].clone()

    @staticmethod
    def backward(ctx, d_out, d_h, d_c):
        _first_order_only()
        saved = ctx.saved_tensors
        weight_hh, weight_ch, cs = saved[0], saved[5], saved[-1]
        grads = _ops().lstm_ln_backward(d_out.contiguous(), d_h.contiguous(), d_c.contiguous(), *saved)
        d_pre, d_h0, d_c0, d_whh, d_lnw, d_lnb, d_lncw, d_lncb, c_new = grads
        return (d_pre, d_h0, d_c0, d_whh, d_lnw, d_lnb, d_lncw, d_lncb,
                _peephole_grad(d_pre, cs, c_new, weight_hh.shape[1]) if weight_ch.numel() else None,
                None, None, None, None)


def _peephole_grad(d_pre: Tensor, cs: Tensor, c_new: Tensor, H: int) -> Tensor:
    """d(p_i, p_f, p_o): the i and f gates see c_{t-1}, the o gate the new c_t."""
    c_prev = cs[:-1]
    return torch.cat([
        (d_pre[..., :H] * c_prev).sum((0, 1)),
        (d_pre[..., H:2 * H] * c_prev).sum((0, 1)),
        (d_pre[..., 3 * H:] * c_new).sum((0, 1)),
    ])


def layer_norm_lstm_sequence(
    xg: Tensor,
    state: tuple[Tensor, Tensor],
    weight_hh: Tensor,
    ln_hh: tuple[Tensor, Tensor],
    ln_c: tuple[Tensor, Tensor],
    weight_ch: Tensor | None = None,
    *,
    recurrent_mask: Tensor | None = None,
    keep: tuple[Tensor | float | None, Tensor | float | None] = (None, None),
    valid: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Layer-normalized LSTM over a sequence; see :func:`~rnnkit.functional.lstm_recurrence`.

    ``xg`` ``(T, B, 4H)`` = ``LN(W_ih x_t) * ln_ih_w + ln_ih_b + b_ih + b_hh``; ``ln_hh`` the
    ``(4H,)`` gain and shift of ``LN(W_hh h)``; ``ln_c`` the ``(H,)`` gain and shift of ``LN(c_t)``.
    Returns ``(output (T, B, H), (h_T, c_T))``.
    """
    h0, c0 = state
    tensors = (xg, h0, c0, weight_hh, *ln_hh, *ln_c, weight_ch, recurrent_mask, keep[0], keep[1], valid)
    args = [_arg(t, xg) for t in tensors]
    if _needs_grad(xg, h0, c0, weight_hh, *ln_hh, *ln_c, weight_ch):
        out, h, c = _LayerNormLSTMSequence.apply(*args)
        return out, (h, c)
    out, hs, cs, *_ = _ops().lstm_ln_forward(*args, False)
    return out, (hs[-1], cs[-1])


# -- GRU ---------------------------------------------------------------------------------


class _GRUSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xg, h0, weight_hh, bias_hh, recurrent_mask, keep_h, valid):
        out, hs, hg, n = _ops().gru_forward(xg, h0, weight_hh, bias_hh, recurrent_mask, keep_h, valid, True)
        ctx.save_for_backward(weight_hh, recurrent_mask, keep_h, valid, hg, n, hs)
        ctx.has_bias = bias_hh.numel() > 0
        return out, hs[-1].clone()

    @staticmethod
    def backward(ctx, d_out, d_h):
        _first_order_only()
        weight_hh, recurrent_mask, keep_h, valid, hg, n, hs = ctx.saved_tensors
        d_xg, d_hg, d_h0, d_whh = _ops().gru_backward(
            d_out.contiguous(), d_h.contiguous(), weight_hh, recurrent_mask, keep_h, valid, hg, n, hs
        )
        d_bhh = d_hg.sum((0, 1)) if ctx.has_bias else None
        return d_xg, d_h0, d_whh, d_bhh, None, None, None


def gru_sequence(
    xg: Tensor,
    h0: Tensor,
    weight_hh: Tensor,
    bias_hh: Tensor | None = None,
    *,
    recurrent_mask: Tensor | None = None,
    keep: Tensor | float | None = None,
    valid: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Reset-after GRU over a sequence: ``xg`` ``(T, B, 3H)`` = ``W_ih x_t + b_ih``; ``h0`` ``(B, H)``.

    ``weight_hh``: ``(3H, H)``, ``bias_hh``: ``(3H,)``. Returns ``(output (T, B, H), h_T)``,
    as stepping :func:`~rnnkit.functional.gru_recurrence` with the same masks.
    """
    args = [_arg(t, xg) for t in (xg, h0, weight_hh, bias_hh, recurrent_mask, keep, valid)]
    if _needs_grad(xg, h0, weight_hh, bias_hh):
        return _GRUSequence.apply(*args)
    out, hs, _, _ = _ops().gru_forward(*args, False)
    return out, hs[-1]


# -- Elman RNN ---------------------------------------------------------------------------


class _RNNSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xg, h0, weight_hh, relu, recurrent_mask, keep_h, valid):
        out, hs, hn = _ops().rnn_forward(xg, h0, weight_hh, relu, recurrent_mask, keep_h, valid, True)
        ctx.save_for_backward(weight_hh, recurrent_mask, keep_h, valid, hn, hs)
        ctx.relu = relu
        return out, hs[-1].clone()

    @staticmethod
    def backward(ctx, d_out, d_h):
        _first_order_only()
        weight_hh, recurrent_mask, keep_h, valid, hn, hs = ctx.saved_tensors
        d_xg, d_h0, d_whh = _ops().rnn_backward(
            d_out.contiguous(), d_h.contiguous(), weight_hh, ctx.relu, recurrent_mask, keep_h, valid, hn, hs
        )
        return d_xg, d_h0, d_whh, None, None, None, None


def rnn_sequence(
    xg: Tensor,
    h0: Tensor,
    weight_hh: Tensor,
    *,
    nonlinearity: str = "tanh",
    recurrent_mask: Tensor | None = None,
    keep: Tensor | float | None = None,
    valid: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Elman RNN over a sequence: ``xg`` ``(T, B, H)`` = ``W_ih x_t + b_ih + b_hh``; ``h0`` ``(B, H)``.

    Returns ``(output (T, B, H), h_T)``, as stepping :func:`~rnnkit.functional.rnn_recurrence`.
    """
    relu = nonlinearity == "relu"
    args = [_arg(t, xg) for t in (xg, h0, weight_hh)]
    masks = [_arg(t, xg) for t in (recurrent_mask, keep, valid)]
    if _needs_grad(xg, h0, weight_hh):
        return _RNNSequence.apply(*args, relu, *masks)
    out, hs, _ = _ops().rnn_forward(*args, relu, *masks, False)
    return out, hs[-1]
