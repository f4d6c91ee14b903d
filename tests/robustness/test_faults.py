"""Faults while training: a process killed in the middle of writing a checkpoint, and a disk
that fills up. Either way the last complete checkpoint survives, the run resumes, and the
resumed run's logs and weights are those of a run that was never interrupted.

The faults are real where this machine allows: ``SIGKILL`` sent by the training process to
itself at a chosen point of the checkpoint write (a child process), and a tmpfs of fixed size
filled up after the first checkpoint (mounted in a private mount namespace with ``unshare``).
Where no namespace can be made, the full disk is simulated by making writes fail with ``ENOSPC``.
"""

from __future__ import annotations

import csv
import errno
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from rnnkit.cli.main import main
from rnnkit.training import checkpoint_step, load_checkpoint

# The adding task, small: 12 steps, a log row every step, an evaluation and a checkpoint every 3.
CONFIG = {
    "task": "adding",
    "data": {"length": 8, "validation_size": 64, "test_size": 64},
    "model": {"recurrent": {"cell": "lstm", "hidden_size": 48}},
    "train": {"steps": 12, "batch_size": 8, "eval_every": 3, "log_every": 1, "checkpoint_every": 3,
              "progress": False, "device": "cpu", "optimizer": {"name": "adam", "lr": 0.003},
              "early_stopping": {"metric": "val_mse", "mode": "min", "target": None}},
}

# Runs `rnnkit train CONFIG --run-dir RUN` in a child, with a fault planted in the checkpoint
# writer (rnnkit.training.checkpoint's save_file / write_text, as the module looks them up).
DRIVER = textwrap.dedent("""
    import errno, os, signal, sys
    from pathlib import Path
    from rnnkit.training import checkpoint, loop
    from rnnkit.cli.main import main

    fault, at, config, run = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    calls = {"tensors": 0, "index": 0}
    save_file, write_text, save_checkpoint = checkpoint.save_file, checkpoint.write_text, loop.save_checkpoint

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def tensors(values, filename):
        calls["tensors"] += 1
        save_file(values, filename)
        if fault == "tensors-half-written" and calls["tensors"] == at:
            with open(filename, "r+b") as handle:
                handle.truncate(os.path.getsize(filename) // 2)
            die()

    def index(path, text, *args, **kwargs):
        calls["index"] += 1
        if calls["index"] == at:
            if fault == "before-index":
                die()
            if fault == "index-half-written":  # what a kill halfway through the index's temporary leaves
                Path(str(path) + ".tmp-killed").write_text(text[: len(text) // 2])
                die()
        written = write_text(path, text, *args, **kwargs)
        if fault == "before-cleanup" and calls["index"] == at:
            die()
        return written

    def fill_after_first(*args, **kwargs):  # a disk that fills up once the first checkpoint is written
        result = save_checkpoint(*args, **kwargs)
        filler = Path(os.environ["FILLER"])
        if not filler.exists():
            with open(filler, "wb", buffering=0) as handle:
                for block in (1 << 16, 1 << 12, 1):
                    try:
                        while True:
                            handle.write(bytes(block))
                    except OSError as error:
                        if error.errno != errno.ENOSPC:
                            raise
        return result

    checkpoint.save_file, checkpoint.write_text = tensors, index
    if fault == "disk-full":
        loop.save_checkpoint = fill_after_first
    sys.exit(main(["train", config, "--run-dir", run]))
""")

KILLS = [  # (where the kill lands, which checkpoint write: the 2nd is at step 6, the 3rd at step 9)
    ("tensors-half-written", 2),
    ("before-index", 2),
    ("index-half-written", 3),
    ("before-cleanup", 3),
]


