"""The training loop: one flat function that a user could also write from these pieces.

    fit(model, step_fn, batches, config, run_dir=..., evaluate=...)

``step_fn(model, batch, carry) -> StepOutput(loss, carry)`` computes the loss of one batch;
``carry`` is whatever it wants to hand to the next step (the recurrent state, in truncated
BPTT), detached between steps by :func:`~rnnkit.training.bptt.detach_state`.
``batches`` has ``next()``, ``state_dict()`` and ``load_state_dict()`` (see
:mod:`rnnkit.training.bptt`), so a resumed run continues with the very batches it would
have seen. ``evaluate(model) -> {metric: value}`` runs in eval mode without gradients.
"""

from __future__ import annotations

import math
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Protocol, Sequence

import torch
from torch import Tensor, nn

from rnnkit.training.bptt import detach_state
from rnnkit.training.checkpoint import has_checkpoint, load_checkpoint, save_checkpoint
from rnnkit.training.distributed import DistInfo, resolve_device
from rnnkit.training.logger import RunLogger
from rnnkit.training.optim import (
    OptimizerConfig,
    ScheduleConfig,
    build_optimizer,
    build_schedule,
    trainable,
    weight_averaging,
)


@dataclass
class EarlyStoppingConfig:
    """Stop when ``metric`` (a key of ``evaluate``'s result) stops improving or reaches ``target``.

    The metric must be a validation metric: validation chooses, test is read once. A name that
    starts with ``test`` is refused.
    """

    metric: str = ""  # empty: no early stopping, and the best checkpoint is the last
    mode: Literal["min", "max"] = "min"
    patience: int = 0  # evaluations without improvement before stopping; 0: never stop for that
    target: float | None = None  # stop as soon as the metric is at least this good
    restore_best: bool = False  # end with the weights of the best evaluation (kept in checkpoints too)

    def __post_init__(self) -> None:
        check_not_test("early_stopping.metric", self.metric)


def check_not_test(where: str, metric: str) -> None:
    """Refuse a test metric where a choice is made (early stopping, kept weights, selection)."""
    if metric.lower().startswith("test"):
        raise ValueError(f"{where}: {metric!r} is a test metric; choices are made on validation data and test data "
                         f"is read once, in the final report: expected a validation metric such as "
                         f"{'val' + metric[4:]!r}")


