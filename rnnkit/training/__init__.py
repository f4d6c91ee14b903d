"""The generic training loop and what surrounds it. Imports nothing from models, tasks or cli."""

from rnnkit.training.bptt import RandomBatches, StreamBatch, StreamBatches, batchify, detach_state, gradient_flow
from rnnkit.training.checkpoint import (
    CheckpointError,
    checkpoint_step,
    has_checkpoint,
    load_checkpoint,
    save_checkpoint,
    trained_weights,
    trained_weights_and_origin,
)
from rnnkit.training.distributed import DistInfo, init_distributed
from rnnkit.training.loop import EarlyStoppingConfig, FitResult, StepOutput, TrainConfig, fit, model_device, seed_everything
from rnnkit.training.optim import NTASGD, OptimizerConfig, ScheduleConfig, build_optimizer, build_scheduler
from rnnkit.training.run_folder import RunFolderError, RunLock, claim, holds_run, new_run_folder

__all__ = [
    "NTASGD",
    "CheckpointError",
    "RunFolderError",
    "RunLock",
    "DistInfo",
    "EarlyStoppingConfig",
    "FitResult",
    "OptimizerConfig",
    "RandomBatches",
    "ScheduleConfig",
    "StepOutput",
    "StreamBatch",
    "StreamBatches",
    "TrainConfig",
    "batchify",
    "build_optimizer",
    "build_scheduler",
    "checkpoint_step",
    "claim",
    "detach_state",
    "fit",
    "gradient_flow",
    "model_device",
    "has_checkpoint",
    "holds_run",
    "init_distributed",
    "load_checkpoint",
    "new_run_folder",
    "save_checkpoint",
    "trained_weights",
    "trained_weights_and_origin",
    "seed_everything",
]
