"""rnnkit's fused kernels equal the readable recurrences stepped in Python (float64, values and gradients).

The reference below steps ``rnnkit.functional.*_recurrence`` and applies zoneout and lengths
the way their definitions read (a blend with the previous state by the keep mask; the old
state and a zero output where a step is past the sequence's length), independently of the
kernels' combined coefficient.
"""

from __future__ import annotations

import itertools
import zlib

import pytest
import torch

import rnnkit as rk
from rnnkit.functional import gate_layer_norm, gru_recurrence, lstm_recurrence, rnn_recurrence
from rnnkit.functional import kernels

pytestmark = pytest.mark.skipif(not kernels.available(), reason="fused kernels not built (no compiler)")

T, B, H = 7, 5, 6


def reference(kind, xg, state, weights, rmask, keep, valid):  # noqa: ANN001, ANN201
    """Step the readable recurrence; ``keep`` per state leaf: a bool (T, B, H) mask, a rate, or None;
    ``valid`` (T, B) bool or None."""
    leaves = state if isinstance(state, tuple) else (state,)
    outputs = []
    for t in range(xg.shape[0]):
        current = leaves if len(leaves) > 1 else leaves[0]
        if kind.startswith("lstm"):
            ln = {k: v for k, v in weights.items() if k.startswith(("ln_hh", "ln_c"))}
            x_t = xg[t]
            if kind == "lstm_ln":  # the kernel reads W_ih x raw: LN(W_ih x) * g + b_ih + b_hh outside the recurrence
                x_t = gate_layer_norm(x_t, weights["ln_ih_weight"], weights["ln_ih_bias"], 4) + weights["bias"]
            h, new = lstm_recurrence(x_t, current, weights["weight_hh"], weight_ch=weights.get("weight_ch"),
                                     recurrent_mask=rmask, **ln)
        elif kind == "gru":
            h, new = gru_recurrence(xg[t], current, weights["weight_hh"], weights.get("bias_hh"), recurrent_mask=rmask)
        else:
            h, new = rnn_recurrence(xg[t], current, weights["weight_hh"], nonlinearity=kind.split("_")[1],
                                    recurrent_mask=rmask)
        new = new if isinstance(new, tuple) else (new,)
        new = tuple(
            n if k is None else (torch.where(k[t], old, n) if isinstance(k, torch.Tensor) else k * old + (1 - k) * n)
            for n, old, k in zip(new, leaves, keep)
        )
        out = new[0]
        if valid is not None:
            v = valid[t][:, None]
            new = tuple(torch.where(v, n, old) for n, old in zip(new, leaves))
            out = torch.where(v, new[0], torch.zeros_like(out))
        leaves = new
        outputs.append(out)
    return torch.stack(outputs), (leaves if len(leaves) > 1 else leaves[0])


def run_kernel(kind, xg, state, weights, rmask, keep, valid):  # noqa: ANN001, ANN201
    valid_f = None if valid is None else valid.to(xg.dtype)
    if kind == "lstm_ln":
        return kernels.layer_norm_lstm_sequence(
            xg, state, weights["weight_hh"], (weights["ln_ih_weight"], weights["ln_ih_bias"]),
            (weights["ln_hh_weight"], weights["ln_hh_bias"]), (weights["ln_c_weight"], weights["ln_c_bias"]),
            weights.get("weight_ch"), bias=weights["bias"], recurrent_mask=rmask, keep=keep, valid=valid_f,
        )
    if kind == "lstm":
        return kernels.lstm_sequence(xg, state, weights["weight_hh"], weights.get("weight_ch"),
                                     recurrent_mask=rmask, keep=keep, valid=valid_f)
    if kind == "gru":
        return kernels.gru_sequence(xg, state, weights["weight_hh"], weights.get("bias_hh"),
                                    recurrent_mask=rmask, keep=keep[0], valid=valid_f)
    return kernels.rnn_sequence(xg, state, weights["weight_hh"], nonlinearity=kind.split("_")[1],
                                recurrent_mask=rmask, keep=keep[0], valid=valid_f)


