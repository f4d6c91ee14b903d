"""Session records: every kind of value comes back as it went in; a blob runs no code."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

pytest.importorskip("fastapi")

from rnnkit.serve.records import decode, encode


def test_a_record_round_trips():
    h, c = torch.randn(2, 1, 5), torch.randn(2, 1, 5, dtype=torch.float64)
    times = np.array(["2024-01-01T00:00", "2024-01-01T01:00"], dtype="datetime64[ns]")
    record = {"state": (h, c), "logits": None, "recent": [torch.arange(3), torch.ones(2, dtype=torch.bool)],
              "seed": 2**61 + 3, "post": {"level": 1.5, "running": None}, "name": "x", "times": times,
              "values": np.arange(6.0).reshape(3, 2), "flag": True, "nan": float("nan")}
    back = decode(encode(record))
    assert isinstance(back["state"], tuple) and back["state"][1].dtype == torch.float64
    torch.testing.assert_close(back["state"][0], h, rtol=0, atol=0)
    torch.testing.assert_close(back["state"][1], c, rtol=0, atol=0)
    assert back["recent"][1].dtype == torch.bool and back["recent"][0].tolist() == [0, 1, 2]
    np.testing.assert_array_equal(back["times"], times)
    assert back["times"].dtype == times.dtype
    np.testing.assert_array_equal(back["values"], record["values"])
    assert (back["seed"], back["post"], back["name"], back["flag"], back["logits"]) == \
        (2**61 + 3, {"level": 1.5, "running": None}, "x", True, None)
    assert np.isnan(back["nan"])


def test_views_are_stored_as_their_own_values():
    batch = torch.randn(1, 4, 3)
    view = batch.narrow(1, 2, 1)
    assert decode(encode({"h": view}))["h"].shape == (1, 1, 3)


def test_what_is_not_data_is_refused_and_a_pickle_is_not_read():
    with pytest.raises(TypeError, match="cannot store a object"):
        encode({"x": object()})
    with pytest.raises(TypeError, match="string keys"):
        encode({"x": {1: 2}})
    with pytest.raises(ValueError, match="not a session record"):
        decode(pickle.dumps({"x": 1}))
