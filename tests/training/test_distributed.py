"""Data-parallel training: 2 CPU processes (gloo) under torchrun keep identical parameters."""

from __future__ import annotations

import pytest

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file


@pytest.mark.slow
def test_two_processes_stay_identical(tmp_path):
    worker = Path(__file__).parent / "ddp_worker.py"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "0",
               "--rdzv_backend", "c10d", "--rdzv_endpoint", "127.0.0.1:0", str(worker), str(tmp_path)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=170)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1)]
    logs = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert logs[0]["world_size"] == 2
    for name in ranks[0]:
        assert torch.equal(ranks[0][name], ranks[1][name]), name  # DDP averaged the same gradients
    assert logs[0]["losses"] != logs[1]["losses"]  # each rank trained on its own batches
    index = json.loads((tmp_path / "run" / "checkpoint.json").read_text())  # written by rank 0 alone
    per_rank = index["state"]["__dict__"]["per_rank"]
    assert index["step"] == 15 and len(per_rank) == 2  # both ranks' data positions, for resuming
