"""Checkpoints as safetensors + JSON: loading one never runs code.

A checkpoint is any nested state (state dicts of the model, optimizer and scheduler, loop
counters, RNG states, ...). Its tensors go to ``checkpoint-<step>.safetensors``; everything
else, with a reference to each tensor and the tensor file's SHA-256, goes to
``checkpoint.json`` (the index). Both are written to a temporary name and renamed, the
tensors first, so ``checkpoint.json`` always names a complete tensor file: a run killed at any
moment resumes from its last checkpoint.

The index also records:

- ``kept``: the tensor files it wrote and still keeps, and ``dropped``: those it wrote and is
  deleting (a run killed while deleting them finishes the job at its next checkpoint); the
  clean-up deletes only files from these lists, never another file that happens to be called
  ``checkpoint-*.safetensors``;
- ``bound``: the SHA-256 of each file the weights' meaning depends on (a vocabulary, the class
  names), so an edited or reordered file is an error when the weights are loaded, not a model
  that silently mislabels.

Loading reads with bounds: the index is at most :data:`MAX_INDEX_BYTES`; every file it names
is a plain name inside the run folder (no path, no link out of it) and a regular file; the
step is a non-negative integer; and tensors holding NaN or infinities are refused.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from rnnkit.files import InputError, atomic_path, decode_text, input_file, sha256, write_text

FORMAT = 1
INDEX = "checkpoint.json"
KEEP = 2  # tensor files kept: the newest and the one before it
MAX_INDEX_BYTES = 64 << 20  # an index holds the state's structure and small values; tensors are elsewhere
MAX_STEP = 10**12
TENSOR_FILE = re.compile(r"checkpoint-\d+\.safetensors")


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


def save_checkpoint(run_dir: str | Path, step: int, state: dict[str, Any], bound: Iterable[str] = ()) -> Path:
    """Write ``state`` as the run's newest checkpoint; returns the index file's path.

    ``bound``: names of files in ``run_dir`` whose SHA-256 the index records (see the module
    docstring). The tensor files this index no longer keeps are deleted; only those.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, Tensor] = {}
    structure = _split(state, "state", tensors)
    tensor_file = run_dir / f"checkpoint-{step:08d}.safetensors"
    with atomic_path(tensor_file) as tmp:
        try:
            save_file(tensors, str(tmp))
        except SafetensorError as error:  # safetensors' Rust writer reports I/O errors as its own type
            code = re.search(r"os error (\d+)", str(error))
            if code is None:
                raise
            raise OSError(int(code.group(1)), os.strerror(int(code.group(1))), str(tensor_file)) from error
    previous = _written(run_dir)
    kept = [name for name in previous["kept"] if name != tensor_file.name] + [tensor_file.name]
    left = [name for name in previous["dropped"] if (run_dir / name).exists()]  # by a run killed while deleting
    kept, dropped = kept[-KEEP:], [name for name in kept[:-KEEP] + left if name not in kept[-KEEP:]]
    index = {"format": FORMAT, "step": step, "tensors": tensor_file.name, "sha256": sha256(tensor_file),
             "kept": kept, "dropped": dropped, "bound": {name: sha256(run_dir / name) for name in bound},
             "state": structure}
    write_text(run_dir / INDEX, json.dumps(index))
    for name in dropped:  # a kill before this loop ends: the next save deletes them (the index lists them)
        (run_dir / name).unlink(missing_ok=True)
    return run_dir / INDEX


def _written(run_dir: Path) -> dict[str, list[str]]:
    """The tensor files the current index wrote: ``kept`` (an index from before that list: the
    one it names) and ``dropped`` (to delete); none if there is no readable index."""
    try:
        index = _read_index(run_dir)
    except CheckpointError:
        return {"kept": [], "dropped": []}

    def names(value: Any) -> list[str]:
        return [n for n in value if isinstance(n, str) and TENSOR_FILE.fullmatch(n)] if isinstance(value, list) else []

    return {"kept": names(index.get("kept", [index.get("tensors")])), "dropped": names(index.get("dropped", []))}


def has_checkpoint(run_dir: str | Path) -> bool:
    return (Path(run_dir) / INDEX).exists()


def _read_index(run_dir: Path) -> dict[str, Any]:
    index_path = run_dir / INDEX
    if not index_path.exists():
        raise CheckpointError(f"{run_dir}: no checkpoint ({INDEX} is missing)")
    try:
        index = json.loads(decode_text(input_file(index_path, "a checkpoint index", MAX_INDEX_BYTES).read_bytes(),
                                       str(index_path)))
    except (InputError, json.JSONDecodeError, RecursionError) as error:
        raise CheckpointError(f"{index_path}: corrupt or truncated checkpoint index ({error})") from None
    if not isinstance(index, dict):
        raise CheckpointError(f"{index_path}: corrupt checkpoint index (expected a JSON object)")
    if index.get("format") != FORMAT:
        raise CheckpointError(f"{index_path}: expected checkpoint format {FORMAT}, got {index.get('format')!r}")
    return index


