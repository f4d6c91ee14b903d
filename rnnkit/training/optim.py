"""Optimizers and learning-rate schedules by name, from torch.optim.

The one optimizer written here is NT-ASGD (Merity et al. 2017), which torch does not have:
plain SGD until the validation metric stops improving for ``nonmono`` evaluations, then SGD
that also keeps a running average of the weights, which is what gets evaluated and saved.

The training loop knows no particular optimizer or schedule. It asks two small questions:
:func:`weight_averaging` (does this optimizer keep averaged weights to evaluate, and does it
want to see each validation value?) and :class:`Schedule` (step the rate every step, or after
each evaluation, as ``ReduceLROnPlateau`` does?).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from torch import nn
from torch.optim import lr_scheduler

OptimizerName = Literal["adam", "adamw", "sgd", "rmsprop", "adagrad", "ntasgd"]
ScheduleName = Literal["constant", "step", "exponential", "cosine", "warmup_linear", "warmup_cosine", "plateau", "onecycle"]


@dataclass
class OptimizerConfig:
    """``name`` picks a torch.optim class; the other fields are passed where that class takes them."""

    name: OptimizerName = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.0  # sgd, rmsprop
    nesterov: bool = False  # sgd
    beta1: float = 0.9  # adam, adamw
    beta2: float = 0.999
    nonmono: int = 5  # ntasgd: evaluations without improvement before averaging starts

    def __post_init__(self) -> None:
        if not 0 < self.lr < math.inf:  # also refuses NaN
            raise ValueError(f"optimizer.lr: expected a positive finite number, got {self.lr}")
        if self.nesterov and (self.name != "sgd" or self.momentum <= 0):
            raise ValueError("optimizer.nesterov: expected name 'sgd' with momentum > 0")


@dataclass
class ScheduleConfig:
    """A learning-rate schedule from ``torch.optim.lr_scheduler``, stepped once per training step.

    ``warmup_*``: linear warm-up over ``warmup_steps``, then linear or cosine decay to
    ``min_lr`` at the last step. ``step``: multiply by ``gamma`` every ``step_size`` steps.
    ``exponential``: by ``gamma`` every step. ``plateau``: by ``factor`` after ``patience``
    evaluations without improvement of the early-stopping metric. ``onecycle``: Smith's
    one-cycle policy peaking at ``optimizer.lr``.
    """

    name: ScheduleName = "constant"
    warmup_steps: int = 0
    step_size: int = 1000
    gamma: float = 0.5
    min_lr: float = 0.0
    factor: float = 0.5
    patience: int = 3


def build_optimizer(params: Any, config: OptimizerConfig) -> torch.optim.Optimizer:
    name, lr, wd = config.name, config.lr, config.weight_decay
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(config.beta1, config.beta2), weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=(config.beta1, config.beta2), weight_decay=wd)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=config.momentum, nesterov=config.nesterov, weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=config.momentum, weight_decay=wd)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=wd)
    if name == "ntasgd":
        return NTASGD(params, lr=lr, weight_decay=wd, nonmono=config.nonmono)
    raise ValueError(f"optimizer.name: expected one of {list(OptimizerName.__args__)}, got {name!r}")


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: ScheduleConfig, total_steps: int
) -> lr_scheduler.LRScheduler | lr_scheduler.ReduceLROnPlateau | None:
    """The schedule for ``total_steps`` optimizer steps; ``None`` for a constant rate."""
    name = config.name
    base_lr = optimizer.param_groups[0]["lr"]
    floor = config.min_lr / base_lr if base_lr > 0 else 0.0
    if name == "constant":
        return None
    if name == "step":
        return lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    if name == "exponential":
        return lr_scheduler.ExponentialLR(optimizer, gamma=config.gamma)
    if name == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps, eta_min=config.min_lr)
    if name in ("warmup_linear", "warmup_cosine"):
        warmup = max(1, config.warmup_steps)
        if warmup >= total_steps:
            raise ValueError(f"schedule.warmup_steps: expected fewer than the {total_steps} training steps, got {warmup}")
        rise = lr_scheduler.LinearLR(optimizer, start_factor=1.0 / warmup, end_factor=1.0, total_iters=warmup)
        if name == "warmup_linear":
            fall = lr_scheduler.LinearLR(optimizer, start_factor=1.0, end_factor=max(floor, 1e-8), total_iters=total_steps - warmup)
        else:
            fall = lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps - warmup, eta_min=config.min_lr)
        return lr_scheduler.SequentialLR(optimizer, [rise, fall], milestones=[warmup])
    if name == "plateau":
        return lr_scheduler.ReduceLROnPlateau(optimizer, factor=config.factor, patience=config.patience, min_lr=config.min_lr)
    if name == "onecycle":
        return lr_scheduler.OneCycleLR(optimizer, max_lr=base_lr, total_steps=total_steps)
    raise ValueError(f"schedule.name: expected one of {list(ScheduleName.__args__)}, got {name!r}")


class Schedule:
    """A learning-rate schedule as the loop sees it: :meth:`after_step` once per optimizer step,
    :meth:`after_evaluation` with each validation value (lower is better). A per-step schedule
    uses the first, ``ReduceLROnPlateau`` the second; no schedule, neither."""

    def __init__(self, scheduler: lr_scheduler.LRScheduler | lr_scheduler.ReduceLROnPlateau | None) -> None:
        self.scheduler = scheduler
        self.on_plateau = isinstance(scheduler, lr_scheduler.ReduceLROnPlateau)

    def after_step(self) -> None:
        if self.scheduler is not None and not self.on_plateau:
            self.scheduler.step()

    def after_evaluation(self, value: float) -> None:
        if self.on_plateau:
            self.scheduler.step(value)

    def state_dict(self) -> dict[str, Any] | None:
        return self.scheduler.state_dict() if self.scheduler is not None else None

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if self.scheduler is not None and state is not None:
            self.scheduler.load_state_dict(state)


def build_schedule(optimizer: torch.optim.Optimizer, config: ScheduleConfig, total_steps: int) -> Schedule:
    """:func:`build_scheduler` wrapped as the loop uses it."""
    return Schedule(build_scheduler(optimizer, config, total_steps))


@runtime_checkable
class WeightAveraging(Protocol):
    """An optimizer that keeps averaged weights for evaluation (NT-ASGD does)."""

    @property
    def is_averaging(self) -> bool: ...

    def observe(self, validation_loss: float) -> bool: ...

    def averaged(self) -> AbstractContextManager[None]: ...


class _NoAveraging:
    is_averaging = False

    def observe(self, validation_loss: float) -> bool:
        return False

    def averaged(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()


def weight_averaging(optimizer: torch.optim.Optimizer) -> WeightAveraging:
    """The optimizer itself if it averages weights for evaluation, else one that does nothing."""
    return optimizer if isinstance(optimizer, WeightAveraging) else _NoAveraging()


class NTASGD(torch.optim.SGD):
    """Non-monotonically triggered averaged SGD (Merity et al. 2017).

    Call :meth:`observe` with each validation loss (lower is better). Once it is worse than
    the best of all but the last ``nonmono`` observations, every later :meth:`step` also
    updates a running average ``ax`` of each parameter (kept in the optimizer state, so it is
    checkpointed with it). Evaluate inside :meth:`averaged` to use the averaged weights.
    """

    def __init__(self, params: Any, lr: float, weight_decay: float = 0.0, nonmono: int = 5) -> None:
        super().__init__(params, lr=lr, weight_decay=weight_decay)
        self.nonmono = nonmono
        self.history: list[float] = []
        self.averaging_since: int | None = None  # number of observations when averaging began
        self.averaged_steps = 0

    @property
    def is_averaging(self) -> bool:
        return self.averaging_since is not None

    def observe(self, validation_loss: float) -> bool:
        """Record a validation loss; returns True when this observation starts the averaging."""
        self.history.append(float(validation_loss))
        if self.is_averaging or len(self.history) <= self.nonmono:
            return False
        if validation_loss > min(self.history[: -self.nonmono]):
            self.averaging_since = len(self.history)
            return True
        return False

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = super().step(closure)
        if self.is_averaging:
            self.averaged_steps += 1
            for group in self.param_groups:
                for p in group["params"]:
                    state = self.state[p]
                    if "ax" not in state:
                        state["ax"] = p.detach().clone()
                    else:  # running mean over the averaged steps
                        state["ax"].add_(p.detach() - state["ax"], alpha=1.0 / self.averaged_steps)
        return loss

    @contextlib.contextmanager
    def averaged(self) -> Iterator[None]:
        """Swap the averaged weights in for the duration (no-op before averaging starts)."""
        swapped = []
        for group in self.param_groups:
            for p in group["params"]:
                ax = self.state.get(p, {}).get("ax")
                if ax is not None:
                    swapped.append((p, p.detach().clone()))
                    p.data.copy_(ax)
        try:
            yield
        finally:
            for p, original in swapped:
                p.data.copy_(original)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["ntasgd"] = {"history": list(self.history), "averaging_since": self.averaging_since,
                           "averaged_steps": self.averaged_steps, "nonmono": self.nonmono}
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        extra = state_dict.pop("ntasgd", None)
        super().load_state_dict(state_dict)
        if extra is not None:
            self.history = list(extra["history"])
            self.averaging_since = extra["averaging_since"]
            self.averaged_steps = extra["averaged_steps"]
            self.nonmono = extra["nonmono"]


def trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]
