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

bfloat16 products: ``weight_hh`` in bfloat16 beside float32 inputs makes each step's
``W_hh h`` (and the backward's two products by it) bfloat16, as CPU autocast computes a
matmul: the operands rounded to bfloat16, accumulated in float32, the result rounded to
bfloat16; the gates, the states, the outputs and every other gradient stay float32, and
``dW_hh`` comes back in bfloat16. The layers do this under ``torch.autocast("cpu",
torch.bfloat16)``; on CPUs with AMX or AVX-512 BF16 the products run several times faster
(``benchmarks/bf16.py``). The higher-order backward (``create_graph=True``) differentiates
the readable path with the weight widened back to float32.
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

from rnnkit.functional import recurrences

SOURCE = Path(__file__).with_name("csrc") / "recurrences.cpp"
SUPPORTED_DTYPES = (torch.float32, torch.float64)
BUILD_WAIT_SECONDS = 600  # how long to wait for another process that is building the same kernels
# -fopenmp: at::parallel_for is an inline template that is parallel only where the including code is built
# with OpenMP (without it, the row passes ran on one thread whatever torch's thread count). The pragmas bind
# to the OpenMP runtime torch already loaded (torch/lib/libgomp.so.1), so there is one thread pool.
# Elsewhere (clang without libomp) only the SIMD pragmas: the loops vectorize, the rows run on one thread.
CFLAGS = ("-O3", "-march=native", "-mprefer-vector-width=512", "-fno-math-errno", "-fno-trapping-math",
          "-fopenmp" if sys.platform.startswith("linux") else "-fopenmp-simd")


def _cache_dir(digest: str) -> Path:
    root = Path(os.environ.get("RNNKIT_CACHE", Path.home() / ".cache" / "rnnkit"))
    return root / "extensions" / digest


def build_folder() -> tuple[Path, str]:
    """Where this machine's build of the kernels lives, and the extension's name.

    -march=native: the build is for this machine, so its CPU flags are part of the cache key,
    with the source, torch's version and Python's.
    """
    key = (SOURCE.read_bytes() + torch.__version__.encode() + sys.version.encode() + _cpu_flags().encode()
           + " ".join(CFLAGS).encode())
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
                extra_cflags=list(CFLAGS), verbose=False,
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


@torch.compiler.assume_constant_result  # torch.compile: one answer per process, not traced
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


def bf16_products(device: torch.device) -> bool:
    """Whether a layer's kernel call on ``device`` runs with bfloat16 products: CPU autocast to
    bfloat16 is on. The layer then hands the kernel ``W_hh`` in bfloat16 and everything else in
    float32 (see the module docstring)."""
    return (device.type == "cpu" and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == torch.bfloat16)


def supports(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether inputs on ``device`` in ``dtype`` can go through the kernels: CPU, float32/float64;
    under CPU autocast, only to bfloat16 (the products in bfloat16, as autocast would compute
    them, the rest in float32; the inputs float32 or already bfloat16)."""
    if device.type != "cpu":
        return False
    if torch.is_autocast_enabled("cpu"):
        return bf16_products(device) and dtype in (torch.float32, torch.bfloat16)
    return dtype in SUPPORTED_DTYPES


GEMM_ROUTES = ("auto", "mm", "onednn")
_SCALAR_NAMES = {"Float": "float32", "BFloat16": "bfloat16", "Double": "float64"}  # c10's names -> torch's


def set_gemm_route(route: str) -> None:
    """How the kernels compute each step's recurrent product (float32): ``"auto"`` (the default:
    measured once per shape, thread count and process, the faster kept), ``"mm"`` (``at::mm``,
    the BLAS torch was built with: MKL in the x86 wheels) or ``"onednn"`` (oneDNN's matmul, the
    weight reordered once per sequence). Process-wide, like torch's thread count; the environment's
    ``RNNKIT_GEMM_ROUTE`` sets it at start. The two round differently in the last bits: fix one
    where runs in different processes must agree bit for bit (a resumed run, say)."""
    if route not in GEMM_ROUTES:
        raise ValueError(f"set_gemm_route: expected one of {list(GEMM_ROUTES)}, got {route!r}")
    _ops().set_gemm_route(route)


STEP_SPLITS = ("auto", "none", "rows", "units")


def set_step_split(mode: str = "auto", parts: int = 2) -> None:
    """How the kernels share a small step among threads. A step whose recurrent product is under
    ~4 MFLOP is too small for the BLAS to thread, and ran on one thread. ``"auto"`` (the default)
    shares it: ``"rows"``, the batch cut into one block per thread, each thread running the whole
    sequence for its rows with no waiting (rows never meet in a recurrence); ``"units"`` (LSTM,
    a batch of one), the hidden units cut into slices of at least 32, each thread making its
    slice's product and gate math, one fork and join per step. Only where it pays: the call's
    products at least 2 MFLOP for rows; a step's 0.1 MFLOP and 8 steps or more for units (a stream
    fed step by step is not sliced). ``"none"``: one thread, as before. ``"rows"`` or ``"units"``
    force that way with ``parts`` parts wherever it fits (``parts`` rows at least; ``parts``
    dividing the hidden size), whatever the thread count and shape (the tests use it).
    Process-wide."""
    if mode not in STEP_SPLITS:
        raise ValueError(f"set_step_split: expected one of {list(STEP_SPLITS)}, got {mode!r}")
    if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
        raise ValueError(f"set_step_split: expected parts to be a positive int, got {parts!r}")
    _ops().set_step_split(mode, parts)


def step_splits() -> dict[str, object]:
    """How the kernels shared each step shape they met among threads (see :func:`set_step_split`):
    ``{"forced": "auto"|..., "parts": int, "chosen": [{"kernel", "batch", "hidden", "gates",
    "threads", "way", "parts"}, ...]}`` (the latest choice per kernel and shape), ``kernel`` one of
    ``"lstm"``, ``"lstm_ln"``, ``"gru"``, ``"rnn"``, ``way`` ``"rows"``, ``"units"`` or ``"none"``
    (one thread, or the BLAS's own threads for a large product: then :func:`gemm_routes` says which
    product ran)."""
    first, *rest = [line for line in _ops().step_splits().splitlines() if line]
    _, forced, parts = first.split()
    chosen = []
    for line in rest:
        kernel, batch, hidden, threads, gates, way, n = line.split()
        chosen.append({"kernel": kernel, "batch": int(batch), "hidden": int(hidden),
                       "gates": int(gates) // int(hidden), "threads": int(threads), "way": way, "parts": int(n)})
    return {"forced": forced, "parts": int(parts), "chosen": chosen}


def gemm_routes() -> dict[str, object]:
    """What the kernels chose: ``{"forced": "auto"|"mm"|"onednn", "onednn_available": bool,
    "chosen": [{"batch", "in", "out", "threads", "dtype", "route", "why"}, ...]}`` (one entry per
    shape and product dtype met; ``dtype`` ``"float32"`` or ``"bfloat16"``)."""
    first, *rest = [line for line in _ops().gemm_routes().splitlines() if line]
    _, forced, _, available = first.split()
    chosen = []
    for line in rest:
        batch, k, n, threads, dtype, route, why = line.split(" ", 6)
        chosen.append({"batch": int(batch), "in": int(k), "out": int(n), "threads": int(threads),
                       "dtype": _SCALAR_NAMES.get(dtype, dtype), "route": route, "why": why.strip("()")})
    return {"forced": forced, "onednn_available": available == "1", "chosen": chosen}


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


def _needs_grad(*tensors: Tensor | None) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


# -- the custom ops ---------------------------------------------------------------------
#
# Each recurrence is a ``torch.library`` custom op (namespace ``rnnkit_fused``) around its C++
# forward, with a second op for its backward. Each op has a fake implementation (shapes only),
# so torch.compile and torch.export trace through it, and a vmap rule. The autograd formula is an
# ``autograd.Function`` in the ``setup_context`` form with ``generate_vmap_rule``, so torch.func's
# grad, vmap, jacrev and functional_call work too (torch 2.13's ``register_autograd`` generates a
# Function without ``setup_context``, which torch.func refuses: pytorch/pytorch#168393). The
# backward op is not itself differentiable: under ``create_graph=True`` the backward takes the
# readable path instead (:func:`readable_sequence` on the saved inputs), whose autograd gives the
# exact higher-order gradients; the saved inputs are what that costs in memory.
#
# Absent optional inputs travel as empty tensors and a zoneout rate as a 0-dim float64 tensor
# (see ``_arg``); each forward op also returns what its backward needs (``hs``, ``act``, ...).


def _empty(like: Tensor) -> Tensor:
    return like.new_empty(0)


def _plain(args: tuple) -> bool:
    """Whether every tensor in ``args`` is a plain eager tensor (not traced by torch.compile or
    torch.export, not fake, not wrapped by a torch.func transform)."""
    if torch.compiler.is_compiling():
        return False
    wrapped = getattr(torch._C._functorch, "is_functorch_wrapped_tensor", lambda t: False)
    return all(not isinstance(a, Tensor) or (type(a) in (Tensor, torch.nn.Parameter) and not wrapped(a))
               for a in args)


class _FusedOp:
    """A ``torch.library`` custom op and the plain function behind it. A call on plain eager
    tensors runs the function directly (the op's Python dispatch costs a few hundred microseconds
    a call, which short sequences feel); traced, fake or transformed tensors go through the op."""

    def __init__(self, name: str, function) -> None:
        self.function = function
        self.op = torch.library.custom_op(name, mutates_args=())(function)
        self.register_fake = self.op.register_fake

    def __call__(self, *args):
        return (self.function if _plain(args) else self.op)(*args)


def _fused(name: str):
    return lambda function: _FusedOp(name, function)


def _vmap_by_slices(op):
    """A vmap rule for ``op``: the op on each slice of the vmapped dimension, stacked. Exact for
    every op and every batched argument (weights included), at the cost of one call per slice."""

    def rule(info, in_dims, *args):
        slices = [op(*(a if d is None else a.select(d, i) for a, d in zip(args, in_dims)))
                  for i in range(info.batch_size)]
        outputs = tuple(torch.stack(parts) for parts in zip(*slices))
        return outputs, (0,) * len(outputs)

    return rule


def _given(t: Tensor) -> Tensor | None:
    """The op's form of an optional tensor back to the readable one: empty is absent."""
    return t if t.numel() else None


