"""Train, validation and test parts: fixed before training, saved with the run, test sealed.

The protocol every application follows (validation chooses, test is read once):

- A task's ``build`` splits its data into parts once, before training, and describes the
  split in a :class:`Split`: what each part holds (sizes, ranges, a fingerprint of its
  members). The runner saves that record as ``split.json`` in the run folder and, when the run
  is resumed or its model loaded again, checks that the data still splits the same way.
- Training and every evaluation during it read the training and validation parts only. The
  test part is a :class:`Sealed` value: the job holds it, nothing reads it but the report,
  and every read is counted. The runner refuses a run whose test part was read before the
  report (a bug in the task, not something a config can cause).
- Early stopping, the kept weights and every threshold are chosen on validation metrics;
  the generic loop refuses a metric whose name starts with ``test``.

    split = Split({"train": {...}, "validation": {...}, "test": {...}}, Sealed(lambda: load(...)))
    ...
    test = job.split.test.open()   # in the report, and only there
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from rnnkit.files import write_json

T = TypeVar("T")
RECORD = "split.json"


class Sealed(Generic[T]):
    """The test part of a job: made before training, opened by the report alone, each read counted.

    ``Sealed(loader)`` calls ``loader()`` on the first :meth:`open` (so a test file is not even
    read before then) and keeps the result; ``Sealed.of(value)`` seals a value already at hand.
    """

    def __init__(self, loader: Callable[[], T]) -> None:
        self._loader = loader
        self._value: T | None = None
        self._loaded = False
        self.reads = 0

    @classmethod
    def of(cls, value: T) -> Sealed[T]:
        return cls(lambda: value)

    def open(self) -> T:
        """The test part. Call it from the report only: every call is counted in ``reads``."""
        self.reads += 1
        if not self._loaded:
            self._value, self._loaded = self._loader(), True
        return self._value  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"Sealed(reads={self.reads})"


@dataclass
class Split:
    """How a job's data was split: ``record`` describes each part (saved as ``split.json``),
    ``test`` is the sealed test part."""

    record: dict[str, Any]
    test: Sealed[Any]


def fingerprint(members: Iterable[Any]) -> str:
    """A short SHA-256 of a part's members in order (indices, names, text): the same members,
    the same fingerprint."""
    digest = hashlib.sha256()
    for member in members:
        digest.update(json.dumps(member, ensure_ascii=False, default=str).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def fingerprint_bytes(data: bytes) -> str:
    """A short SHA-256 of raw data (an array's bytes, a text's UTF-8): the same data, the same fingerprint."""
    return hashlib.sha256(data).hexdigest()[:16]


def describe(members: list[Any], **extra: Any) -> dict[str, Any]:
    """A part's record: its size, its fingerprint and anything else worth saying about it."""
    return {"size": len(members), "fingerprint": fingerprint(members), **extra}


def save_or_check(run_dir: str | Path, split: Split) -> None:
    """Write the split record into a new run folder, or check it against the one saved there.

    A run whose data now splits differently (another file, another seed, a changed data set)
    is an error: its validation choices and its test report would no longer belong together.
    """
    path = Path(run_dir) / RECORD
    record = json.loads(json.dumps(split.record, default=str))  # as it reads back from JSON
    if not path.exists():
        write_json(path, record)
        return
    saved = json.loads(path.read_text(encoding="utf-8"))
    if saved != record:
        changed = sorted(k for k in set(saved) | set(record) if saved.get(k) != record.get(k))
        raise ValueError(f"{path}: the data no longer splits as it did when this run started (parts {changed} "
                         f"differ: saved {[saved.get(k) for k in changed]}, now {[record.get(k) for k in changed]}); "
                         f"train a new run for the new data")
