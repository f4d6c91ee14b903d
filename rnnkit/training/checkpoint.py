"""Checkpoints as safetensors + JSON: loading one never runs code.

A checkpoint is any nested state (state dicts of the model, optimizer and scheduler, loop
counters, RNG states, ...). Its tensors go to ``checkpoint-<step>.safetensors``; everything
else, with a reference to each tensor and the tensor file's SHA-256, goes to
``checkpoint.json``. Both are written to a temporary name and renamed, the tensors first,
so ``checkpoint.json`` always names a complete tensor file: a run killed at any moment
resumes from its last checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from rnnkit.files import atomic_path, sha256, write_text

FORMAT = 1
INDEX = "checkpoint.json"
KEEP = 2  # tensor files kept: the newest and the one before it


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt or truncated."""


def _split(value: Any, key: str, tensors: dict[str, Tensor], seen: dict[tuple, str] | None = None) -> Any:
    """Nested state -> JSON-able structure; tensors are moved into ``tensors``.

    A tensor met twice (tied weights: a decoder sharing the embedding's matrix) is stored
    once and referenced by the first key, so loading gives one tensor back for both.
    """
    seen = {} if seen is None else seen
    if isinstance(value, Tensor):
        identity = (value.device, value.data_ptr(), value.dtype, tuple(value.shape), tuple(value.stride()))
        if value.numel() and identity in seen:
            return {"__tensor__": seen[identity]}
        if value.numel():
            seen[identity] = key
        tensors[key] = value.detach().to("cpu").contiguous()
        return {"__tensor__": key}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {"__dict__": {k: _split(v, f"{key}.{k}", tensors, seen) for k, v in value.items()}}
        return {"__items__": [[k, _split(v, f"{key}.{k}", tensors, seen)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        items = [_split(v, f"{key}.{i}", tensors, seen) for i, v in enumerate(value)]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"checkpoint: cannot store {key} of type {type(value).__name__} (expected tensors and plain data)")


def _join(node: Any, tensors: dict[str, Tensor]) -> Any:
    if isinstance(node, dict):
        if "__tensor__" in node:
            return tensors[node["__tensor__"]]
        if "__dict__" in node:
            return {k: _join(v, tensors) for k, v in node["__dict__"].items()}
        if "__items__" in node:
            return {k: _join(v, tensors) for k, v in node["__items__"]}
        if "__tuple__" in node:
            return tuple(_join(v, tensors) for v in node["__tuple__"])
        raise CheckpointError(f"unexpected node in checkpoint structure: {sorted(node)}")
    if isinstance(node, list):
        return [_join(v, tensors) for v in node]
    return node


def save_checkpoint(run_dir: str | Path, step: int, state: dict[str, Any]) -> Path:
    """Write ``state`` as the run's newest checkpoint; returns the index file's path."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, Tensor] = {}
    structure = _split(state, "state", tensors)
    tensor_file = run_dir / f"checkpoint-{step:08d}.safetensors"
    with atomic_path(tensor_file) as tmp:
        save_file(tensors, str(tmp))
    index = {"format": FORMAT, "step": step, "tensors": tensor_file.name, "sha256": sha256(tensor_file),
             "state": structure}
    write_text(run_dir / INDEX, json.dumps(index))
    for old in sorted(run_dir.glob("checkpoint-*.safetensors"))[:-KEEP]:
        old.unlink()
    return run_dir / INDEX


def has_checkpoint(run_dir: str | Path) -> bool:
    return (Path(run_dir) / INDEX).exists()


def load_checkpoint(run_dir: str | Path, map_location: str | torch.device = "cpu") -> tuple[int, dict[str, Any]]:
    """Read the newest checkpoint of ``run_dir``: ``(step, state)``. Never runs code."""
    run_dir = Path(run_dir)
    index_path = run_dir / INDEX
    if not index_path.exists():
        raise CheckpointError(f"{run_dir}: no checkpoint ({INDEX} is missing)")
    try:
        index = json.loads(index_path.read_text())
        tensor_file = run_dir / index["tensors"]
        expected_hash, step, structure = index["sha256"], int(index["step"]), index["state"]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{index_path}: corrupt or truncated checkpoint index ({error})") from None
    if index.get("format") != FORMAT:
        raise CheckpointError(f"{index_path}: expected checkpoint format {FORMAT}, got {index.get('format')!r}")
    if not tensor_file.exists():
        raise CheckpointError(f"{tensor_file}: missing (named by {index_path})")
    if sha256(tensor_file) != expected_hash:
        raise CheckpointError(f"{tensor_file}: corrupt or truncated (its SHA-256 does not match {index_path})")
    try:
        tensors = load_file(str(tensor_file), device=str(map_location))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{tensor_file}: unreadable ({error})") from None
    try:
        return step, _join(structure, tensors)
    except KeyError as error:
        raise CheckpointError(f"{index_path}: names a tensor {error} that {tensor_file.name} lacks") from None


def trained_weights(run_dir: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The model weights a trained run stands for: the best evaluation's (``restore_best``),
    else NT-ASGD's average, else the newest checkpoint's."""
    return trained_weights_and_origin(run_dir, map_location)[0]


def trained_weights_and_origin(run_dir: str | Path, map_location: str | torch.device = "cpu"
                               ) -> tuple[dict[str, Any], str]:
    """:func:`trained_weights` and which they are, in words (for reports)."""
    step, state = load_checkpoint(run_dir, map_location)
    loop = state.get("loop") or {}
    if "best_model" in state:
        metric, best = loop.get("best_metric"), loop.get("best")
        chosen = f"{metric} {best:.6g}" if metric and best is not None else "the early-stopping metric"
        return state["best_model"], f"the best validation evaluation's weights (step {loop.get('best_step')}, {chosen})"
    if "eval_model" in state:
        return state["eval_model"], f"NT-ASGD's averaged weights at step {step}"
    return state["model"], f"the weights of the last step (step {step})"