def _zoneout_arg(keep: Tensor) -> Tensor | float | None:
    """The op's form of a zoneout argument back to the readable one: None, a rate, or the mask."""
    if keep.numel() == 0:
        return None
    return float(keep) if keep.dim() == 0 else keep


def readable_sequence(step, xg: Tensor, leaves: tuple[Tensor, ...], keep: tuple[Tensor | float | None, ...],
                      valid: Tensor | None) -> tuple[Tensor, tuple[Tensor, ...]]:
    """The kernels' contract stepped in Python: ``step(xg_t, leaves) -> new leaves`` each step,
    then zoneout (a bool mask keeps the old value, a rate blends: ``rate * old + (1 - rate) * new``)
    and lengths (``valid`` ``(T, B)`` of 0/1: the old state carried and a zero output where 0).
    Returns ``(output (T, B, H), final leaves)``. Every op is torch's, so autograd differentiates
    it to any order: the kernels' double-backward path."""
    outputs = []
    for t in range(xg.shape[0]):
        new = step(xg[t], leaves)
        new = tuple(n if k is None else torch.where(k[t], old, n) if isinstance(k, Tensor) else k * old + (1 - k) * n
                    for n, old, k in zip(new, leaves, keep))
        out = new[0]
        if valid is not None:
            carry = valid[t].unsqueeze(-1) > 0
            new = tuple(torch.where(carry, n, old) for n, old in zip(new, leaves))
            out = torch.where(carry, new[0], torch.zeros_like(new[0]))
        leaves = new
        outputs.append(out)
    return torch.stack(outputs), leaves