def make_case(kind, peephole, rmask, zoneout, lengths, dtype=torch.float64, shape=(T, B, H)):  # noqa: ANN001, ANN201
    T, B, H = shape  # noqa: N806
    gen = torch.Generator().manual_seed(zlib.crc32(repr((kind, peephole, rmask, zoneout, lengths)).encode()))

    def rand(*shape, scale=1.0):  # noqa: ANN202
        return (torch.randn(*shape, generator=gen, dtype=dtype) * scale).requires_grad_()

    G = {"lstm": 4, "lstm_ln": 4, "gru": 3}.get(kind, 1)
    xg = rand(T, B, G * H)
    weights = {"weight_hh": rand(G * H, H, scale=0.5)}
    if kind.startswith("lstm") and peephole:
        weights["weight_ch"] = rand(3 * H, scale=0.5)
    if kind == "lstm_ln":
        for name, size in (("ln_ih", 4 * H), ("ln_hh", 4 * H), ("ln_c", H)):
            weights[f"{name}_weight"] = (1 + 0.3 * torch.randn(size, generator=gen, dtype=dtype)).requires_grad_()
            weights[f"{name}_bias"] = rand(size, scale=0.3)
        weights["bias"] = rand(4 * H, scale=0.3)  # b_ih + b_hh
    if kind == "gru":
        weights["bias_hh"] = rand(G * H, scale=0.5)
    leaves = 2 if kind.startswith("lstm") else 1
    state = tuple(rand(B, H) for _ in range(leaves))
    state = state if leaves == 2 else state[0]
    mask = None
    if rmask:
        mask = (torch.rand(B, H, generator=gen, dtype=dtype) > 0.3).to(dtype) / 0.7
    keep = [None] * leaves
    if zoneout == "train":
        keep = [torch.rand(T, B, H, generator=gen, dtype=dtype) < 0.3 for _ in range(leaves)]
    elif zoneout == "eval":
        keep = [0.2, 0.35][:leaves]
    valid = None
    if lengths:
        lens = torch.tensor([T, 3, 1, 5, 2]) if B == 5 else torch.randint(1, T + 1, (B,), generator=gen)
        valid = torch.arange(T)[:, None] < lens[None, :]
    return xg, state, weights, mask, tuple(keep), valid


CASES = list(itertools.product(
    ["lstm", "lstm_ln", "gru", "rnn_tanh", "rnn_relu"], [False, True], [False, True], [None, "train", "eval"],
    [False, True],
))


@pytest.mark.parametrize("kind,peephole,rmask,zoneout,lengths",
                         [c for c in CASES if c[0].startswith("lstm") or not c[1]])
def test_kernel_equals_reference(kind, peephole, rmask, zoneout, lengths) -> None:  # noqa: ANN001
    xg, state, weights, mask, keep, valid = make_case(kind, peephole, rmask, zoneout, lengths)
    out_r, fin_r = reference(kind, xg, state, weights, mask, keep, valid)
    out_k, fin_k = run_kernel(kind, xg, state, weights, mask, keep, valid)
    fin_r = fin_r if isinstance(fin_r, tuple) else (fin_r,)
    fin_k = fin_k if isinstance(fin_k, tuple) else (fin_k,)
    torch.testing.assert_close(out_k, out_r, rtol=0, atol=1e-13)
    for a, b in zip(fin_k, fin_r):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-13)
    gen = torch.Generator().manual_seed(1)
    upstream = [torch.randn(t.shape, generator=gen, dtype=t.dtype) for t in (out_r, *fin_r)]
    inputs = [xg, *(state if isinstance(state, tuple) else (state,)), *weights.values()]
    grads_r = torch.autograd.grad([out_r, *fin_r], inputs, upstream)
    grads_k = torch.autograd.grad([out_k, *fin_k], inputs, upstream)
    for name, a, b in zip(["xg", "state", "state", *weights], grads_k, grads_r):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12, msg=lambda m, n=name: f"{n}: {m}")


