"""What a PyTorch user does after eager training, on every path (torch's kernel, rnnkit's
kernel, the loop): torch.compile, torch.export with a dynamic batch, torch.func (grad with
functional_call, vmap, jacrev) and second-order gradients. Each is compared with eager autograd
on the same layer (float64 where the comparison is exact)."""

from __future__ import annotations

import pytest
import torch

import rnnkit as rk
from rnnkit.functional import kernels

pytestmark = pytest.mark.skipif(not kernels.available(), reason="fused kernels not built (no compiler)")

I, H, T, B = 3, 4, 5, 2
LAYERS = {  # name: (constructor, the path forward runs on CPU)
    "lstm-torch": (lambda **kw: rk.LSTM(I, H, **kw), "torch"),
    "lstm-peephole-rnnkit": (lambda **kw: rk.LSTM(I, H, peephole=True, **kw), "rnnkit"),
    "lstm-layernorm-rnnkit": (lambda **kw: rk.LSTM(I, H, layer_norm=True, zoneout=0.2, **kw), "rnnkit"),
    "gru-rnnkit": (lambda **kw: rk.GRU(I, H, **kw), "rnnkit"),
    "rnn-rnnkit": (lambda **kw: rk.RNN(I, H, **kw), "rnnkit"),
    "gru-loop": (lambda **kw: rk.GRU(I, H, impl="loop", **kw), "loop"),
    "gru-reset-before-loop": (lambda **kw: rk.GRU(I, H, reset_after=False, **kw), "loop"),
}


def make(name: str, dtype: torch.dtype = torch.float64) -> torch.nn.Module:
    build, path = LAYERS[name]
    torch.manual_seed(0)
    layer = build(dtype=dtype).eval()  # eval: zoneout at its expectation, so every call is the same
    assert layer.forward_path() == path, layer.forward_path().reason
    return layer


def eager_grads(layer: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    output, _ = layer(x)
    return list(torch.autograd.grad(output.pow(2).sum(), [x, *layer.parameters()]))


@pytest.mark.parametrize("name", LAYERS)
def test_torch_func_grad_vmap_and_jacrev_equal_eager(name: str) -> None:
    layer = make(name)
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    params = dict(layer.named_parameters())

    def loss(p: dict, x: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(layer, p, (x,))[0].pow(2).sum()

    g_x, g_p = torch.func.grad(loss, argnums=(1, 0))(params, x)
    expected = eager_grads(layer, x)
    torch.testing.assert_close(g_x, expected[0])
    for got, want in zip(g_p.values(), expected[1:]):
        torch.testing.assert_close(got, want)
    clips = torch.randn(3, T, B, I, dtype=torch.float64)  # vmap over a leading dimension
    batched = torch.func.vmap(lambda c: layer(c)[0])(clips)
    torch.testing.assert_close(batched, torch.stack([layer(c)[0] for c in clips]))
    small = torch.randn(2, 1, I, dtype=torch.float64)
    jacobian = torch.func.jacrev(lambda s: layer(s)[0])(small)
    torch.testing.assert_close(jacobian, torch.autograd.functional.jacobian(lambda s: layer(s)[0], small))


@pytest.mark.parametrize("name", LAYERS)
def test_second_order_gradients_pass_gradgradcheck(name: str) -> None:
    layer = make(name)
    x = torch.randn(3, 2, I, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradgradcheck(lambda x: layer(x)[0], (x,))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lstm-torch", "lstm-layernorm-rnnkit", "gru-rnnkit", "gru-loop"])
def test_torch_compile_forward_and_backward_equal_eager(name: str) -> None:
    torch._dynamo.reset()
    layer = make(name, torch.float32)
    x = torch.randn(T, B, I, requires_grad=True)
    compiled = torch.compile(layer, fullgraph=True)  # no graph break anywhere in the layer
    output, _ = compiled(x)
    torch.testing.assert_close(output, layer(x)[0], rtol=1e-5, atol=1e-6)
    got = torch.autograd.grad(output.pow(2).sum(), [x, *layer.parameters()])
    for a, b in zip(got, eager_grads(layer, x)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_torch_compile_under_bfloat16_autocast_equals_eager() -> None:
    """The kernel's bfloat16 products (W_hh in bfloat16 beside float32 gates) traced by torch.compile:
    the custom ops' fake shapes and dtypes hold, and the compiled pass equals the eager one."""
    torch._dynamo.reset()
    layer = make("lstm-peephole-rnnkit", torch.float32)
    x = torch.randn(T, B, I, requires_grad=True)

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", torch.bfloat16):
            return layer(x)[0]

    output = torch.compile(run)(x)
    eager = run(x)
    assert output.dtype == eager.dtype == torch.float32
    torch.testing.assert_close(output, eager, rtol=1e-5, atol=1e-6)
    got = torch.autograd.grad(output.pow(2).sum(), [x, layer.weight_hh_l0])
    want = torch.autograd.grad(eager.pow(2).sum(), [x, layer.weight_hh_l0])
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lstm-torch", "lstm-peephole-rnnkit", "gru-rnnkit", "gru-reset-before-loop"])
def test_torch_export_with_a_dynamic_batch(name: str) -> None:
    layer = make(name, torch.float32)
    batch = torch.export.Dim("batch", min=2, max=64)
    program = torch.export.export(layer, (torch.randn(T, B, I),), dynamic_shapes=({1: batch},))
    other = torch.randn(T, 7, I)  # another batch size than the one exported with
    torch.testing.assert_close(program.module()(other)[0], layer(other)[0], rtol=1e-5, atol=1e-6)


class WithLengths(torch.nn.Module):
    def __init__(self, layer: torch.nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        output, h = self.layer(x, lengths=lengths)
        return output, h[0] if isinstance(h, tuple) else h


@pytest.mark.parametrize("name", ["lstm-torch", "gru-rnnkit", "gru-loop"])
def test_padded_sequences_export_and_compile_with_the_lengths_as_data(name: str) -> None:
    """Traced, the lengths' values are not known: every path masks (torch's packs by the values, so
    it is not used), and the program gives eager's numbers for lengths it was not traced with."""
    layer = make(name, torch.float32)
    model = WithLengths(layer)
    x = torch.randn(T, 3, I)
    program = torch.export.export(model, (x, torch.tensor([5, 2, 3])),
                                  dynamic_shapes=({1: torch.export.Dim("batch")}, {0: torch.export.Dim("batch")}))
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    for lengths in (torch.tensor([5, 1, 4]), torch.tensor([5, 5, 5])):
        expected = model(x, lengths)
        for got in (program.module()(x, lengths), compiled(x, lengths)):
            for a, b in zip(got, expected):
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="every length >= 1"):  # eager still checks the values
        model(x, torch.tensor([5, 0, 3]))


@pytest.mark.parametrize("name", ["lstm-torch", "lstm-peephole-rnnkit", "gru-rnnkit", "gru-loop"])
@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_torch_jit_trace_runs_the_loop_and_gives_eager_numbers(name: str) -> None:
    """TorchScript is deprecated, but a traced layer still works: ``impl='auto'`` traces the
    readable loop (for the traced sequence length, as tracing always specializes)."""
    layer = make(name, torch.float32)
    traced = torch.jit.trace(layer, (torch.randn(T, B, I),))  # the trace's own check compares two runs
    other = torch.randn(T, 3, I)
    torch.testing.assert_close(traced(other)[0], layer(other)[0], rtol=1e-5, atol=1e-6)
