"""A session's state as bytes and back, without pickle: tensors and arrays in safetensors, the rest
(numbers, strings, lists, tuples, dicts with string keys) in JSON beside them.

    blob = encode({"state": (h, c), "seed": 3, "recent": [x1, x2]})
    decode(blob, device="cpu")  # the same structure, tensors on the device

Reading a blob runs no code: a session store (Redis, shared between replicas) holds only data.
The layout: ``b"RKS1"``, the JSON's length (8 bytes, little end first), the JSON, the safetensors.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import safetensors.torch
import torch
from torch import Tensor

MAGIC = b"RKS1"


def encode(record: Any) -> bytes:
    """``record`` (see the module docstring) as bytes."""
    tensors: dict[str, Tensor] = {}

    def walk(value: Any) -> Any:
        if isinstance(value, Tensor):
            key = f"t{len(tensors)}"
            tensors[key] = value.detach().to("cpu").contiguous()
            return {"$tensor": key}
        if isinstance(value, np.ndarray):
            key = f"t{len(tensors)}"
            kind = value.dtype.str if value.dtype.kind == "M" else None  # datetime64: stored as its int64 ticks
            data = value.astype(np.int64) if kind else value
            tensors[key] = torch.from_numpy(np.ascontiguousarray(data))
            return {"$array": key, "datetime": kind}
        if isinstance(value, tuple):
            return {"$tuple": [walk(v) for v in value]}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise TypeError("encode: expected dicts with string keys")
            return {"$dict": {k: walk(v) for k, v in value.items()}}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, (np.integer, np.floating)):
            return value.item()
        raise TypeError(f"encode: cannot store a {type(value).__name__}")

    text = json.dumps(walk(record)).encode()
    return MAGIC + len(text).to_bytes(8, "little") + text + safetensors.torch.save(tensors)


def decode(blob: bytes, device: torch.device | str = "cpu") -> Any:
    """The record of :func:`encode`, its tensors on ``device``."""
    if not blob.startswith(MAGIC) or len(blob) < 12:
        raise ValueError("decode: not a session record (expected one written by rnnkit.serve.records.encode)")
    n = int.from_bytes(blob[4:12], "little")
    structure = json.loads(blob[12 : 12 + n])
    tensors = safetensors.torch.load(blob[12 + n :])

    def walk(value: Any) -> Any:
        if isinstance(value, list):
            return [walk(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "$tensor" in value:
            return tensors[value["$tensor"]].to(device)
        if "$array" in value:
            array = tensors[value["$array"]].numpy()
            return array.astype(value["datetime"]) if value["datetime"] else array
        if "$tuple" in value:
            return tuple(walk(v) for v in value["$tuple"])
        return {k: walk(v) for k, v in value["$dict"].items()}

    return walk(structure)
