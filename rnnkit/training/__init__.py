"""The generic training loop and what surrounds it. Imports nothing from models, tasks or cli."""

from rnnkit.training.bptt import RandomBatches, StreamBatch, StreamBatches, batchify, detach_state, gradient_flow
from rnnkit.training.checkpoint import (
    CheckpointError,
    has_checkpoint,
    load_checkpoint,
    save_checkpoint,
    trained_weights,
    trained_weights_and_origin,
)
from rnnkit.training.distributed import DistInfo, init_distributed
from rnnkit.training.loop import EarlyStoppingConfig, FitResult, StepOutput, TrainConfig, fit, seed_everything
from rnnkit.training.optim import NTASGD, OptimizerConfig, ScheduleConfig, build_optimizer, build_scheduler

__all__ = [
    "NTASGD",
    "CheckpointError",
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
    "detach_state",
    "fit",
    "gradient_flow",
    "has_checkpoint",
    "init_distributed",
    "load_checkpoint",
    "save_checkpoint",
    "trained_weights",
    "trained_weights_and_origin",
    "seed_everything",
]