def check_against_reference(kind, case, atol=1e-12, rtol=1e-12) -> None:  # noqa: ANN001
    xg, state, weights, mask, keep, valid = case
    out_r, fin_r = reference(kind, xg, state, weights, mask, keep, valid)
    out_k, fin_k = run_kernel(kind, xg, state, weights, mask, keep, valid)
    fin_r = fin_r if isinstance(fin_r, tuple) else (fin_r,)
    fin_k = fin_k if isinstance(fin_k, tuple) else (fin_k,)
    for a, b in zip((out_k, *fin_k), (out_r, *fin_r)):  # relu RNNs grow large: a relative part too
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol)
    gen = torch.Generator().manual_seed(1)
    upstream = [torch.randn(t.shape, generator=gen, dtype=t.dtype) for t in (out_r, *fin_r)]
    states = state if isinstance(state, tuple) else (state,)
    inputs = [xg, *states, *weights.values()]
    grads_r = torch.autograd.grad([out_r, *fin_r], inputs, upstream)
    grads_k = torch.autograd.grad([out_k, *fin_k], inputs, upstream)
    for name, a, b in zip(["xg", *(["state"] * len(states)), *weights], grads_k, grads_r):
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol, msg=lambda m, n=name: f"{n}: {m}")


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)
    kernels.set_step_split("auto")


KINDS = [("lstm", True, True, "train", True), ("lstm", False, False, "eval", False), ("lstm_ln", True, True, "train", True),
         ("gru", False, True, "train", True), ("rnn_tanh", False, True, "train", True), ("rnn_relu", False, False, None,
                                                                                         False)]


# (T, B, H) on two threads, automatic: B x GH x H over the BLAS-threaded product's 4 MFLOP, the row passes shared;
# under it (and the call's products over 2 MFLOP), the rows split into blocks; a batch of one, the LSTM's units split
@pytest.mark.parametrize("shape", [(3, 130, 64), (8, 12, 128), (8, 1, 128)], ids=["threaded", "rows", "one-row"])
@pytest.mark.parametrize("kind,peephole,rmask,zoneout,lengths", KINDS)
def test_kernel_equals_reference_with_two_threads(kind, peephole, rmask, zoneout, lengths, shape, two_threads) -> None:  # noqa: ANN001
    # sums over 8 x 12 rows of 128-wide products: float64 rounding reaches ~1e-11 in the weight gradients
    check_against_reference(kind, make_case(kind, peephole, rmask, zoneout, lengths, shape=shape), 1e-10, 1e-10)


@pytest.mark.parametrize("mode,parts", [("rows", 2), ("rows", 3), ("units", 2), ("units", 4)])
@pytest.mark.parametrize("kind,peephole,rmask,zoneout,lengths", KINDS)
def test_kernel_with_its_step_split_equals_reference(kind, peephole, rmask, zoneout, lengths, mode, parts,
                                                     two_threads) -> None:  # noqa: ANN001
    kernels.set_step_split(mode, parts)  # forced, whatever the thread count and shape (units: the LSTM only)
    check_against_reference(kind, make_case(kind, peephole, rmask, zoneout, lengths, shape=(5, 7, 8)))


def test_step_splits_say_how_each_shape_was_shared(two_threads) -> None:
    kernels.set_step_split("auto")
    layer = rk.LSTM(5, 160, impl="rnnkit")  # a size no other test uses; two threads

    def way(batch: int, steps: int) -> tuple[str, int]:
        layer(torch.randn(steps, batch, 5))
        chosen = [c for c in kernels.step_splits()["chosen"]
                  if (c["kernel"], c["batch"], c["hidden"], c["threads"]) == ("lstm", batch, 160, 2)]
        assert len(chosen) == 1
        return chosen[0]["way"], chosen[0]["parts"]

    assert way(3, 10) == ("rows", 2)  # a batch: its rows in blocks (the call's products: 12 MFLOP)
    assert way(2, 2) == ("none", 1)  # too little work in the call (0.8 MFLOP) to fork the threads for
    assert way(1, 8) == ("units", 2)  # one row: its units in slices
    assert way(1, 2) == ("none", 1)  # one row, two steps (a stream): not worth slicing W_hh for


def test_set_step_split_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="set_step_split: expected one of"):
        kernels.set_step_split("columns")
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="set_step_split: expected parts to be a positive int"):
            kernels.set_step_split("rows", bad)