def checkpoint_step(run_dir: str | Path) -> int:
    """The step of ``run_dir``'s newest checkpoint (from its index, checked: see :func:`load_checkpoint`)."""
    run_dir = Path(run_dir)
    return _step(_read_index(run_dir), run_dir / INDEX)


def _step(index: dict[str, Any], index_path: Path) -> int:
    step = index.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEP:
        raise CheckpointError(f"{index_path}: step {step!r}; expected an integer from 0 to {MAX_STEP}")
    return step


def _member(run_dir: Path, name: Any, index_path: Path, what: str) -> Path:
    """The file ``name`` of the run folder that the index names: a plain file name (no folder, no
    ``..``), not a link, a regular file."""
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", "..") or "\\" in name:
        raise CheckpointError(f"{index_path}: names {what} {name!r}; expected a file name inside {run_dir} "
                              f"(no path: the index may not point outside its run folder)")
    path = run_dir / name
    if path.is_symlink():
        raise CheckpointError(f"{path}: a link (named by {index_path}); expected the file itself, inside the run "
                              f"folder")
    try:
        return input_file(path, what)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing (named by {index_path})") from None
    except InputError as error:
        raise CheckpointError(f"{error} (named by {index_path})") from None


def load_checkpoint(run_dir: str | Path, map_location: str | torch.device = "cpu") -> tuple[int, dict[str, Any]]:
    """Read the newest checkpoint of ``run_dir``: ``(step, state)``. Never runs code; checks
    what the module docstring lists before and after reading the tensors."""
    run_dir = Path(run_dir)
    index_path = run_dir / INDEX
    index = _read_index(run_dir)
    step = _step(index, index_path)
    tensor_file = _member(run_dir, index.get("tensors"), index_path, "its tensor file")
    if "state" not in index or not isinstance(index.get("sha256"), str):
        raise CheckpointError(f"{index_path}: corrupt checkpoint index (no state or sha256)")
    if sha256(tensor_file) != index["sha256"]:
        raise CheckpointError(f"{tensor_file}: corrupt or truncated (its SHA-256 does not match {index_path})")
    bound = index.get("bound", {})
    if not isinstance(bound, dict):
        raise CheckpointError(f"{index_path}: corrupt checkpoint index (bound is not a mapping)")
    for name, digest in bound.items():
        path = _member(run_dir, name, index_path, "a file the weights depend on")
        if sha256(path) != digest:
            raise CheckpointError(f"{path}: changed since training (its SHA-256 differs from the one {index_path} "
                                  f"recorded); the weights would be read with another {name}. Restore the file, or "
                                  f"train again")
    try:
        tensors = load_file(str(tensor_file), device=str(map_location))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{tensor_file}: unreadable ({error})") from None
    for key, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{tensor_file}: {key} holds NaN or infinite values; the checkpoint is corrupt "
                                  f"(or training diverged before it was saved)")
    try:
        return step, _join(index["state"], tensors)
    except (KeyError, TypeError, ValueError, RecursionError) as error:
        raise CheckpointError(f"{index_path}: names a tensor {error} that {tensor_file.name} lacks, or an "
                              f"unreadable structure") from None


def trained_weights(run_dir: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The model weights a trained run stands for: the best evaluation's (``restore_best``),
    else NT-ASGD's average, else the newest checkpoint's."""
    return trained_weights_and_origin(run_dir, map_location)[0]


def trained_weights_and_origin(run_dir: str | Path, map_location: str | torch.device = "cpu"
                               ) -> tuple[dict[str, Any], str]:
    """:func:`trained_weights` and which they are, in words (for reports)."""
    step, state = load_checkpoint(run_dir, map_location)
    loop = state.get("loop") if isinstance(state, dict) else None
    loop = loop if isinstance(loop, dict) else {}
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise CheckpointError(f"{Path(run_dir) / INDEX}: no model weights in the checkpoint")
    if isinstance(state.get("best_model"), dict):
        metric, best = loop.get("best_metric"), loop.get("best")
        chosen = f"{metric} {best:.6g}" if isinstance(metric, str) and isinstance(best, (int, float)) \
            else "the early-stopping metric"
        return state["best_model"], f"the best validation evaluation's weights (step {loop.get('best_step')}, {chosen})"
    if isinstance(state.get("eval_model"), dict):
        return state["eval_model"], f"NT-ASGD's averaged weights at step {step}"
    return state["model"], f"the weights of the last step (step {step})"
