"""The path each layer runs is decided in one place (rnnkit.layers.dispatch), which says why."""

from __future__ import annotations

import pytest
import torch

import rnnkit as rk
from rnnkit.functional import kernels

needs_kernel = pytest.mark.skipif(not kernels.available(), reason="fused kernels not built")


def test_forward_path_names_the_path_and_why():
    assert rk.LSTM(3, 4, impl="loop").forward_path().reason == "impl='loop': the readable loop"
    plain = rk.LSTM(3, 4).forward_path()
    assert plain == "torch" and "oneDNN" in plain.reason  # the plain LSTM stays on oneDNN
    assert rk.LSTM(3, 4).forward_path(device="cuda" if torch.cuda.is_available() else "cpu") in ("torch", "rnnkit")
    loop = rk.GRU(3, 4, layer_norm=True).forward_path()
    assert loop == "loop" and "torch's kernel cannot compute this configuration" in loop.reason


@needs_kernel
def test_rnnkit_kernel_reasons_and_the_chunked_padded_reroute():
    gru = rk.GRU(3, 4).forward_path()
    assert gru == "rnnkit" and "no oneDNN kernel" in gru.reason
    peephole = rk.LSTM(3, 4, peephole=True).forward_path()
    assert peephole == "rnnkit" and "cannot compute this configuration" in peephole.reason
    lstm = rk.LSTM(3, 4)
    assert lstm.forward_path(lengths=True) == "torch" and lstm.forward_path(chunked=True) == "torch"
    rerouted = lstm.forward_path(lengths=True, chunked=True)  # torch's per-chunk call takes no lengths
    assert rerouted == "rnnkit" and "checkpointed chunks of padded sequences" in rerouted.reason


def test_step_path_and_its_reason():
    assert rk.GRU(3, 4).step_path() == "cell_op"
    assert "no cell op with a projection" in rk.LSTM(3, 4, proj_size=2).step_path().reason
    assert rk.LSTM(3, 4, zoneout=0.1).step_path() == "loop"
    assert rk.RNN(3, 4, impl="loop").step_path() == "loop"


def test_a_path_is_a_string_with_a_repr_that_says_why():
    choice = rk.LSTM(3, 4, impl="loop").forward_path()
    assert isinstance(choice, str) and repr(choice).startswith("PathChoice('loop', reason=")
