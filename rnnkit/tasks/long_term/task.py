"""Long-term dependencies: the adding problem and the copy-memory task.

Adding (Hochreiter & Schmidhuber 1997, in the form of Le et al. 2015): each step carries a
random number in [0, 1] and a marker; exactly two steps are marked, one in each half; the
target is the sum of the two marked numbers. Predicting 1 always gives an MSE of about
0.167; "solved" means a test MSE below 0.01.

Copy memory (Arjovsky et al. 2016): ten symbols from {1..8}, then T - 1 blanks (0), a
delimiter (9), and ten more blanks, during which the model must output the ten symbols.
Predicting blanks and then guessing gives a cross-entropy of 10 ln 8 / (T + 20); "solved"
means at least 99% of the recalled symbols right.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.models import RecurrentConfig, SequenceModel
from rnnkit.tasks.core.registry import Task
from rnnkit.training import RandomBatches, StepOutput, TrainConfig, gradient_flow

COPY_SYMBOLS, COPY_LENGTH, BLANK, DELIMITER = 8, 10, 0, 9


def adding_batch(length: int, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``x``: ``(T, B, 2)`` (value, marker), ``y``: ``(B, 1)`` the sum of the marked values."""
    values = torch.rand(length, batch_size, generator=generator)
    half = length // 2
    first = torch.randint(0, half, (batch_size,), generator=generator)
    second = torch.randint(half, length, (batch_size,), generator=generator)
    markers = torch.zeros(length, batch_size)
    columns = torch.arange(batch_size)
    markers[first, columns] = 1.0
    markers[second, columns] = 1.0
    target = values[first, columns] + values[second, columns]
    return torch.stack([values, markers], dim=-1), target.unsqueeze(-1)


def copy_batch(length: int, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``x``: ``(T + 20, B)`` symbols, ``y``: ``(T + 20, B)`` targets (blank until the recall)."""
    symbols = torch.randint(1, COPY_SYMBOLS + 1, (COPY_LENGTH, batch_size), generator=generator)
    total = length + 2 * COPY_LENGTH
    x = torch.full((total, batch_size), BLANK, dtype=torch.long)
    x[:COPY_LENGTH] = symbols
    x[COPY_LENGTH + length - 1] = DELIMITER
    y = torch.full((total, batch_size), BLANK, dtype=torch.long)
    y[-COPY_LENGTH:] = symbols
    return x, y


@dataclass
class LongTermDataConfig:
    length: int = 100  # T: the distance the dependency spans
    test_size: int = 1000
    seed: int = 12345  # the test set's seed, fixed across runs and models


@dataclass
class LongTermConfig:
    task: Literal["adding", "copy"] = "adding"
    run_dir: str | None = None
    data: LongTermDataConfig = field(default_factory=LongTermDataConfig)
    model: RecurrentConfig = field(default_factory=RecurrentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


class CopyModel(nn.Module):
    """One-hot symbols in, a distribution over the ten symbols out at every step."""

    def __init__(self, config: RecurrentConfig) -> None:
        super().__init__()
        self.sequence = SequenceModel(COPY_SYMBOLS + 2, COPY_SYMBOLS + 2, config, readout="all")

    def hidden(self, x: Tensor) -> Tensor:
        return self.sequence.hidden(F.one_hot(x, COPY_SYMBOLS + 2).float())

    def forward(self, x: Tensor) -> Tensor:
        return self.sequence.head_of(self.hidden(x))  # (T, B, 10) logits


@dataclass
class Job:
    """What :func:`rnnkit.training.fit` needs, plus the probe's view of the model."""

    model: nn.Module
    step_fn: Any
    batches: RandomBatches
    evaluate: Any
    probe_batch: tuple[Tensor, Tensor]
    probe_loss: Any
    probe_inputs: Any


def build(config: LongTermConfig, rank: int = 0) -> Job:
    """Model, batches, loss and metrics for the adding or the copy task."""
    T, batch_size = config.data.length, config.train.batch_size
    if T < 2:
        raise ValueError(f"data.length: expected at least 2 steps, got {T}")
    test_generator = torch.Generator().manual_seed(config.data.seed)
    if config.task == "adding":
        model: nn.Module = SequenceModel(2, 1, config.model, readout="last")
        test = adding_batch(T, config.data.test_size, test_generator)

        def step_fn(m: nn.Module, batch: tuple[Tensor, Tensor], carry: Any) -> StepOutput:
            x, y = batch
            return StepOutput(F.mse_loss(m(x), y))

        def evaluate(m: nn.Module) -> dict[str, float]:
            x, y = (t.to(_device(m)) for t in test)
            return {"mse": F.mse_loss(m(x), y).item()}

        def probe_loss(m: nn.Module, hidden: Tensor, y: Tensor) -> Tensor:
            return F.mse_loss(m.head_of(hidden), y)

        def probe_inputs(x: Tensor) -> Tensor:
            return x

        make = lambda g: adding_batch(T, batch_size, g)
    else:
        model = CopyModel(config.model)
        test = copy_batch(T, config.data.test_size, test_generator)

        def step_fn(m: nn.Module, batch: tuple[Tensor, Tensor], carry: Any) -> StepOutput:
            x, y = batch
            logits = m(x)
            return StepOutput(F.cross_entropy(logits.flatten(0, 1), y.flatten()))

        def evaluate(m: nn.Module) -> dict[str, float]:
            x, y = (t.to(_device(m)) for t in test)
            logits = m(x)
            recalled = logits[-COPY_LENGTH:].argmax(-1) == y[-COPY_LENGTH:]
            return {"loss": F.cross_entropy(logits.flatten(0, 1), y.flatten()).item(),
                    "recall_accuracy": recalled.float().mean().item()}

        def probe_loss(m: nn.Module, hidden: Tensor, y: Tensor) -> Tensor:
            return F.cross_entropy(m.sequence.head_of(hidden).flatten(0, 1), y.flatten())

        def probe_inputs(x: Tensor) -> Tensor:
            return F.one_hot(x, COPY_SYMBOLS + 2).float()

        make = lambda g: copy_batch(T, batch_size, g)
    probe_generator = torch.Generator().manual_seed(config.data.seed + 1)
    probe_batch = adding_batch(T, 64, probe_generator) if config.task == "adding" else copy_batch(T, 64, probe_generator)
    batches = RandomBatches(make, seed=config.train.seed + 1000 * rank)
    return Job(model, step_fn, batches, evaluate, probe_batch, probe_loss, probe_inputs)


def probe(job: Job) -> Tensor:
    """``||dLoss/dh_t||`` for every step ``t`` on a fixed batch of 64 (see ``gradient_flow``)."""
    model = job.model
    x, y = (t.to(_device(model)) for t in job.probe_batch)
    recurrent = model.recurrent if isinstance(model, SequenceModel) else model.sequence.recurrent
    was_training = model.training
    model.eval()
    norms = gradient_flow(recurrent.step, job.probe_inputs(x), lambda hidden: job.probe_loss(model, hidden, y))
    model.train(was_training)
    return norms


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


TASK = Task(LongTermConfig, build)
