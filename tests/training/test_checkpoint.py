"""Checkpoints as safetensors + JSON: round trips, what is kept, corrupt files, tied weights."""


from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from rnnkit.training import (
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)


def test_checkpoint_round_trip_of_nested_state(tmp_path):
    model = nn.LSTM(3, 4)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 1, 3))[0].sum().backward()
    optimizer.step()
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "carry": (torch.ones(2), None),
             "loop": {"best": float("inf"), "name": "x"}}
    save_checkpoint(tmp_path, 7, state)
    step, loaded = load_checkpoint(tmp_path)
    assert step == 7 and loaded["loop"] == {"best": float("inf"), "name": "x"}
    assert isinstance(loaded["carry"], tuple) and loaded["carry"][1] is None
    restored = torch.optim.Adam(model.parameters())
    restored.load_state_dict(loaded["optimizer"])  # integer keys of the optimizer state survive
    for key, value in model.state_dict().items():
        assert torch.equal(loaded["model"][key], value)
    index = json.loads((tmp_path / "checkpoint.json").read_text())
    assert index["tensors"].endswith(".safetensors")  # no pickle anywhere


def test_checkpoint_keeps_the_newest_two(tmp_path):
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, {"x": torch.tensor([float(step)])})
    assert sorted(p.name for p in tmp_path.glob("*.safetensors")) == [
        "checkpoint-00000002.safetensors", "checkpoint-00000003.safetensors"]
    assert load_checkpoint(tmp_path)[1]["x"].item() == 3.0


def test_corrupt_truncated_or_missing_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path)
    save_checkpoint(tmp_path, 1, {"x": torch.arange(100.0)})
    tensors = next(tmp_path.glob("*.safetensors"))
    data = tensors.read_bytes()
    tensors.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(tmp_path)
    tensors.write_bytes(data)
    (tmp_path / "checkpoint.json").write_text('{"format": 1, "step": ')
    with pytest.raises(CheckpointError, match="corrupt or truncated checkpoint index"):
        load_checkpoint(tmp_path)


def test_checkpoint_refuses_arbitrary_objects(tmp_path):
    with pytest.raises(TypeError, match="cannot store state.f of type function"):
        save_checkpoint(tmp_path, 1, {"f": lambda: None})


def test_checkpoint_stores_a_tied_weight_once(tmp_path):
    embedding = nn.Embedding(5, 3)
    decoder = nn.Linear(3, 5)
    decoder.weight = embedding.weight
    model = nn.ModuleDict({"embedding": embedding, "decoder": decoder})
    save_checkpoint(tmp_path, 1, {"model": model.state_dict()})
    _, state = load_checkpoint(tmp_path)
    loaded = state["model"]
    torch.testing.assert_close(loaded["decoder.weight"], embedding.weight.detach())
    assert loaded["decoder.weight"] is loaded["embedding.weight"]  # one tensor in the file, one back
    fresh = nn.ModuleDict({"embedding": nn.Embedding(5, 3), "decoder": nn.Linear(3, 5)})
    fresh["decoder"].weight = fresh["embedding"].weight
    fresh.load_state_dict(loaded)
    torch.testing.assert_close(fresh["decoder"].bias, decoder.bias.detach())
