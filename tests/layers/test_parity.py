"""rk.RNN / rk.LSTM / rk.GRU against torch.nn with the same state_dict, float64.

Over the product of bias x batch_first x bidirectional x num_layers x lengths x impl, every
output, final state and gradient (input, initial states, each weight) must match. Variable
lengths are compared with torch.nn's packed path (see rnnkit.testing).
"""

from __future__ import annotations

import itertools
import warnings

import pytest
import torch
from torch import nn

import rnnkit as rk
from rnnkit.functional import kernels
from rnnkit.testing import MODES, ParityCase, build_pair, case_lengths, compare_with_torch, exact_float32

FLAGS = list(itertools.product([True, False], [False, True], [False, True], [1, 2], [False, True]))


def assert_all_small(diffs: dict[str, float], bound: float) -> None:
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= bound, f"{worst} differs by {diffs[worst]:.3g} (bound {bound:g}); all: {diffs}"


@pytest.mark.parametrize("impl", ["torch", "rnnkit", "loop"])
@pytest.mark.parametrize("bias,batch_first,bidirectional,num_layers,variable", FLAGS)
@pytest.mark.parametrize("mode", list(MODES))
def test_matches_torch_nn(mode, bias, batch_first, bidirectional, num_layers, variable, impl, device):
    if impl == "rnnkit" and (mode == "lstm_proj" or device != "cpu" or not kernels.available()):
        pytest.skip("rnnkit's kernel: CPU, no projection, needs the compiled extension")
    case = ParityCase(mode, bias, batch_first, bidirectional, num_layers, variable, impl)
    diffs = compare_with_torch(case, device, torch.float64)
    ref, _ = build_pair(case, device, torch.float64)
    assert all(f"grad {name}" in diffs for name, _ in ref.named_parameters())  # every weight compared
    assert {"output", "h_n", "grad input", "grad h_0"} <= set(diffs)
    assert_all_small(diffs, 1e-10)


@pytest.mark.parametrize("impl", ["loop", "auto"])
@pytest.mark.parametrize("mode", list(MODES))
def test_float32_matches_torch_nn(mode, impl, device):
    case = ParityCase(mode, bidirectional=True, num_layers=2, variable_lengths=True, impl=impl)
    with exact_float32():  # cuDNN would otherwise compute in TF32
        assert_all_small(compare_with_torch(case, device, torch.float32), 5e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="cuDNN weight layout")
@pytest.mark.parametrize("mode", list(MODES))
def test_cuda_weights_are_flattened_for_cudnn(mode):
    _, rk_cls, extra = MODES[mode]
    built_there = rk_cls(3, 4, 2, bidirectional=True, device="cuda", **extra)
    layer = rk_cls(3, 4, 2, bidirectional=True, **extra).cuda()
    before = {name: p.detach().clone() for name, p in layer.named_parameters()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "weights are not part of single contiguous chunk" would raise
        for module in (built_there, layer):
            output, _ = module(torch.randn(5, 2, 3, device="cuda"))
            output.sum().backward()
    for name, p in layer.named_parameters():
        torch.testing.assert_close(p, before[name], rtol=0, atol=0)  # flattening kept every value


@pytest.mark.parametrize("mode", list(MODES))
def test_gradients_in_eval_mode(mode, device):
    # cuDNN refuses a backward after an inference-mode forward; rnnkit runs the training forward.
    ref, ours = build_pair(ParityCase(mode, num_layers=2), device, torch.float64)
    ref.train()
    ours.eval()
    x = torch.randn(5, 4, 3, device=device, dtype=torch.float64, requires_grad=True)
    expected = torch.autograd.grad(ref(x)[0].sum(), x)[0]
    torch.testing.assert_close(torch.autograd.grad(ours(x)[0].sum(), x)[0], expected, atol=1e-10, rtol=0)


def test_cases_cover_short_and_full_lengths():
    lengths = case_lengths(ParityCase("lstm", variable_lengths=True, batch_size=4, time_steps=5))
    assert lengths.tolist()[0] == 5 and 1 in lengths.tolist() and len(set(lengths.tolist())) >= 3


@pytest.mark.parametrize("mode", list(MODES))
def test_state_dict_round_trip(mode):
    torch_cls, rk_cls, extra = MODES[mode]
    ours = rk_cls(3, 4, 2, bidirectional=True, **extra)
    ref = torch_cls(3, 4, 2, bidirectional=True, **extra)
    ref.load_state_dict(ours.state_dict())  # strict: the same keys and shapes, both ways
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(ours(x)[0], ref(x)[0])


@pytest.mark.parametrize(
    "torch_cell,rk_cell,extra",
    [(nn.RNNCell, rk.RNNCell, {"nonlinearity": "relu"}), (nn.LSTMCell, rk.LSTMCell, {}), (nn.GRUCell, rk.GRUCell, {})],
)
def test_cells_match_torch_cells(torch_cell, rk_cell, extra):
    ref = torch_cell(3, 4, **extra).double()
    ours = rk_cell(3, 4, dtype=torch.float64, **extra)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, dtype=torch.float64)
    state = ours.initial_state(2)
    state = tuple(torch.randn_like(s) for s in state) if isinstance(state, tuple) else torch.randn_like(state)
    expected = ref(x, state)
    h, new_state = ours.step(x, state)
    torch.testing.assert_close(new_state, expected, atol=1e-12, rtol=0)
    torch.testing.assert_close(h, expected[0] if isinstance(expected, tuple) else expected, atol=1e-12, rtol=0)
