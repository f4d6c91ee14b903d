"""The fused kernels' build: without a compiler (or with RNNKIT_NO_EXTENSION) the layers fall
back to the loop, unless RNNKIT_REQUIRE_KERNEL is set, as in CI: then it is an error; a build
that was killed midway does not make the next one hang."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rnnkit.functional import kernels


def test_a_required_kernel_that_cannot_load_is_an_error_not_a_fallback():
    code = "from rnnkit.functional import kernels; print(kernels.available())"
    env = {k: v for k, v in os.environ.items() if k != "RNNKIT_REQUIRE_KERNEL"} | {"RNNKIT_NO_EXTENSION": "1"}
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert quiet.returncode == 0 and quiet.stdout.strip() == "False"
    required = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env={**env, "RNNKIT_REQUIRE_KERNEL": "1"})
    assert required.returncode != 0 and "RNNKIT_REQUIRE_KERNEL is set" in required.stderr


def test_a_build_killed_midway_does_not_hang_the_next(tmp_path):
    """torch's guard is a ``lock`` file that waiters poll for without end; a builder killed
    mid-build leaves it. The next build (here: a fresh cache with such a file planted) removes it
    and finishes, instead of hanging."""
    code = ("from rnnkit.functional import kernels; folder, _ = kernels.build_folder(); "
            "folder.mkdir(parents=True); (folder / 'lock').touch(); print(kernels.available())")
    env = {k: v for k, v in os.environ.items() if k not in ("RNNKIT_NO_EXTENSION", "RNNKIT_REQUIRE_KERNEL")}
    env["RNNKIT_CACHE"] = str(tmp_path)
    if not kernels.available():
        pytest.skip("the kernels do not build on this machine")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr
    assert "did not finish" in done.stderr
    assert not list(tmp_path.rglob("lock"))


def test_a_live_build_is_waited_for_then_given_up_on(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    holder = os.open(tmp_path / "build.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another builder, alive
    (tmp_path / "lock").touch()  # its torch guard: not stale, must be left alone
    try:
        with pytest.raises(TimeoutError, match=r"building the kernels in .* for over 0 s"):
            with kernels._building(tmp_path, wait=0.3):
                pass
        assert (tmp_path / "lock").exists()
    finally:
        os.close(holder)
    with kernels._building(tmp_path, wait=0.3):  # released: taken at once, the leftover cleared
        assert not (tmp_path / "lock").exists()
