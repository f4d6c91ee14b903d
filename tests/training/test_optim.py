"""Optimizers and learning-rate schedules by name, and NT-ASGD."""


from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rnnkit.training import (
    NTASGD,
    OptimizerConfig,
    ScheduleConfig,
    build_optimizer,
    build_scheduler,
)


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "rmsprop", "adagrad", "ntasgd"])
def test_every_optimizer_by_name_takes_a_step(name):
    model = nn.Linear(3, 1)
    optimizer = build_optimizer(model.parameters(), OptimizerConfig(name=name, lr=0.1))
    before = model.weight.detach().clone()
    model(torch.ones(2, 3)).sum().backward()
    optimizer.step()
    assert not torch.equal(before, model.weight)


def test_sgd_nesterov_needs_momentum():
    with pytest.raises(ValueError, match="nesterov: expected name 'sgd' with momentum > 0"):
        OptimizerConfig(name="sgd", nesterov=True)
    optimizer = build_optimizer(nn.Linear(2, 2).parameters(), OptimizerConfig(name="sgd", momentum=0.9, nesterov=True))
    assert optimizer.param_groups[0]["nesterov"]


def _lrs(schedule: ScheduleConfig, steps: int, lr: float = 1.0) -> list[float]:
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = build_scheduler(optimizer, schedule, steps)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_warmup_then_linear_decay():
    rates = _lrs(ScheduleConfig(name="warmup_linear", warmup_steps=4), 12)
    assert rates[:5] == pytest.approx([0.25, 0.4375, 0.625, 0.8125, 1.0])  # linear from 1/4 to 1 over 4 steps
    assert rates[4] == max(rates) and rates[-1] < 0.2
    assert all(a > b for a, b in zip(rates[4:], rates[5:]))  # then strictly decreasing


def test_cosine_and_step_schedules():
    cosine = _lrs(ScheduleConfig(name="cosine"), 10)
    assert cosine[0] == 1.0 and cosine[5] == pytest.approx(0.5 * (1 + math.cos(math.pi * 5 / 10)))
    assert _lrs(ScheduleConfig(name="step", step_size=3, gamma=0.1), 7) == pytest.approx([1, 1, 1, 0.1, 0.1, 0.1, 0.01])
    assert _lrs(ScheduleConfig(name="exponential", gamma=0.5), 3) == pytest.approx([1, 0.5, 0.25])
    onecycle = _lrs(ScheduleConfig(name="onecycle"), 20)
    assert max(onecycle) == pytest.approx(1.0, rel=0.05) and onecycle[0] < 0.1 and onecycle[-1] < 0.01


def test_plateau_and_constant_schedules():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    assert build_scheduler(optimizer, ScheduleConfig(name="constant"), 10) is None
    plateau = build_scheduler(optimizer, ScheduleConfig(name="plateau", patience=1, factor=0.5), 10)
    for value in [1.0, 0.9, 0.95, 0.95]:  # improves, then two evaluations without improvement
        plateau.step(value)
    assert optimizer.param_groups[0]["lr"] == 0.5
    with pytest.raises(ValueError, match="warmup_steps: expected fewer than the 5 training steps, got 5"):
        build_scheduler(optimizer, ScheduleConfig(name="warmup_cosine", warmup_steps=5), 5)


def test_ntasgd_triggers_non_monotonically_and_averages_iterates():
    weight = nn.Parameter(torch.tensor([0.0]))
    optimizer = NTASGD([weight], lr=1.0, nonmono=2)
    assert [optimizer.observe(v) for v in [3.0, 2.0, 1.0, 1.5]] == [False, False, False, False]
    assert optimizer.observe(2.5)  # worse than the best before the last two (2.0)
    iterates = []
    for _ in range(3):  # gradient 1 each step: weight goes -1, -2, -3
        weight.grad = torch.ones(1)
        optimizer.step()
        iterates.append(weight.item())
    with optimizer.averaged():
        assert weight.item() == pytest.approx(sum(iterates) / 3)  # the mean of the averaged iterates
    assert weight.item() == -3.0
    restored = NTASGD([nn.Parameter(torch.tensor([-3.0]))], lr=1.0)
    restored.load_state_dict(optimizer.state_dict())
    assert restored.is_averaging and restored.history == optimizer.history
