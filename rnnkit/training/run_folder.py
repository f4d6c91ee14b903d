"""A run folder belongs to one run, and to one process at a time.

- :func:`claim` takes a folder for a new run: it refuses one that already holds a run
  (``config.yaml``, a checkpoint, logs or a report) unless asked to overwrite, and then moves
  the old run aside whole (``NAME.replaced-<time>``) rather than writing over it.
- :class:`RunLock` holds the folder while a process trains or resumes in it: an advisory lock
  (``flock``) on ``.lock`` that the operating system releases when the process ends, even by
  ``kill -9``, so a crash leaves no stale lock behind. A second process is told who holds it.
- :func:`new_run_folder` makes a default folder whose name cannot collide: the time to the
  second and a random suffix, created with ``mkdir`` (which fails rather than share a folder).

Imports nothing from rnnkit.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

LOCK = ".lock"
RUN_FILES = ("config.yaml", "checkpoint.json", "summary.json", "train.csv", "eval.csv")


class RunFolderError(RuntimeError):
    """A run folder that is not free to use: it holds a run, or another process is using it."""


def holds_run(folder: str | Path) -> bool:
    """Whether ``folder`` holds (part of) a run: its config, a checkpoint, logs or a report."""
    return any((Path(folder) / name).exists() for name in RUN_FILES)


class RunLock:
    """An exclusive, non-blocking lock on ``folder`` for the life of this object's hold.

        with RunLock("runs/x"):
            ...  # train, resume: no other process can hold runs/x meanwhile

    The lock file records the holder's process id, start time and command line, for the
    message another process gets.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._handle: IO[str] | None = None

    def acquire(self) -> RunLock:
        if self._handle is not None:
            return self
        handle = open(self.folder / LOCK, "a+", encoding="utf-8")  # noqa: SIM115 - held until release
        if not _try_lock(handle):
            handle.seek(0)
            holder = _describe_holder(handle.read())
            handle.close()
            raise RunFolderError(f"{self.folder}: in use by another rnnkit process ({holder}); wait for it to "
                                 f"finish or stop it, or choose another folder")
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                                 "command": " ".join(sys.argv)[:500]}))
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            _unlock(self._handle)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(handle: IO[str]) -> bool:
        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(handle: IO[str]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(handle: IO[str]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _describe_holder(text: str) -> str:
    try:
        holder = json.loads(text)
        return f"pid {holder['pid']}, since {holder['since']}: {holder['command']}"
    except (ValueError, KeyError, TypeError):
        return "its process id is not recorded"


def _free_name(folder: Path, stem: str) -> Path:
    for n in range(1, 1000):
        candidate = folder.with_name(f"{stem}-{n}" if n > 1 else stem)
        if not candidate.exists():
            return candidate
    raise RunFolderError(f"{folder}: no free name beside it to move the old run to")


@contextlib.contextmanager
def claim(folder: str | Path, overwrite: bool = False) -> Iterator[Path | None]:
    """Hold ``folder`` for a new run; yields where an old run was moved (``overwrite``), else None.

    A folder holding a run is an error without ``overwrite``. With it, the old run is renamed to
    ``NAME.replaced-<time>`` beside it (while locked, so not from under a process using it) and
    a fresh folder takes its place. Files that are not a run's (a user's notes) are not a run:
    training writes beside them and deletes none of them.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"{folder}: a file, not a folder; expected a folder for the run (--run-dir)")
    folder.mkdir(parents=True, exist_ok=True)
    lock = RunLock(folder).acquire()
    moved = None
    try:
        if holds_run(folder):
            if not overwrite:
                state = "a finished run" if (folder / "summary.json").exists() else \
                    f"an unfinished run (`rnnkit resume {folder}` continues it)"
                raise RunFolderError(f"{folder}: holds {state}; choose another --run-dir, or pass --overwrite to "
                                     f"move it aside (nothing is deleted) and start afresh")
            moved = _free_name(folder, f"{folder.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
            folder.rename(moved)
            folder.mkdir()
            fresh = RunLock(folder).acquire()
            lock.release()
            lock = fresh
        yield moved
    finally:
        lock.release()


def new_run_folder(parent: str | Path, stem: str) -> Path:
    """A new, empty folder ``parent/STEM-YYYYmmdd-HHMMSS-xxxx`` (``xxxx`` random): two runs
    started in the same second get two folders."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        folder = parent / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise RunFolderError(f"{parent}: could not create a new run folder")