@pytest.mark.parametrize("kind", ["lstm", "lstm_ln", "gru", "rnn_tanh"])
def test_kernel_float32_and_no_grad(kind: str) -> None:
    xg, state, weights, mask, keep, valid = make_case(kind, True, True, "train", True)
    with torch.no_grad():
        out64, _ = run_kernel(kind, xg, state, weights, mask, keep, valid)
        cast = lambda t: t.float() if isinstance(t, torch.Tensor) else t  # noqa: E731
        state32 = tuple(map(cast, state)) if isinstance(state, tuple) else cast(state)
        out32, _ = run_kernel(kind, cast(xg), state32, {k: cast(v) for k, v in weights.items()}, cast(mask),
                              keep, valid)
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32.double(), out64, rtol=0, atol=2e-6)


@pytest.fixture
def gemm_route():
    """Force a route for the test, then back to measuring. The steps are not split among threads
    meanwhile (a split step makes its products by at::mm, whatever the route)."""
    kernels.set_step_split("none")
    yield kernels.set_gemm_route
    kernels.set_gemm_route("auto")
    kernels.set_step_split("auto")


@pytest.mark.parametrize("route", ["mm", "onednn"])
@pytest.mark.parametrize("kind", ["lstm", "lstm_ln", "gru", "rnn_tanh"])
def test_each_gemm_route_gives_the_reference_in_float32(kind: str, route: str, gemm_route) -> None:
    """The per-step product by MKL's (at::mm) or oneDNN's matmul: the float32 kernel, forward and
    backward (with recurrent dropout, which multiplies the product's input and its gradient), against
    the float64 reference."""
    if route == "onednn" and not kernels.gemm_routes()["onednn_available"]:
        pytest.skip("this torch has no oneDNN matmul")
    gemm_route(route)
    assert kernels.gemm_routes()["forced"] == route  # every product of this test takes that route
    xg, state, weights, mask, keep, valid = make_case(kind, True, True, "train", True)
    out64, fin64 = reference(kind, xg, state, weights, mask, keep, valid)
    cast = lambda t: t.detach().float().requires_grad_() if isinstance(t, torch.Tensor) and t.is_floating_point() \
        else t  # noqa: E731
    state32 = tuple(map(cast, state)) if isinstance(state, tuple) else cast(state)
    weights32 = {k: cast(v) for k, v in weights.items()}
    out32, _ = run_kernel(kind, cast(xg), state32, weights32, cast(mask), keep, valid)
    torch.testing.assert_close(out32.double(), out64, rtol=0, atol=2e-6)
    upstream = torch.randn(out64.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    (g64,) = torch.autograd.grad(out64, [weights["weight_hh"]], upstream)
    (g32,) = torch.autograd.grad(out32, [weights32["weight_hh"]], upstream.float())
    torch.testing.assert_close(g32.double(), g64, rtol=1e-4, atol=2e-5)


def test_auto_measures_the_route_once_per_shape_and_says_why(gemm_route) -> None:
    gemm_route("auto")
    layer = rk.GRU(6, 11)  # a shape no other test uses: measured here
    layer(torch.randn(4, 3, 6))
    chosen = [c for c in kernels.gemm_routes()["chosen"] if (c["batch"], c["in"], c["out"]) == (3, 11, 33)]
    assert len(chosen) == 1 and chosen[0]["route"] in ("mm", "onednn") and chosen[0]["why"].startswith("measured")
    layer(torch.randn(4, 3, 6))
    assert [c for c in kernels.gemm_routes()["chosen"] if (c["batch"], c["in"], c["out"]) == (3, 11, 33)] == chosen
    with pytest.raises(ValueError, match="expected one of"):
        kernels.set_gemm_route("blas")


@pytest.mark.parametrize("x", [0.0, 1e-3, -0.5, 3.0, -20.0, 50.0, -100.0, 700.0])
def test_kernel_activations_accurate_over_the_range(x: float) -> None:
    # One Elman step from a zero state is tanh(xg) exactly: checks the kernel's own tanh.
    for dtype, tol in ((torch.float64, 1e-15), (torch.float32, 2e-7)):
        xg = torch.full((1, 1, 3), x, dtype=dtype)
        out, _ = kernels.rnn_sequence(xg, torch.zeros(1, 3, dtype=dtype), torch.zeros(3, 3, dtype=dtype))
        torch.testing.assert_close(out, torch.tanh(xg), rtol=0, atol=tol)


F64 = {"dtype": torch.float64}
LAYERS = {
    "lstm regularized": lambda impl: rk.LSTM(3, H, 2, bidirectional=True, recurrent_dropout=0.3, zoneout=(0.2, 0.1),
                                             weight_drop=0.2, dropout=0.2, impl=impl, **F64),
    "lstm peephole": lambda impl: rk.LSTM(3, H, 2, peephole=True, bias=False, zoneout=0.1, impl=impl, **F64),
    "lstm layer norm": lambda impl: rk.LSTM(3, H, 2, bidirectional=True, layer_norm=True, peephole=True,
                                            recurrent_dropout=0.2, zoneout=0.1, impl=impl, **F64),
    "gru": lambda impl: rk.GRU(3, H, 2, bidirectional=True, recurrent_dropout=0.2, zoneout=0.1, impl=impl, **F64),
    "rnn relu": lambda impl: rk.RNN(3, H, 1, nonlinearity="relu", zoneout=0.3, impl=impl, **F64),
}


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_kernel_path_equals_loop_with_the_same_draws(name: str, training: bool) -> None:
    """The whole layer (stacked, both directions, lengths, every regularizer drawing its masks)
    on rnnkit's kernel equals the readable loop under the same seed: values and all gradients."""
    fast, loop = LAYERS[name]("rnnkit"), LAYERS[name]("loop")
    loop.load_state_dict(fast.state_dict())
    assert fast.forward_path() == "rnnkit" and loop.forward_path() == "loop"
    x = torch.randn(T, B, 3, **F64, requires_grad=True)
    lengths = torch.tensor([7, 3, 1, 6, 2])
    results = []
    for layer in (fast, loop):
        layer.train(training)
        torch.manual_seed(11)
        out, h_n = layer(x, lengths=lengths)
        finals = h_n if isinstance(h_n, tuple) else (h_n,)
        loss = (out * torch.linspace(-1, 1, out.shape[-1], **F64)).sum() + sum(f.pow(2).sum() for f in finals)
        results.append((out, finals, torch.autograd.grad(loss, [x, *layer.parameters()])))
    # float64 rounding, amplified by layer norm's 1/std over only H=6 units: ~1e-11 at most
    torch.testing.assert_close(results[0], results[1], rtol=1e-9, atol=1e-10)


def test_auto_prefers_the_kernel_where_torch_has_none() -> None:
    assert rk.GRU(3, H).forward_path() == "rnnkit"  # no oneDNN GRU: ours
    assert rk.RNN(3, H).forward_path() == "rnnkit"
    assert rk.LSTM(3, H, peephole=True).forward_path() == "rnnkit"
    assert rk.LSTM(3, H, recurrent_dropout=0.1).forward_path() == "rnnkit"
    assert rk.LSTM(3, H).forward_path() == "torch"  # oneDNN
    assert rk.LSTM(3, H, layer_norm=True).forward_path() == "rnnkit"
    assert rk.LSTM(3, H, proj_size=2, zoneout=0.1).forward_path() == "loop"
    assert rk.GRU(3, H, layer_norm=True).forward_path() == "loop"
    assert rk.GRU(3, H).forward_path(dtype=torch.bfloat16) == "torch"


def test_without_the_extension_auto_falls_back_to_the_loop_with_one_notice(monkeypatch) -> None:  # noqa: ANN001
    layer = rk.GRU(3, H, recurrent_dropout=0.2, **F64)
    x = torch.randn(T, B, 3, **F64)
    torch.manual_seed(2)
    expected = layer(x)[0]
    monkeypatch.setattr(kernels, "_load", lambda: "no compiler (test)")
    monkeypatch.delenv("RNNKIT_REQUIRE_KERNEL", raising=False)  # CI sets it: there a failed build is an error
    kernels._notice.cache_clear()
    with pytest.warns(RuntimeWarning, match=r"kernels unavailable \(no compiler \(test\)\); running the readable loop"):
        assert layer.forward_path() == "loop"
    torch.manual_seed(2)
    torch.testing.assert_close(layer(x)[0], expected, rtol=0, atol=1e-12)
    with pytest.raises(RuntimeError, match="impl='rnnkit': the fused kernels could not be built"):
        rk.GRU(3, H, impl="rnnkit").forward_path()
    kernels._notice.cache_clear()


def test_keep_mask_rate_and_reproducibility() -> None:
    torch.manual_seed(0)
    a = kernels.keep_mask((50, 40, 30), 0.3)
    torch.manual_seed(0)
    b = kernels.keep_mask((50, 40, 30), 0.3)
    c = kernels.keep_mask((50, 40, 30), 0.3)
    assert a.dtype == torch.bool and torch.equal(a, b) and not torch.equal(b, c)
    assert a.float().mean().item() == pytest.approx(0.3, abs=0.005)  # 60,000 draws: sd 0.0019
    # neighbouring units and steps are uncorrelated
    x = a.float() - a.float().mean()
    for shifted in (x[1:] * x[:-1], x[:, :, 1:] * x[:, :, :-1]):
        assert abs(shifted.mean().item()) / x.var().item() < 0.02


@pytest.mark.parametrize("kind,peephole,rmask,zoneout,lengths", [
    ("lstm", True, True, "train", True), ("lstm", False, False, "eval", False), ("lstm_ln", True, True, "eval", True),
    ("gru", False, True, "train", True), ("rnn_tanh", False, True, "eval", True), ("rnn_relu", False, False, None, False),
])
def test_kernel_second_order_gradients_equal_the_reference(kind, peephole, rmask, zoneout, lengths) -> None:  # noqa: ANN001
    """Under create_graph=True the kernels' backward is differentiable: the gradient of a
    gradient penalty equals the readable reference's, for every input and weight."""
    xg, state, weights, mask, keep, valid = make_case(kind, peephole, rmask, zoneout, lengths)
    inputs = [xg, *(state if isinstance(state, tuple) else (state,)), *weights.values()]

    def penalty(run):  # noqa: ANN001, ANN202
        out, final = run(kind, xg, state, weights, mask, keep, valid)
        loss = out.pow(2).sum() + sum(f.sin().sum() for f in (final if isinstance(final, tuple) else (final,)))
        grads = torch.autograd.grad(loss, inputs, create_graph=True)
        return torch.autograd.grad(sum(g.pow(2).sum() for g in grads), inputs)

    for name, a, b in zip(["xg", "state", "state", *weights], penalty(run_kernel), penalty(reference)):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-11, msg=lambda m, n=name: f"{n}: {m}")


