"""Run folders: one process at a time (an OS lock that dies with its holder), never written over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from rnnkit.training.run_folder import RunFolderError, RunLock, claim, holds_run, new_run_folder

HOLD = textwrap.dedent("""
    import sys, time
    from rnnkit.training.run_folder import RunLock
    with RunLock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(60)
""")


def _holder(folder):
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_second_process_is_refused_with_the_holder_named_and_a_killed_holder_frees_the_folder(tmp_path):
    child = _holder(tmp_path)
    try:
        with pytest.raises(RunFolderError, match=rf"{tmp_path}: in use by another rnnkit process \(pid {child.pid}, "
                                                 r"since .*: .*-c"):
            RunLock(tmp_path).acquire()
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    with RunLock(tmp_path):  # kill -9 left no stale lock
        pass


def test_the_lock_is_exclusive_within_one_process_too_and_released_on_exit(tmp_path):
    with RunLock(tmp_path), pytest.raises(RunFolderError, match="in use by another rnnkit process"):
        RunLock(tmp_path).acquire()
    RunLock(tmp_path).acquire().release()


def test_claim_refuses_a_run_and_overwrite_moves_it_aside_whole(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    assert not holds_run(folder)  # a user's file is not a run
    with claim(folder) as moved:
        assert moved is None
    (folder / "config.yaml").write_text("task: adding\n")
    (folder / "checkpoint.json").write_text("{}")
    with pytest.raises(RunFolderError, match=r"holds an unfinished run \(`rnnkit resume .*` continues it\); choose "
                                             r"another --run-dir, or pass --overwrite"), claim(folder):
        pass
    (folder / "summary.json").write_text("{}")
    with pytest.raises(RunFolderError, match="holds a finished run"), claim(folder):
        pass
    with claim(folder, overwrite=True) as moved:
        assert moved.name.startswith("run.replaced-") and moved.parent == tmp_path
        assert sorted(p.name for p in moved.iterdir() if p.name != ".lock") == [
            "checkpoint.json", "config.yaml", "notes.txt", "summary.json"]
        assert [p.name for p in folder.iterdir()] == [".lock"]  # a fresh folder, held
        with pytest.raises(RunFolderError, match="in use"):
            RunLock(folder).acquire()
    (tmp_path / "file").write_text("")
    with pytest.raises(RunFolderError, match=r"file: a file, not a folder"), claim(tmp_path / "file"):
        pass


def test_default_folders_never_collide(tmp_path):
    folders = [new_run_folder(tmp_path, "adding") for _ in range(50)]  # all within a second or two
    assert len(set(folders)) == 50 and all(f.is_dir() and f.name.startswith("adding-") for f in folders)
