"""Long-term dependencies: the adding problem and the copy-memory task.

Adding (Hochreiter & Schmidhuber 1997, in the form of Le et al. 2015): each step carries a
random number in [0, 1] and a marker; exactly two steps are marked, one in each half; the
target is the sum of the two marked numbers. Predicting 1 always gives an MSE of about
0.167; "solved" means an MSE below 0.01 on the validation set.

Copy memory (Arjovsky et al. 2016): ten symbols from {1..8}, then T - 1 blanks (0), a
delimiter (9), and ten more blanks, during which the model must output the ten symbols.
Predicting blanks and then guessing gives a cross-entropy of 10 ln 8 / (T + 20); "solved"
means at least 99% of the recalled symbols right on the validation set.

Training batches are drawn fresh from the generator; a fixed validation set (seed
``data.seed``) decides early stopping and whether the task is solved; a fixed test set
(``data.seed + 1``) is generated and scored once, by the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.models import RecurrentConfig, SequenceModel
from rnnkit.tasks.core.parts import Sealed, Split
from rnnkit.tasks.core.registry import Task
from rnnkit.tasks.long_term.config import LongTermConfig
from rnnkit.training import RandomBatches, StepOutput, gradient_flow, model_device

COPY_SYMBOLS, COPY_LENGTH, BLANK, DELIMITER = 8, 10, 0, 9
SOLVED = {"adding": ("val_mse", "min", 0.01), "copy": ("val_recall_accuracy", "max", 0.99)}  # metric, mode, mark


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


class CopyModel(nn.Module):
    """One-hot symbols in, a distribution over the ten symbols out at every step."""

    def __init__(self, config: RecurrentConfig) -> None:
        super().__init__()
        self.sequence = SequenceModel(COPY_SYMBOLS + 2, COPY_SYMBOLS + 2, config, readout="all")

    def hidden(self, x: Tensor) -> Tensor:
        return self.sequence.hidden(F.one_hot(x, COPY_SYMBOLS + 2).float())

    def forward(self, x: Tensor) -> Tensor:
        return self.sequence.head_of(self.hidden(x))  # (T, B, 10) logits


def adding_metrics(model: nn.Module, x: Tensor, y: Tensor) -> dict[str, float]:
    return {"mse": F.mse_loss(model(x), y).item()}


def copy_metrics(model: nn.Module, x: Tensor, y: Tensor) -> dict[str, float]:
    logits = model(x)
    recalled = logits[-COPY_LENGTH:].argmax(-1) == y[-COPY_LENGTH:]
    return {"loss": F.cross_entropy(logits.flatten(0, 1), y.flatten()).item(),
            "recall_accuracy": recalled.float().mean().item()}


@dataclass
class Job:
    """What :func:`rnnkit.training.fit` needs, the sealed test set, and the probe's view of the model."""

    model: nn.Module
    step_fn: Any
    batches: RandomBatches
    evaluate: Callable[[nn.Module], dict[str, float]]
    split: Split
    metrics: Callable[[nn.Module, Tensor, Tensor], dict[str, float]]
    probe_batch: tuple[Tensor, Tensor]
    probe_loss: Any
    probe_inputs: Any


def build(config: LongTermConfig, rank: int = 0) -> Job:
    """Model, batches, loss, validation metrics and the sealed test set of the adding or copy task."""
    T, data = config.data.length, config.data
    recurrent = config.model.recurrent
    make_batch = adding_batch if config.task == "adding" else copy_batch

    def held_out(size: int, seed: int) -> tuple[Tensor, Tensor]:
        return make_batch(T, size, torch.Generator().manual_seed(seed))

    if config.task == "adding":
        model: nn.Module = SequenceModel(2, 1, recurrent, readout="last")
        metrics = adding_metrics

        def step_fn(m: nn.Module, batch: tuple[Tensor, Tensor], carry: Any) -> StepOutput:
            x, y = batch
            return StepOutput(F.mse_loss(m(x), y))

        def probe_loss(m: nn.Module, hidden: Tensor, y: Tensor) -> Tensor:
            return F.mse_loss(m.head_of(hidden), y)

        def probe_inputs(x: Tensor) -> Tensor:
            return x
    else:
        model = CopyModel(recurrent)
        metrics = copy_metrics

        def step_fn(m: nn.Module, batch: tuple[Tensor, Tensor], carry: Any) -> StepOutput:
            x, y = batch
            return StepOutput(F.cross_entropy(m(x).flatten(0, 1), y.flatten()))

        def probe_loss(m: nn.Module, hidden: Tensor, y: Tensor) -> Tensor:
            return F.cross_entropy(m.sequence.head_of(hidden).flatten(0, 1), y.flatten())

        def probe_inputs(x: Tensor) -> Tensor:
            return F.one_hot(x, COPY_SYMBOLS + 2).float()

    validation = held_out(data.validation_size, data.seed)

    def evaluate(m: nn.Module) -> dict[str, float]:
        x, y = (t.to(_device(m)) for t in validation)
        return {f"val_{k}": v for k, v in metrics(m, x, y).items()}

    split = Split({"train": {"generated": "fresh batches of the training seed", "length": T},
                   "validation": {"size": data.validation_size, "seed": data.seed},
                   "test": {"size": data.test_size, "seed": data.seed + 1}},
                  Sealed(lambda: held_out(data.test_size, data.seed + 1)))
    probe_batch = held_out(64, data.seed + 2)
    batches = RandomBatches(lambda g: make_batch(T, config.train.batch_size, g), seed=config.train.seed + 1000 * rank)
    return Job(model, step_fn, batches, evaluate, split, metrics, probe_batch, probe_loss, probe_inputs)


def solved(config: LongTermConfig, validation: dict[str, float]) -> bool:
    """Whether validation metrics meet the task's mark (adding: MSE < 0.01; copy: >= 99% recalled)."""
    metric, mode, mark = SOLVED[config.task]
    value = validation[metric]
    return value < mark if mode == "min" else value >= mark


def report(job: Job, run_dir: Path) -> dict[str, Any]:
    """After training: the test set's metrics (generated and read here, once)."""
    x, y = (t.to(_device(job.model)) for t in job.split.test.open())
    return {"metrics": {f"test_{k}": v for k, v in job.metrics(job.model, x, y).items()}}


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
    return model_device(model)


TASK = Task(LongTermConfig, build, report)
