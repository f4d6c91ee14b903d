"""What a long-term dependency run can set: the length T, the held-out sets, the model, training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rnnkit.models import SequenceModelConfig
from rnnkit.training import TrainConfig


@dataclass
class LongTermDataConfig:
    length: int = 100  # T: the distance the dependency spans
    validation_size: int = 1000  # examples that decide early stopping and "solved"
    test_size: int = 1000  # examples reported once, after training
    seed: int = 12345  # validation set: seed, test set: seed + 1 (fixed across runs and models)

    def __post_init__(self) -> None:
        if self.length < 2:
            raise ValueError(f"data.length: expected at least 2 steps, got {self.length}")
        for name in ("validation_size", "test_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name}: expected a positive number of examples, got {getattr(self, name)}")


@dataclass
class LongTermConfig:
    task: Literal["adding", "copy"] = "adding"
    run_dir: str | None = None
    data: LongTermDataConfig = field(default_factory=LongTermDataConfig)
    model: SequenceModelConfig = field(default_factory=SequenceModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