@dataclass
class TrainConfig:
    """Everything about optimizing, independent of the task and the model."""

    steps: int = 1000
    # a budget in passes over the training part: the task's runner sets steps from it and the
    # training size, at least min_steps (small data), at most steps (rnnkit.tasks.core.run)
    epochs: float | None = None
    min_steps: int = 1
    max_seconds: float | None = None  # stop (and checkpoint) once training has run this long
    batch_size: int = 32
    eval_every: int = 100
    log_every: int = 10
    checkpoint_every: int = 100
    clip_grad_norm: float | None = 1.0
    seed: int = 0
    precision: Literal["fp32", "bf16"] = "fp32"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    progress: bool = True
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)

    def __post_init__(self) -> None:
        for name in ("steps", "min_steps", "batch_size", "eval_every", "log_every", "checkpoint_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"train.{name}: expected a positive integer, got {value!r}")
        if self.clip_grad_norm is not None and not 0 < self.clip_grad_norm < math.inf:
            raise ValueError(f"train.clip_grad_norm: expected a positive number or null, got {self.clip_grad_norm}")
        if self.epochs is not None and (isinstance(self.epochs, bool) or not 0 < self.epochs < math.inf):
            raise ValueError(f"train.epochs: expected a positive number of passes over the training data or null "
                             f"(train.steps counts the budget), got {self.epochs!r}")
        if self.max_seconds is not None and not 0 < self.max_seconds < math.inf:
            raise ValueError(f"train.max_seconds: expected a positive number of seconds or null (no limit), got "
                             f"{self.max_seconds}")


@dataclass
class StepOutput:
    loss: Tensor
    carry: Any = None


class BatchSource(Protocol):
    def next(self) -> Any: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass
class FitResult:
    step: int
    stopped_early: bool
    best: dict[str, float] | None
    last_eval: dict[str, float] | None
    seconds: float
    losses: list[float]
    curves: Path | None = None
    report: dict[str, Any] | None = None  # filled by the task after training (rnnkit.tasks.run.train)
    notes: list[str] = field(default_factory=list)  # what the user should be told (an old run moved aside)


def seed_everything(seed: int) -> None:
    """Seed Python's, torch's (and every GPU's) generators."""
    random.seed(seed)
    torch.manual_seed(seed)


def model_device(model: nn.Module) -> torch.device:
    """Where ``model`` runs: its first parameter's device, else its first buffer's, else the CPU
    (a dynamically quantized model holds its weights in packed buffers, not parameters)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if hasattr(batch, "to"):
        return batch.to(device)
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


class EarlyStopping:
    """The best evaluation so far and whether to stop, for one :class:`EarlyStoppingConfig`.

    :meth:`update` takes each evaluation's metrics; with ``restore_best`` it keeps a copy of the
    weights of the best one (``weights()`` is called only when the metric improves).
    """

    def __init__(self, config: EarlyStoppingConfig) -> None:
        self.config = config
        self.best: float | None = None
        self.best_metrics: dict[str, float] | None = None
        self.best_step: int | None = None
        self.best_weights: dict[str, Tensor] | None = None
        self.bad_evals = 0

    @property
    def active(self) -> bool:
        return bool(self.config.metric)

    def value(self, metrics: dict[str, float]) -> float:
        """The watched metric, as a loss (lower is better)."""
        if self.config.metric not in metrics:
            raise KeyError(f"early_stopping.metric: {self.config.metric!r} is not among {sorted(metrics)}")
        value = metrics[self.config.metric]
        return value if self.config.mode == "min" else -value

    def update(self, step: int, metrics: dict[str, float], weights: Callable[[], dict[str, Tensor]]) -> bool:
        """Record an evaluation; True when training should stop."""
        value = self.value(metrics)
        if self.best is None or value < self._as_loss(self.best):
            self.best, self.best_metrics, self.best_step, self.bad_evals = metrics[self.config.metric], \
                dict(metrics), step, 0
            if self.config.restore_best:
                self.best_weights = weights()
        else:
            self.bad_evals += 1
        target = self.config.target
        reached = target is not None and value <= self._as_loss(target)
        return reached or 0 < self.config.patience <= self.bad_evals

    def _as_loss(self, value: float) -> float:
        return value if self.config.mode == "min" else -value

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_metrics": self.best_metrics, "best_step": self.best_step,
                "best_metric": self.config.metric, "bad_evals": self.bad_evals}

    def load_state_dict(self, state: dict[str, Any], best_weights: dict[str, Tensor] | None) -> None:
        self.best, self.best_metrics, self.bad_evals = state["best"], state["best_metrics"], state["bad_evals"]
        self.best_step = state.get("best_step")
        self.best_weights = best_weights


def _rng_state(device: torch.device) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1])}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(int(v) for v in state["python"]), None))
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


def _restore_rank(per_rank: list[dict[str, Any]], batches: BatchSource, dist_info: DistInfo,
                  device: torch.device) -> None:
    """Each rank continues its own data stream and random draws (rank 0's alone without DDP)."""
    mine = per_rank[dist_info.rank] if dist_info.rank < len(per_rank) else per_rank[0]
    batches.load_state_dict(mine["batches"])
    _set_rng_state(mine["rng"], device)


def _snapshot(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _validation_only(metrics: dict[str, Any], step: int, config: TrainConfig) -> dict[str, float]:
    """``evaluate``'s result as floats; a test metric there is an error (evaluations read validation
    only), and so is a metric that is not finite (nothing could be chosen by it)."""
    tested = sorted(k for k in metrics if k.lower().startswith("test"))
    if tested:
        raise ValueError(f"evaluate returned {tested}: evaluations during training read validation data only "
                         f"(test data is read once, in the final report)")
    values = {k: float(v) for k, v in metrics.items()}
    broken = {k: v for k, v in values.items() if not math.isfinite(v)}
    if broken:
        name, value = next(iter(broken.items()))
        raise FloatingPointError(f"step {step}: the validation {name} is {value}. {_likely_causes(config)}")
    return values


MAX_WEIGHT = 1e8  # a weight beyond this has diverged: no network that trains well holds one


def _check_weights(parameters: list[Tensor], step: int, config: TrainConfig) -> None:
    """Refuse weights that diverged (not finite, or beyond :data:`MAX_WEIGHT`) before they are
    evaluated or saved: a checkpoint is always one a run can resume from."""
    peaks = [p.detach().abs().amax().float() for p in parameters if p.numel()]
    largest = float(torch.stack(peaks).max()) if peaks else 0.0  # one device sync for all of them
    if not largest <= MAX_WEIGHT:  # NaN too
        raise FloatingPointError(f"step {step}: a weight reached {largest:.3g} (beyond {MAX_WEIGHT:g}): training "
                                 f"diverged. {_likely_causes(config)}")


def _likely_causes(config: TrainConfig) -> str:
    clip = f"train.clip_grad_norm is {config.clip_grad_norm}" if config.clip_grad_norm is not None else \
        "train.clip_grad_norm is off"
    return (f"Likely causes: a learning rate too high for this model (train.optimizer.lr is {config.optimizer.lr:g}; "
            f"try a tenth of it), exploding gradients ({clip}), or extreme values in the data. The checkpoints "
            f"written before this step are kept")


def fit(
    model: nn.Module,
    step_fn: Callable[[nn.Module, Any, Any], StepOutput],
    batches: BatchSource,
    config: TrainConfig,
    run_dir: str | Path | None = None,
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
    resume: bool = False,
    dist_info: DistInfo = DistInfo(),
    bound: Sequence[str] = (),
) -> FitResult:
    """Train ``model`` for ``config.steps`` optimizer steps (fewer if early stopping fires).

    With ``run_dir``, writes ``train.csv``, ``eval.csv``, ``curves.png`` and checkpoints
    there; ``resume=True`` continues from its newest checkpoint. Under ``torchrun`` pass the
    :class:`DistInfo` from :func:`~rnnkit.training.distributed.init_distributed`: the model
    is wrapped in DDP, and only rank 0 logs and checkpoints. ``evaluate`` reads validation data
    only: a metric whose name starts with ``test`` is an error, and so is a metric or a loss that
    is not finite. ``bound``: files in ``run_dir`` that the weights' meaning depends on (a
    vocabulary), recorded by hash in every checkpoint (see :mod:`rnnkit.training.checkpoint`).
    """
    run_dir = Path(run_dir) if run_dir is not None else None
    device = resolve_device(config.device, dist_info)
    model.to(device)
    train_model: nn.Module = model
    if dist_info.enabled:
        ids = [device.index] if device.type == "cuda" else None
        train_model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    parameters = trainable(model)
    optimizer = build_optimizer(parameters, config.optimizer)
    schedule = build_schedule(optimizer, config.schedule, config.steps)
    averaging = weight_averaging(optimizer)  # NT-ASGD evaluates (and keeps) its averaged weights
    stopping = EarlyStopping(config.early_stopping)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if config.precision == "bf16" else nullcontext()

    start_step, carry, last_eval = 0, None, None
    if resume:
        if run_dir is None or not has_checkpoint(run_dir):
            raise FileNotFoundError(f"resume: no checkpoint in {run_dir}")
        start_step, state = load_checkpoint(run_dir)  # on the CPU: generator states must stay there
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["scheduler"])
        _restore_rank(state["per_rank"], batches, dist_info, device)
        carry = to_device(state["carry"], device)
        stopping.load_state_dict(state["loop"], state.get("best_model"))
        last_eval = state["loop"]["last_eval"]

    def checkpoint(step: int) -> None:
        if run_dir is None:
            return
        per_rank = [{"batches": batches.state_dict(), "rng": _rng_state(device)}]
        if dist_info.enabled:  # every rank's data position and RNG, so each resumes its own stream
            gathered: list[Any] = [None] * dist_info.world_size
            torch.distributed.all_gather_object(gathered, per_rank[0])
            per_rank = gathered
        if not dist_info.is_main:
            return
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": schedule.state_dict(),
                 "per_rank": per_rank, "carry": carry, "loop": {**stopping.state_dict(), "last_eval": last_eval}}
        if averaging.is_averaging:
            with averaging.averaged():  # the weights that evaluation uses
                state["eval_model"] = _snapshot(model)
        if stopping.best_weights is not None:
            state["best_model"] = stopping.best_weights  # what `rnnkit evaluate` and the reports load first
        save_checkpoint(run_dir, step, state, bound)

    logger = RunLogger(run_dir, config.steps, start_step, config.progress, active=dist_info.is_main)
    losses: list[float] = []
    stopped_early = False
    started = time.perf_counter()
    step, pending_bar = start_step, 0
    max_norm = config.clip_grad_norm if config.clip_grad_norm is not None else math.inf
    grad_norm = math.nan
    train_model.train()  # and again after each evaluation, which puts the model in eval mode
    for step in range(start_step + 1, config.steps + 1):
        batch = to_device(batches.next(), device)
        with autocast:
            output = step_fn(train_model, batch, carry)
        loss = output.loss
        if not torch.isfinite(loss):
            last = f" (it was {losses[-1]:.4g} at step {step - 1})" if losses else ""
            raise FloatingPointError(f"step {step}: the training loss is {loss.item()}{last}. {_likely_causes(config)}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        logging = step % config.log_every == 0 or step == config.steps
        if config.clip_grad_norm is not None or logging:  # the norm: to clip by, or to log (a pass over the grads)
            grad_norm = float(nn.utils.clip_grad_norm_(parameters, max_norm))
        optimizer.step()
        schedule.after_step()
        carry = detach_state(output.carry)  # truncated BPTT: the next batch continues from here
        losses.append(loss.item())
        pending_bar += 1
        if logging:
            lr = optimizer.param_groups[0]["lr"]
            logger.train_row(step, losses[-1], lr, grad_norm, time.perf_counter() - started)
            logger.progress(pending_bar, losses[-1], lr)
            pending_bar = 0

        out_of_time = config.max_seconds is not None and time.perf_counter() - started >= config.max_seconds
        if dist_info.enabled and config.max_seconds is not None:  # every rank stops at the same step
            flag = torch.tensor([float(out_of_time)], device=device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            out_of_time = bool(flag.item())
        evaluating = evaluate is not None and (step % config.eval_every == 0 or step == config.steps or out_of_time)
        if evaluating or out_of_time or step % config.checkpoint_every == 0 or step == config.steps:
            _check_weights(parameters, step, config)
        if evaluating:
            model.eval()
            with torch.no_grad(), averaging.averaged():
                last_eval = _validation_only(evaluate(model), step, config)
            train_model.train()
            logger.eval_row(step, last_eval)
            if stopping.active:
                value = stopping.value(last_eval)
                averaging.observe(value)
                schedule.after_evaluation(value)

                def weights() -> dict[str, Tensor]:
                    with averaging.averaged():
                        return _snapshot(model)

                stopped_early = stopping.update(step, last_eval, weights)
        if step % config.checkpoint_every == 0 or step == config.steps or stopped_early or out_of_time:
            checkpoint(step)
        if stopped_early or out_of_time:
            break
    curves = logger.close()
    if stopping.config.restore_best and stopping.best_weights is not None:
        model.load_state_dict(stopping.best_weights)
    return FitResult(step, stopped_early, stopping.best_metrics, last_eval, time.perf_counter() - started, losses,
                     curves)
