"""Writing files so that a crash never leaves half of one: write a temporary file beside the
target, flush it to disk, then rename it over the target (a rename within one folder is atomic).

    with atomic_path("runs/x/weights.safetensors") as tmp:   # any writer that takes a path
        save_file(tensors, str(tmp))
    with atomic_open("runs/x/scores.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    write_text("runs/x/summary.json", text)

The temporary file has a unique name (``.<name>.<random>.tmp`` in the same folder), so two
writers of one file never share it; the last rename wins and the file is always whole. A
writer that raises leaves the target as it was and removes its temporary file.

It also checks a file against a published digest (``sha256``): the same place for what a
checkpoint records of its tensors and what a downloaded archive must match.

This module is a leaf: it imports nothing from rnnkit, so every part of the package may use it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path for the body to write; on success it is synced and renamed to ``path``.

    The parent folder is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(descriptor)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """``open(tmp, mode, **kwargs)`` for the body; the file replaces ``path`` when the body ends."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open: expected a write mode ('w', 'wb', ...), got {mode!r}")
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle
        handle.flush()


def write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    with atomic_open(path, "w", encoding=encoding) as handle:
        handle.write(text)
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def write_json(path: str | Path, value: Any, indent: int | None = 1) -> Path:
    """``value`` as JSON (UTF-8, non-ASCII kept as is), atomically."""
    return write_text(path, json.dumps(value, indent=indent, ensure_ascii=False) + "\n")


def sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, as hex, read in 1 MiB blocks (any size of file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
