"""Run by tests/test_distributed.py under torchrun: trains the tiny adding task data-parallel
and saves this rank's final parameters and losses to OUT/rank<r>.safetensors / .json."""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from rnnkit.config import from_dict
from rnnkit.tasks.long_term import LongTermConfig, build
from rnnkit.training import fit, init_distributed


def main(out: Path) -> None:
    config = from_dict(LongTermConfig, {
        "task": "adding", "data": {"length": 8, "test_size": 16},
        "model": {"recurrent": {"cell": "lstm", "hidden_size": 8}},
        "train": {"steps": 15, "batch_size": 8, "progress": False, "device": "cpu", "checkpoint_every": 5,
                  "max_seconds": 600.0, "optimizer": {"lr": 0.01}},
    })
    info = init_distributed("cpu")
    torch.manual_seed(1234 + info.rank)  # different initial weights: DDP must broadcast rank 0's
    job = build(config, rank=info.rank)
    result = fit(job.model, job.step_fn, job.batches, config.train, run_dir=out / "run", dist_info=info)
    save_file({k: v.contiguous() for k, v in job.model.state_dict().items()}, str(out / f"rank{info.rank}.safetensors"))
    (out / f"rank{info.rank}.json").write_text(json.dumps({"losses": result.losses, "world_size": info.world_size}))
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