def test_kernel_gradgradcheck() -> None:
    """float64 finite differences of the first-order gradients (the GRU with every mask)."""
    xg, h0, weights, mask, keep, valid = make_case("gru", False, True, "eval", True)

    def run(x, h, w, b):  # noqa: ANN001, ANN202
        return kernels.gru_sequence(x, h, w, b, recurrent_mask=mask, keep=keep[0], valid=valid.to(x.dtype))

    torch.autograd.gradgradcheck(run, (xg, h0, weights["weight_hh"], weights["bias_hh"]))


def test_only_plain_eager_calls_skip_the_custom_ops_dispatch() -> None:
    """Plain tensors run the C++ loop directly; fake (traced) and torch.func-wrapped tensors go
    through the registered op, whose fake implementation and vmap rule they need."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    x = torch.randn(2, 3)
    assert kernels._plain((x, torch.nn.Parameter(x), 1.0, True))
    with FakeTensorMode() as mode:
        fake = mode.from_tensor(x)
    assert not kernels._plain((x, fake))
    seen = []
    torch.func.vmap(lambda row: seen.append(kernels._plain((row,))) or row)(x)
    assert seen == [False]


# -- bfloat16 products ------------------------------------------------------------------------


def bf16(t: torch.Tensor) -> torch.Tensor:
    """Round to the nearest bfloat16 (ties to even), kept in t's dtype."""
    return t.to(torch.bfloat16).to(t.dtype)