def _higher_order(ctx, readable, grad_outputs: tuple[Tensor, ...]) -> tuple[Tensor | None, ...]:
    """The backward when its result must itself be differentiable (``create_graph=True``, and
    inside torch.func's transforms): the vector-Jacobian product of the readable path on the
    saved inputs, through ``torch.func.vjp`` so that both autograd and torch.func can
    differentiate it again. ``readable(*inputs) -> outputs`` matching ``grad_outputs``."""
    inputs = list(ctx.saved_tensors[: len(ctx.positions)])
    wanted = [k for k, i in enumerate(ctx.positions) if ctx.needs_input_grad[i]]

    def of_wanted(*chosen: Tensor) -> tuple[Tensor, ...]:
        full = list(inputs)
        for k, t in zip(wanted, chosen):
            full[k] = t
        # a bfloat16 W_hh (bfloat16 products) widened to the inputs' dtype: the readable path is exact
        return readable(*(t.to(full[0].dtype) if t.dtype == torch.bfloat16 else t for t in full))

    _, pullback = torch.func.vjp(of_wanted, *(inputs[k] for k in wanted))
    result: list[Tensor | None] = [None] * len(ctx.needs_input_grad)
    for k, g in zip(wanted, pullback(tuple(grad_outputs))):
        result[ctx.positions[k]] = g
    return tuple(result)


