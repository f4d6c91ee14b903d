"""The fused kernels' build: without a compiler (or with RNNKIT_NO_EXTENSION) the layers fall
back to the loop, unless RNNKIT_REQUIRE_KERNEL is set, as in CI: then it is an error."""

from __future__ import annotations

import os
import subprocess
import sys


def test_a_required_kernel_that_cannot_load_is_an_error_not_a_fallback():
    code = "from rnnkit.functional import kernels; print(kernels.available())"
    env = {k: v for k, v in os.environ.items() if k != "RNNKIT_REQUIRE_KERNEL"} | {"RNNKIT_NO_EXTENSION": "1"}
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert quiet.returncode == 0 and quiet.stdout.strip() == "False"
    required = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env={**env, "RNNKIT_REQUIRE_KERNEL": "1"})
    assert required.returncode != 0 and "RNNKIT_REQUIRE_KERNEL is set" in required.stderr