def _config(folder: Path) -> Path:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def _driver(fault: str, at: int, config: Path, run: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", DRIVER, fault, str(at), str(config), str(run)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, **env})


def _log(path: Path) -> list[list[str]]:
    """A run's CSV log without its wall-clock column (the only one a resumed run may change)."""
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    drop = rows[0].index("seconds") if "seconds" in rows[0] else None
    return [[v for i, v in enumerate(row) if i != drop] for row in rows]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    _, state = load_checkpoint(run)
    return state["model"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("uninterrupted")
    assert main(["train", str(_config(folder)), "--run-dir", str(folder / "run")]) == 0
    return folder / "run"


def _same_run(resumed: Path, reference: Path) -> None:
    for name in ("train.csv", "eval.csv"):
        assert _log(resumed / name) == _log(reference / name), name
    assert checkpoint_step(resumed) == checkpoint_step(reference) == 12
    mine, theirs = _weights(resumed), _weights(reference)
    assert mine.keys() == theirs.keys()
    for key in mine:
        assert torch.equal(mine[key], theirs[key]), key


@pytest.mark.slow
@pytest.mark.parametrize("fault, at", KILLS, ids=[k for k, _ in KILLS])
def test_killed_while_writing_a_checkpoint_the_run_resumes_exactly(fault, at, tmp_path, uninterrupted, capsys):
    run = tmp_path / "run"
    killed = _driver(fault, at, _config(tmp_path), run)
    assert killed.returncode == -9, killed.stderr
    # the index names a complete checkpoint: the one before the kill, or (killed after the index
    # was written) the new one
    expected = {"tensors-half-written": 3, "before-index": 3, "index-half-written": 6, "before-cleanup": 9}[fault]
    assert checkpoint_step(run) == expected
    load_checkpoint(run)  # its digest checks out
    assert main(["resume", str(run)]) == 0, capsys.readouterr().err
    _same_run(run, uninterrupted)
    assert sorted(p.name for p in run.glob("checkpoint-*.safetensors")) == [  # nothing left over by the kill
        "checkpoint-00000009.safetensors", "checkpoint-00000012.safetensors"]


def _namespace_with_tmpfs(folder: Path) -> list[str] | None:
    """A command prefix that runs in a private mount namespace where a tmpfs can be mounted
    (``unshare -m`` as root, ``-rm`` in a user namespace otherwise), or None."""
    if shutil.which("unshare") is None or sys.platform != "linux":
        return None
    for prefix in (["unshare", "-m"], ["unshare", "-rm"]):
        probe = subprocess.run([*prefix, "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                               capture_output=True)
        if probe.returncode == 0:
            return prefix
    return None


@pytest.mark.slow
def test_disk_full_on_a_real_tmpfs_keeps_the_last_checkpoint_and_resumes(tmp_path, uninterrupted, capsys):
    mount, out = tmp_path / "disk", tmp_path / "out"
    mount.mkdir()
    out.mkdir()
    prefix = _namespace_with_tmpfs(mount)
    if prefix is None:
        pytest.skip("no mount namespace here (unshare); test_disk_full_simulated covers the same path")
    config = _config(tmp_path)
    script = textwrap.dedent(f"""
        set -u
        mount -t tmpfs -o size=4m tmpfs {mount}
        FILLER={mount}/filler {sys.executable} -c "$DRIVER" disk-full 0 {config} {mount}/run \
            > {out}/train.out 2> {out}/train.err
        echo $? > {out}/train.rc
        cp -r {mount}/run {out}/after
        rm {mount}/filler
        {sys.executable} -c "from rnnkit.cli.main import main; raise SystemExit(main())" resume {mount}/run \
            > {out}/resume.out 2> {out}/resume.err
        echo $? > {out}/resume.rc
        cp -r {mount}/run {out}/resumed
    """)
    subprocess.run([*prefix, "bash", "-c", script], env={**os.environ, "DRIVER": DRIVER}, check=True, timeout=300)
    err = (out / "train.err").read_text()
    assert (out / "train.rc").read_text().strip() == "2", err
    assert "Traceback" not in err
    assert f"rnnkit train: error: no space left on the device while writing to {mount}/run; its last complete " \
           f"checkpoint (step 3) is kept: free some space, then `rnnkit resume {mount}/run`" in err
    assert checkpoint_step(out / "after") == 3
    load_checkpoint(out / "after")
    assert (out / "resume.rc").read_text().strip() == "0", (out / "resume.err").read_text()
    _same_run(out / "resumed", uninterrupted)


@pytest.mark.slow
def test_disk_full_simulated(tmp_path, uninterrupted, capsys, monkeypatch):
    """Every write fails with ENOSPC from the 2nd checkpoint on (halfway through the tensor
    file), as on a disk that is full; then the disk is freed and the run resumed."""
    from rnnkit.training import checkpoint

    save_file, calls = checkpoint.save_file, {"n": 0}

    def full(values: dict, filename: str) -> None:
        calls["n"] += 1
        if calls["n"] >= 2:
            Path(filename).write_bytes(b"\0" * 100)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)
        save_file(values, filename)

    monkeypatch.setattr(checkpoint, "save_file", full)
    run = tmp_path / "run"
    assert main(["train", str(_config(tmp_path)), "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"no space left on the device while writing to {run}; its last complete checkpoint (step 3) is kept" in err
    assert checkpoint_step(run) == 3 and not list(run.glob("*.tmp*"))
    monkeypatch.setattr(checkpoint, "save_file", save_file)
    assert main(["resume", str(run)]) == 0, capsys.readouterr().err
    _same_run(run, uninterrupted)


def test_disk_full_before_the_first_checkpoint_says_so(tmp_path, capsys, monkeypatch):
    from rnnkit.training import checkpoint

    def full(values: dict, filename: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)

    monkeypatch.setattr(checkpoint, "save_file", full)
    run = tmp_path / "run"
    assert main(["train", str(_config(tmp_path)), "--run-dir", str(run)]) == 2
    assert f"no space left on the device while writing to {run}; before its first checkpoint: free some space, then " \
           f"train again" in capsys.readouterr().err


def test_a_log_row_cut_short_is_dropped_on_resume(tmp_path):
    """What a kill or a full disk leaves at the end of train.csv: a row without its newline, or
    with too few fields. Resuming drops it; a damaged row before the end is an error."""
    from rnnkit.training.logger import _truncate_csv

    path = tmp_path / "train.csv"
    rows = "step,loss,lr,grad_norm,seconds\n1,0.5,0.1,1.0,0.1\n2,0.4,0.1,1.0,0.2\n"
    for tail in ("3,0.3,0.1,1.", "3,0.3\n", "1"):  # the last: "1" is the start of "12,..." but not step 1
        path.write_text(rows + tail)
        _truncate_csv(path, last_step=12)
        assert path.read_text().replace("\r\n", "\n") == rows, tail
    path.write_text("step,loss\n1,0.5\nx,0.4\n2,0.3\n")
    with pytest.raises(ValueError, match=r"train.csv: line 3: expected a step number first, got 'x'"):
        _truncate_csv(path, last_step=12)