def _save_inputs(ctx, inputs: tuple, positions: list[int], extra: tuple[Tensor, ...],
                 graded: tuple[Tensor, ...]) -> None:
    """Save the tensor inputs at ``positions`` (for the double-backward path), then the
    forward's ``extra`` outputs (for the backward op). ``graded``: the differentiable outputs,
    whose gradients arrive as None when unused (autograd would otherwise fill zeros for every
    output, the large saved ones included; :func:`_materialized` fills only what is needed)."""
    ctx.positions = positions
    ctx.save_for_backward(*(inputs[i] for i in positions), *extra)
    ctx.set_materialize_grads(False)
    ctx.graded = [(t.shape, t.dtype, t.device) for t in graded]


def _materialized(ctx, grads: tuple[Tensor | None, ...]) -> tuple[Tensor, ...]:
    """The differentiable outputs' gradients, zeros where an output was unused."""
    return tuple(torch.zeros(shape, dtype=dtype, device=device) if g is None else g
                 for g, (shape, dtype, device) in zip(grads, ctx.graded))


# -- LSTM --------------------------------------------------------------------------------


@_fused("rnnkit_fused::lstm")
def _lstm_op(xg: Tensor, h0: Tensor, c0: Tensor, weight_hh: Tensor, weight_ch: Tensor, recurrent_mask: Tensor,
             keep_h: Tensor, keep_c: Tensor, valid: Tensor, save: bool
             ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    out, hs, cs, act = _ops().lstm_forward(xg, h0, c0, weight_hh, weight_ch, recurrent_mask, keep_h, keep_c, valid,
                                           save)
    return out, hs[-1].clone(), cs[-1].clone(), hs, cs, act


@_lstm_op.register_fake
def _(xg, h0, c0, weight_hh, weight_ch, recurrent_mask, keep_h, keep_c, valid, save):
    T, B, H = xg.shape[0], xg.shape[1], weight_hh.shape[1]
    return (xg.new_empty(T, B, H), h0.new_empty(B, H), c0.new_empty(B, H), xg.new_empty(T + 1, B, H),
            xg.new_empty(T + 1, B, H), xg.new_empty(T if save else 1, B, 4 * H))


@_fused("rnnkit_fused::lstm_backward")
def _lstm_backward_op(d_out: Tensor, d_h: Tensor, d_c: Tensor, weight_hh: Tensor, weight_ch: Tensor,
                      recurrent_mask: Tensor, keep_h: Tensor, keep_c: Tensor, valid: Tensor, hs: Tensor,
                      cs: Tensor, act: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    d_gates, d_h0, d_c0, d_whh, c_new = _ops().lstm_backward(
        d_out.contiguous(), d_h.contiguous(), d_c.contiguous(), weight_hh, weight_ch, recurrent_mask, keep_h, keep_c,
        valid, act, hs, cs)
    d_wch = _peephole_grad(d_gates, cs, c_new, weight_hh.shape[1]) if weight_ch.numel() else _empty(weight_ch)
    return d_gates, d_h0, d_c0, d_whh, d_wch


@_lstm_backward_op.register_fake
def _(d_out, d_h, d_c, weight_hh, weight_ch, recurrent_mask, keep_h, keep_c, valid, hs, cs, act):
    return (torch.empty_like(act), torch.empty_like(d_h), torch.empty_like(d_c), torch.empty_like(weight_hh),
            torch.empty_like(weight_ch))


def _lstm_setup(ctx, inputs, output):
    _save_inputs(ctx, inputs, list(range(9)), output[3:], output[:3])


def _lstm_readable(xg, h0, c0, weight_hh, weight_ch, recurrent_mask, keep_h, keep_c, valid, ln=(None,) * 4):
    """The LSTM kernels' contract in readable form; ``ln``: the gains and shifts of ``LN(W_hh h)``
    and ``LN(c)`` for the layer-normalized kernel."""
    def step(x, leaves):
        _, state = recurrences.lstm_recurrence(x, leaves, weight_hh, weight_ch=_given(weight_ch), ln_hh_weight=ln[0],
                                               ln_hh_bias=ln[1], ln_c_weight=ln[2], ln_c_bias=ln[3],
                                               recurrent_mask=_given(recurrent_mask))
        return state

    out, (h, c) = readable_sequence(step, xg, (h0, c0), (_zoneout_arg(keep_h), _zoneout_arg(keep_c)), _given(valid))
    return out, h, c


def _lstm_backward(ctx, d_out, d_h, d_c, *_):
    d_out, d_h, d_c = _materialized(ctx, (d_out, d_h, d_c))
    if torch.is_grad_enabled():
        return _higher_order(ctx, _lstm_readable, (d_out, d_h, d_c))
    saved = ctx.saved_tensors
    weight_hh, weight_ch, recurrent_mask, keep_h, keep_c, valid = saved[3:9]
    d_gates, d_h0, d_c0, d_whh, d_wch = _lstm_backward_op(d_out, d_h, d_c, weight_hh, weight_ch, recurrent_mask,
                                                          keep_h, keep_c, valid, *saved[9:])
    return d_gates, d_h0, d_c0, d_whh, d_wch if weight_ch.numel() else None, None, None, None, None, None


torch.library.register_vmap("rnnkit_fused::lstm", _vmap_by_slices(_lstm_op))
torch.library.register_vmap("rnnkit_fused::lstm_backward", _vmap_by_slices(_lstm_backward_op))


# The four Functions below are the same three lines each, spelled out rather than made by a
# factory: torch.compile traces a Function whose forward names a module-level op, and cannot
# trace one whose forward closes over it.
class _LSTMSequence(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(*inputs):
        return _lstm_op(*inputs)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.mark_non_differentiable(*output[3:])
        _lstm_setup(ctx, inputs, output)

    @staticmethod
    def backward(ctx, *grads):
        return _lstm_backward(ctx, *grads)


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
    out, h, c, *_ = _LSTMSequence.apply(*args, _needs_grad(xg, h0, c0, weight_hh, weight_ch))
    return out, (h, c)


# -- LSTM with layer normalization -------------------------------------------------------


@_fused("rnnkit_fused::lstm_ln")
def _lstm_ln_op(xp: Tensor, h0: Tensor, c0: Tensor, weight_hh: Tensor, ln_ih_w: Tensor, ln_hh_w: Tensor,
                shift: Tensor, ln_c_w: Tensor, ln_c_b: Tensor, weight_ch: Tensor, recurrent_mask: Tensor,
                keep_h: Tensor, keep_c: Tensor, valid: Tensor, save: bool
                ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    out, hs, cs, act, xin, xhat, chat, rstd = _ops().lstm_ln_forward(
        xp, h0, c0, weight_hh, ln_ih_w, ln_hh_w, shift, ln_c_w, ln_c_b, weight_ch, recurrent_mask, keep_h, keep_c,
        valid, save)
    return out, hs[-1].clone(), cs[-1].clone(), hs, cs, act, xin, xhat, chat, rstd


@_lstm_ln_op.register_fake
def _(xp, h0, c0, weight_hh, ln_ih_w, ln_hh_w, shift, ln_c_w, ln_c_b, weight_ch, recurrent_mask, keep_h, keep_c,
      valid, save):
    T, B, H = xp.shape[0], xp.shape[1], weight_hh.shape[1]
    S = T if save else 1
    return (xp.new_empty(T, B, H), h0.new_empty(B, H), c0.new_empty(B, H), xp.new_empty(T + 1, B, H),
            xp.new_empty(T + 1, B, H), xp.new_empty(S, B, 4 * H), xp.new_empty(S, B, 4 * H),
            xp.new_empty(S, B, 4 * H), xp.new_empty(S, B, H), xp.new_empty(S, B, 9))


@_fused("rnnkit_fused::lstm_ln_backward")
def _lstm_ln_backward_op(d_out: Tensor, d_h: Tensor, d_c: Tensor, weight_hh: Tensor, ln_ih_w: Tensor,
                         ln_hh_w: Tensor, shift: Tensor, ln_c_w: Tensor, ln_c_b: Tensor, weight_ch: Tensor,
                         recurrent_mask: Tensor, keep_h: Tensor, keep_c: Tensor, valid: Tensor, hs: Tensor,
                         cs: Tensor, act: Tensor, xin: Tensor, xhat: Tensor, chat: Tensor, rstd: Tensor
                         ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    grads = _ops().lstm_ln_backward(
        d_out.contiguous(), d_h.contiguous(), d_c.contiguous(), weight_hh, ln_ih_w, ln_hh_w, shift, ln_c_w, ln_c_b,
        weight_ch, recurrent_mask, keep_h, keep_c, valid, act, xin, xhat, chat, rstd, hs, cs)
    return tuple(grads)


@_lstm_ln_backward_op.register_fake
def _(d_out, d_h, d_c, weight_hh, ln_ih_w, ln_hh_w, shift, ln_c_w, ln_c_b, weight_ch, recurrent_mask, keep_h,
      keep_c, valid, hs, cs, act, xin, xhat, chat, rstd):
    return tuple(torch.empty_like(t) for t in (act, d_h, d_c, weight_hh, ln_ih_w, ln_hh_w, shift, ln_c_w, ln_c_b,
                                               weight_ch))


def _lstm_ln_setup(ctx, inputs, output):
    _save_inputs(ctx, inputs, list(range(14)), output[3:], output[:3])


def _lstm_ln_readable(xp, h0, c0, weight_hh, ln_ih_w, ln_hh_w, shift, ln_c_w, ln_c_b, weight_ch, recurrent_mask,
                      keep_h, keep_c, valid):
    xg = recurrences.gate_layer_norm(xp, None, None, num_gates=4) * ln_ih_w + shift
    return _lstm_readable(xg, h0, c0, weight_hh, weight_ch, recurrent_mask, keep_h, keep_c, valid,
                          (ln_hh_w, torch.zeros_like(shift), ln_c_w, ln_c_b))


def _lstm_ln_backward(ctx, d_out, d_h, d_c, *_):
    d_out, d_h, d_c = _materialized(ctx, (d_out, d_h, d_c))
    if torch.is_grad_enabled():
        return _higher_order(ctx, _lstm_ln_readable, (d_out, d_h, d_c))
    saved = ctx.saved_tensors
    weight_ch = saved[9]
    grads = _lstm_ln_backward_op(d_out, d_h, d_c, *saved[3:14], *saved[14:])
    return (*grads[:9], grads[9] if weight_ch.numel() else None, None, None, None, None, None)


torch.library.register_vmap("rnnkit_fused::lstm_ln", _vmap_by_slices(_lstm_ln_op))
torch.library.register_vmap("rnnkit_fused::lstm_ln_backward", _vmap_by_slices(_lstm_ln_backward_op))


class _LayerNormLSTMSequence(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(*inputs):
        return _lstm_ln_op(*inputs)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.mark_non_differentiable(*output[3:])
        _lstm_ln_setup(ctx, inputs, output)

    @staticmethod
    def backward(ctx, *grads):
        return _lstm_ln_backward(ctx, *grads)


def _peephole_grad(d_pre: Tensor, cs: Tensor, c_new: Tensor, H: int) -> Tensor:
    """d(p_i, p_f, p_o): the i and f gates see c_{t-1}, the o gate the new c_t."""
    c_prev = cs[:-1]
    return torch.cat([
        (d_pre[..., :H] * c_prev).sum((0, 1)),
        (d_pre[..., H:2 * H] * c_prev).sum((0, 1)),
        (d_pre[..., 3 * H:] * c_new).sum((0, 1)),
    ])


def layer_norm_lstm_sequence(
    xp: Tensor,
    state: tuple[Tensor, Tensor],
    weight_hh: Tensor,
    ln_ih: tuple[Tensor, Tensor],
    ln_hh: tuple[Tensor, Tensor],
    ln_c: tuple[Tensor, Tensor],
    weight_ch: Tensor | None = None,
    *,
    bias: Tensor | None = None,
    recurrent_mask: Tensor | None = None,
    keep: tuple[Tensor | float | None, Tensor | float | None] = (None, None),
    valid: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Layer-normalized LSTM over a sequence; see :func:`~rnnkit.functional.lstm_recurrence`.

    ``xp`` ``(T, B, 4H)`` = ``W_ih x_t``, raw: the kernel normalizes each gate block of it.
    ``ln_ih`` and ``ln_hh`` the ``(4H,)`` gains and shifts of ``LN(W_ih x)`` and ``LN(W_hh h)``;
    ``ln_c`` the ``(H,)`` gain and shift of ``LN(c_t)``; ``bias`` ``(4H,)`` (``b_ih + b_hh``) or
    None. The gates are ``LN(xp) * g_ih + LN(W_hh h) * g_hh + shift``, every shift and bias summed.
    Returns ``(output (T, B, H), (h_T, c_T))``.
    """
    h0, c0 = state
    shift = ln_ih[1] + ln_hh[1] if bias is None else ln_ih[1] + ln_hh[1] + bias
    tensors = (xp, h0, c0, weight_hh, ln_ih[0], ln_hh[0], shift, *ln_c, weight_ch, recurrent_mask, keep[0], keep[1],
               valid)
    args = [_arg(t, xp) for t in tensors]
    out, h, c, *_ = _LayerNormLSTMSequence.apply(
        *args, _needs_grad(xp, h0, c0, weight_hh, ln_ih[0], ln_hh[0], shift, *ln_c, weight_ch))
    return out, (h, c)


# -- GRU ---------------------------------------------------------------------------------


@_fused("rnnkit_fused::gru")
def _gru_op(xg: Tensor, h0: Tensor, weight_hh: Tensor, bias_hh: Tensor, recurrent_mask: Tensor, keep_h: Tensor,
            valid: Tensor, save: bool) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    out, hs, hg, n = _ops().gru_forward(xg, h0, weight_hh, bias_hh, recurrent_mask, keep_h, valid, save)
    return out, hs[-1].clone(), hs, hg, n


@_gru_op.register_fake
def _(xg, h0, weight_hh, bias_hh, recurrent_mask, keep_h, valid, save):
    T, B, H = xg.shape[0], xg.shape[1], weight_hh.shape[1]
    S = T if save else 1
    return (xg.new_empty(T, B, H), h0.new_empty(B, H), xg.new_empty(T + 1, B, H), xg.new_empty(S, B, 3 * H),
            xg.new_empty(S, B, H))


@_fused("rnnkit_fused::gru_backward")
def _gru_backward_op(d_out: Tensor, d_h: Tensor, weight_hh: Tensor, bias_hh: Tensor, recurrent_mask: Tensor,
                     keep_h: Tensor, valid: Tensor, hs: Tensor, hg: Tensor, n: Tensor
                     ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    d_xg, d_hg, d_h0, d_whh = _ops().gru_backward(d_out.contiguous(), d_h.contiguous(), weight_hh, recurrent_mask,
                                                  keep_h, valid, hg, n, hs)
    return d_xg, d_h0, d_whh, d_hg.sum((0, 1)) if bias_hh.numel() else _empty(bias_hh)


@_gru_backward_op.register_fake
def _(d_out, d_h, weight_hh, bias_hh, recurrent_mask, keep_h, valid, hs, hg, n):
    return torch.empty_like(hg), torch.empty_like(d_h), torch.empty_like(weight_hh), torch.empty_like(bias_hh)


def _gru_setup(ctx, inputs, output):
    _save_inputs(ctx, inputs, list(range(7)), output[2:], output[:2])


def _gru_readable(xg, h0, weight_hh, bias_hh, recurrent_mask, keep_h, valid):
    def step(x, leaves):
        _, h = recurrences.gru_recurrence(x, leaves[0], weight_hh, _given(bias_hh),
                                          recurrent_mask=_given(recurrent_mask))
        return (h,)

    out, (h,) = readable_sequence(step, xg, (h0,), (_zoneout_arg(keep_h),), _given(valid))
    return out, h


def _gru_backward(ctx, d_out, d_h, *_):
    d_out, d_h = _materialized(ctx, (d_out, d_h))
    if torch.is_grad_enabled():
        return _higher_order(ctx, _gru_readable, (d_out, d_h))
    saved = ctx.saved_tensors
    bias_hh = saved[3]
    d_xg, d_h0, d_whh, d_bhh = _gru_backward_op(d_out, d_h, *saved[2:7], *saved[7:])
    return d_xg, d_h0, d_whh, d_bhh if bias_hh.numel() else None, None, None, None, None


torch.library.register_vmap("rnnkit_fused::gru", _vmap_by_slices(_gru_op))
torch.library.register_vmap("rnnkit_fused::gru_backward", _vmap_by_slices(_gru_backward_op))


class _GRUSequence(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(*inputs):
        return _gru_op(*inputs)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.mark_non_differentiable(*output[2:])
        _gru_setup(ctx, inputs, output)

    @staticmethod
    def backward(ctx, *grads):
        return _gru_backward(ctx, *grads)


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
    out, h, *_ = _GRUSequence.apply(*args, _needs_grad(xg, h0, weight_hh, bias_hh))
    return out, h


# -- Elman RNN ---------------------------------------------------------------------------


@_fused("rnnkit_fused::rnn")
def _rnn_op(xg: Tensor, h0: Tensor, weight_hh: Tensor, relu: bool, recurrent_mask: Tensor, keep_h: Tensor,
            valid: Tensor, save: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    out, hs, hn = _ops().rnn_forward(xg, h0, weight_hh, relu, recurrent_mask, keep_h, valid, save)
    return out, hs[-1].clone(), hs, hn


@_rnn_op.register_fake
def _(xg, h0, weight_hh, relu, recurrent_mask, keep_h, valid, save):
    T, B, H = xg.shape[0], xg.shape[1], weight_hh.shape[1]
    return xg.new_empty(T, B, H), h0.new_empty(B, H), xg.new_empty(T + 1, B, H), xg.new_empty(T if save else 1, B, H)


@_fused("rnnkit_fused::rnn_backward")
def _rnn_backward_op(d_out: Tensor, d_h: Tensor, weight_hh: Tensor, relu: bool, recurrent_mask: Tensor,
                     keep_h: Tensor, valid: Tensor, hs: Tensor, hn: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    d_xg, d_h0, d_whh = _ops().rnn_backward(d_out.contiguous(), d_h.contiguous(), weight_hh, relu, recurrent_mask,
                                            keep_h, valid, hn, hs)
    return d_xg, d_h0, d_whh


@_rnn_backward_op.register_fake
def _(d_out, d_h, weight_hh, relu, recurrent_mask, keep_h, valid, hs, hn):
    return torch.empty_like(hn), torch.empty_like(d_h), torch.empty_like(weight_hh)


def _rnn_setup(ctx, inputs, output):
    ctx.relu = inputs[3]
    _save_inputs(ctx, inputs, [0, 1, 2, 4, 5, 6], output[2:], output[:2])


def _rnn_backward(ctx, d_out, d_h, *_):
    d_out, d_h = _materialized(ctx, (d_out, d_h))
    relu = ctx.relu
    if torch.is_grad_enabled():
        def readable(xg, h0, weight_hh, recurrent_mask, keep_h, valid):
            def step(x, leaves):
                _, h = recurrences.rnn_recurrence(x, leaves[0], weight_hh, nonlinearity="relu" if relu else "tanh",
                                                  recurrent_mask=_given(recurrent_mask))
                return (h,)

            out, (h,) = readable_sequence(step, xg, (h0,), (_zoneout_arg(keep_h),), _given(valid))
            return out, h

        return _higher_order(ctx, readable, (d_out, d_h))
    saved = ctx.saved_tensors
    d_xg, d_h0, d_whh = _rnn_backward_op(d_out, d_h, saved[2], relu, *saved[3:6], *saved[6:])
    return d_xg, d_h0, d_whh, None, None, None, None, None


torch.library.register_vmap("rnnkit_fused::rnn", _vmap_by_slices(_rnn_op))
torch.library.register_vmap("rnnkit_fused::rnn_backward", _vmap_by_slices(_rnn_backward_op))


class _RNNSequence(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(*inputs):
        return _rnn_op(*inputs)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.mark_non_differentiable(*output[2:])
        _rnn_setup(ctx, inputs, output)

    @staticmethod
    def backward(ctx, *grads):
        return _rnn_backward(ctx, *grads)


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
    out, h, *_ = _RNNSequence.apply(*args, relu, *masks, _needs_grad(xg, h0, weight_hh))
    return out, h