class _RoundedProduct(torch.autograd.Function):
    """``h @ W^T`` as autocast computes it in bfloat16, in float64: operands rounded to bfloat16,
    the exact sum, the result rounded; the backward's products likewise (``dh = bf(bf(g) W)``, ``dW``
    the exact ``bf(g)^T bf(h)``, rounded once after autograd has summed it over the steps)."""

    @staticmethod
    def forward(ctx, h, w):  # noqa: ANN001, ANN205
        ctx.save_for_backward(h, w)
        return bf16(bf16(h) @ w.t())

    @staticmethod
    def backward(ctx, g):  # noqa: ANN001, ANN205
        h, w = ctx.saved_tensors
        return bf16(bf16(g) @ w), bf16(g).t() @ bf16(h)


class _Bf16Products(torch.overrides.TorchFunctionMode):
    """Within it, ``F.linear(h, weight)`` for ``weight`` (a bfloat16-exact float64 tensor) is the
    rounded product: the readable recurrences become the bfloat16-product contract, in float64."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = weight

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        kwargs = kwargs or {}
        if func is torch.nn.functional.linear and len(args) >= 2 and args[1] is self.weight:
            bias = args[2] if len(args) > 2 else kwargs.get("bias")
            out = _RoundedProduct.apply(args[0], self.weight)
            return out if bias is None else out + bias
        return func(*args, **kwargs)


@pytest.mark.parametrize("route", ["mm", "onednn", "rows"])
@pytest.mark.parametrize("kind", ["lstm", "lstm_ln", "gru", "rnn_tanh"])
def test_bfloat16_products_give_the_rounded_reference(kind: str, route: str, gemm_route) -> None:
    """W_hh in bfloat16 beside float32 inputs: each product rounded as autocast rounds it, the rest
    float32. Against the readable recurrence in float64 with exactly those roundings (W_hh on a 1/16
    grid, so that the products are exact sums before their rounding), forward and every gradient;
    the same reference without the roundings is far off, so the roundings are what is checked."""
    if route == "onednn" and not kernels.gemm_routes()["onednn_available"]:
        pytest.skip("this torch has no oneDNN matmul")
    gemm_route("mm" if route == "rows" else route)
    if route == "rows":  # the batch in two blocks of rows, one per thread, each block's products by at::mm
        kernels.set_step_split("rows", 2)
    xg, state, weights, mask, keep, valid = make_case(kind, True, True, "train", True)
    with torch.no_grad():
        weights["weight_hh"].copy_((weights["weight_hh"] * 16).round() / 16)  # exact in bfloat16
    out64, fin64 = reference(kind, xg, state, weights, mask, keep, valid)
    with _Bf16Products(weights["weight_hh"]):
        out_r, fin_r = reference(kind, xg, state, weights, mask, keep, valid)
    assert (out_r - out64).abs().max() > 1e-3  # the roundings matter at this size

    cast = lambda t: t.detach().float().requires_grad_() if isinstance(t, torch.Tensor) and t.is_floating_point() \
        else t  # noqa: E731
    state32 = tuple(map(cast, state)) if isinstance(state, tuple) else cast(state)
    weights32 = {k: cast(v) for k, v in weights.items()}
    weights32["weight_hh"] = weights["weight_hh"].detach().to(torch.bfloat16).requires_grad_()
    xg32 = cast(xg)
    out_k, fin_k = run_kernel(kind, xg32, state32, weights32, cast(mask), keep, valid)
    assert out_k.dtype == torch.float32
    torch.testing.assert_close(out_k.double(), out_r, rtol=0, atol=1e-5)

    fin_r = fin_r if isinstance(fin_r, tuple) else (fin_r,)
    fin_k = fin_k if isinstance(fin_k, tuple) else (fin_k,)
    upstream = [torch.randn(t.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
                for t in (out_r, *fin_r)]
    names = ["xg", *(["h0", "c0"] if kind.startswith("lstm") else ["h0"]), *weights]
    inputs_r = [xg, *(state if isinstance(state, tuple) else (state,)), *weights.values()]
    inputs_k = [xg32, *(state32 if isinstance(state32, tuple) else (state32,)), *weights32.values()]
    with _Bf16Products(weights["weight_hh"]):
        grads_r = torch.autograd.grad([out_r, *fin_r], inputs_r, upstream)
    grads_k = torch.autograd.grad([out_k, *fin_k], inputs_k, [u.float() for u in upstream])
    fin64 = fin64 if isinstance(fin64, tuple) else (fin64,)
    (exact,) = torch.autograd.grad([out64, *fin64], inputs_r[:1], upstream)
    assert (exact - grads_r[0]).abs().max() > 1e-3 * exact.abs().max()  # the backward's roundings matter too
    for name, a, b in zip(names, grads_k, grads_r):
        if name == "weight_hh":  # bfloat16, rounded once: within one bfloat16 step of the exact sum
            assert a.dtype == torch.bfloat16
            torch.testing.assert_close(a.double(), b, rtol=2 ** -7, atol=1e-6, msg=lambda m: f"weight_hh: {m}")
        else:
            scale = float(b.abs().max())  # float32 gates against float64: a few ulps of the gradient's scale
            torch.testing.assert_close(a.double(), b, rtol=0, atol=2e-5 * scale, msg=lambda m, n=name: f"{n}: {m}")


def test_bfloat16_weight_beside_float64_inputs_is_refused() -> None:
    xg, state, weights, mask, keep, valid = make_case("lstm", False, False, None, False)
    weights["weight_hh"] = weights["weight_hh"].detach().to(torch.bfloat16)
    with pytest.raises(RuntimeError, match="w_hh must be Double"):
        run_kernel("lstm", xg.detach(), tuple(s.detach() for s in state), weights, mask, keep, valid)


@pytest.mark.parametrize("kernel,layer", [
    ("lstm", lambda: rk.LSTM(8, 16, peephole=True, num_layers=2, bidirectional=True)),
    ("lstm_ln", lambda: rk.LSTM(8, 16, layer_norm=True)), ("gru", lambda: rk.GRU(8, 16)),
    ("rnn", lambda: rk.RNN(8, 16, zoneout=0.1))], ids=["peephole", "layer_norm", "gru", "rnn"])
@pytest.mark.parametrize("split", ["none", "rows"])
def test_layers_run_the_kernel_under_bfloat16_autocast(kernel, layer, split, two_threads) -> None:  # noqa: ANN001
    """Under CPU autocast to bfloat16 the variants run rnnkit's kernel (they ran the loop before),
    padded batches included, on one thread or with the batch's rows shared among two; the outputs
    are float32 and within bfloat16 rounding of the float32 layer; every parameter gets a finite
    gradient in its own dtype."""
    kernels.set_step_split(split, 2)
    torch.manual_seed(0)
    model = layer().eval()
    x, lengths = torch.randn(9, 4, 8), torch.tensor([9, 4, 7, 1])
    with torch.no_grad():
        y32, _ = model(x, lengths=lengths)
    with torch.autocast("cpu", torch.bfloat16):
        assert model.forward_path(lengths=True) == "rnnkit"
        y16, _ = model(x, lengths=lengths)
    if split == "none":  # the products took the bfloat16 route, measured like float32's
        measured = {(c["batch"], c["in"], c["dtype"]) for c in kernels.gemm_routes()["chosen"]}
        assert (4, 16, "bfloat16") in measured
    else:  # each block of rows made its own bfloat16 products
        ways = {c["way"] for c in kernels.step_splits()["chosen"]
                if (c["kernel"], c["batch"], c["hidden"], c["threads"]) == (kernel, 4, 16, 2)}
        assert ways == {"rows"}
    assert y16.dtype == torch.float32
    assert 0 < (y16 - y32).abs().max() < 0.05
    assert (y16[4:, 1] == 0).all()  # past its length
    y16.square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.dtype == p.dtype and torch.isfinite(p.grad).all(), name


def test_autocast_to_float16_still_runs_the_loop() -> None:
    layer = rk.LSTM(4, 8, peephole=True)
    with torch.autocast("cpu", torch.float16):
        assert layer.forward_path() == "loop"
    with torch.autocast("cpu", torch.bfloat16):
        assert rk.LSTM(4, 8).forward_path() == "torch"  # the plain LSTM: oneDNN's bfloat16 kernel
