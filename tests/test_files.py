"""rnnkit.files: a write either lands whole or leaves the target as it was; digests match hashlib."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from rnnkit.files import atomic_open, atomic_path, sha256, write_bytes, write_json, write_text


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_writes_land_whole_and_leave_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "new" / "folder" / "summary.json"  # parents are created
    write_json(target, {"val_mse": 0.5, "name": "Dvořák"})
    assert json.loads(target.read_text(encoding="utf-8")) == {"val_mse": 0.5, "name": "Dvořák"}
    write_text(target, "second\n")
    assert target.read_text() == "second\n"
    write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert _leftovers(target.parent) == [] and _leftovers(tmp_path) == []


def test_a_writer_that_fails_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "scores.csv"
    target.write_text("old\n")
    with pytest.raises(ZeroDivisionError), atomic_open(target, "w") as handle:
        handle.write("half a new fi")
        1 / 0  # noqa: B018
    assert target.read_text() == "old\n" and _leftovers(tmp_path) == []
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:  # a killed run, too
        tmp.write_text("partial")
        raise KeyboardInterrupt
    assert target.read_text() == "old\n" and _leftovers(tmp_path) == []


def test_two_writers_of_one_file_get_their_own_temporary_names(tmp_path: Path) -> None:
    target = tmp_path / "weights.bin"
    with atomic_path(target) as first, atomic_path(target) as second:
        assert first != second and first.parent == second.parent == tmp_path
        first.write_bytes(b"first")
        second.write_bytes(b"second")
    assert target.read_bytes() == b"first"  # the outer writer finishes last: the last rename wins


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_a_written_file_has_the_permissions_a_plain_write_gives(tmp_path: Path, umask: int) -> None:
    """The reference is open(path, "w"): a new file gets 0o666 less the umask, a rewritten one keeps
    its mode (a results table must stay readable to the group where the umask allows it)."""
    def mode(path: Path) -> int:
        return os.stat(path).st_mode & 0o777

    previous = os.umask(umask)
    try:
        with open(tmp_path / "plain.txt", "w") as handle:
            handle.write("x")
        write_text(tmp_path / "atomic.txt", "x")
        assert mode(tmp_path / "atomic.txt") == mode(tmp_path / "plain.txt") == 0o666 & ~umask
        for name in ("plain.txt", "atomic.txt"):
            os.chmod(tmp_path / name, 0o640)
        with open(tmp_path / "plain.txt", "w") as handle:
            handle.write("y")
        write_text(tmp_path / "atomic.txt", "y")
        assert mode(tmp_path / "atomic.txt") == mode(tmp_path / "plain.txt") == 0o640
    finally:
        os.umask(previous)


def test_atomic_open_refuses_a_mode_that_does_not_write(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"expected a write mode .* got 'a'"), atomic_open(tmp_path / "x", "a"):
        pass


def test_sha256_matches_hashlib_across_block_boundaries(tmp_path: Path) -> None:
    for size in (0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 7, 3 << 20):
        data = os.urandom(size)
        path = tmp_path / f"{size}.bin"
        path.write_bytes(data)
        assert sha256(path) == hashlib.sha256(data).hexdigest()
