"""The training loop: logs, early stopping, exact resume, precision, time budget, restore_best."""


from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import rnnkit as rk
from rnnkit.config import from_dict
from rnnkit.tasks.long_term import LongTermConfig, build
from rnnkit.training import (
    OptimizerConfig,
    RandomBatches,
    StepOutput,
    StreamBatches,
    TrainConfig,
    batchify,
    fit,
    load_checkpoint,
)
from rnnkit.training.logger import read_csv


def tiny_adding(**train):
    base = {"steps": 40, "batch_size": 16, "eval_every": 10, "log_every": 1, "checkpoint_every": 5,
            "progress": False, "optimizer": {"lr": 0.01}}
    base.update(train)
    config = from_dict(LongTermConfig, {"task": "adding", "data": {"length": 10, "test_size": 64},
                                        "model": {"recurrent": {"cell": "gru", "hidden_size": 8}}, "train": base})
    torch.manual_seed(0)  # the same initial weights every time, as `rnnkit train` seeds before building
    return config, build(config)


def test_fit_trains_logs_and_plots(tmp_path):
    config, job = tiny_adding(steps=120)
    result = fit(job.model, job.step_fn, job.batches, config.train, tmp_path, job.evaluate)
    assert result.step == 120 and sum(result.losses[-20:]) < sum(result.losses[:20])
    train_rows, eval_rows = read_csv(tmp_path / "train.csv"), read_csv(tmp_path / "eval.csv")
    assert [r["step"] for r in train_rows] == list(range(1, 121))
    assert [r["step"] for r in eval_rows] == [10 * k for k in range(1, 13)] and "val_mse" in eval_rows[0]
    assert (tmp_path / "curves.png").stat().st_size > 0


def test_early_stopping_on_target_and_patience():
    config, job = tiny_adding(steps=500, early_stopping={"metric": "val_mse", "target": 10.0})
    assert fit(job.model, job.step_fn, job.batches, config.train, evaluate=job.evaluate).step == 10
    config, job = tiny_adding(steps=500, optimizer={"lr": 1e-9}, early_stopping={"metric": "val_mse", "patience": 2})
    result = fit(job.model, job.step_fn, job.batches, config.train, evaluate=job.evaluate)
    assert result.stopped_early and result.step < 500


def test_resume_continues_exactly_where_it_stopped(tmp_path):
    config, job = tiny_adding(steps=30)
    full = fit(job.model, job.step_fn, job.batches, config.train, tmp_path / "full", job.evaluate).losses

    class Killed(Exception):
        pass

    config, job = tiny_adding(steps=30)
    calls = 0

    def dies_at_step_18(model, batch, carry):
        nonlocal calls
        calls += 1
        if calls == 18:
            raise Killed
        return job.step_fn(model, batch, carry)

    with pytest.raises(Killed):
        fit(job.model, dies_at_step_18, job.batches, config.train, tmp_path / "cut", job.evaluate)
    config, job = tiny_adding(steps=30)  # a fresh process would rebuild everything
    resumed = fit(job.model, job.step_fn, job.batches, config.train, tmp_path / "cut", job.evaluate, resume=True)
    assert resumed.losses == pytest.approx(full[15:], rel=1e-6)  # the last checkpoint was at step 15
    rows = read_csv(tmp_path / "cut" / "train.csv")
    assert [r["step"] for r in rows] == list(range(1, 31))  # steps 16-17 logged before the kill were cut


def test_bf16_autocast_runs():
    config, job = tiny_adding(steps=5, precision="bf16")
    result = fit(job.model, job.step_fn, job.batches, config.train)
    assert all(math.isfinite(v) for v in result.losses)


def test_time_budget_stops_and_evaluates():
    config, job = tiny_adding(steps=10_000, max_seconds=0.5, eval_every=10_000)
    result = fit(job.model, job.step_fn, job.batches, config.train, evaluate=job.evaluate)
    assert result.step < 10_000 and result.last_eval is not None


def test_nan_loss_is_a_clear_error():
    model = nn.Linear(1, 1)
    batches = RandomBatches(lambda g: torch.full((2, 1), float("nan")))

    def step_fn(m, batch, carry):
        return StepOutput(m(batch).sum())

    with pytest.raises(FloatingPointError, match="step 1: the training loss is nan. Likely causes: a learning rate too high"):
        fit(model, step_fn, batches, TrainConfig(steps=3, progress=False))


@pytest.mark.slow
def test_lstm_and_gru_solve_adding_at_t50():
    for cell in ("lstm", "gru"):
        config = from_dict(LongTermConfig, {
            "task": "adding", "data": {"length": 50, "test_size": 500},
            "model": {"recurrent": {"cell": cell, "hidden_size": 32, "init": "recommended", "chrono_max_length": 50}},
            "train": {"steps": 1500, "batch_size": 32, "eval_every": 50, "progress": False,
                      "optimizer": {"lr": 0.01}, "early_stopping": {"metric": "val_mse", "target": 0.05}},
        })
        torch.manual_seed(0)
        job = build(config)
        result = fit(job.model, job.step_fn, job.batches, config.train, evaluate=job.evaluate)
        assert result.last_eval["val_mse"] < 0.05, (cell, result.last_eval, result.step)


def _train_stream_model(carry_state: bool) -> tuple[list[float], list]:
    # The stream 0 1 0 2 0 3 0 1 ...: after a 0 comes the successor of the token before it, so
    # at the first step of a 4-step chunk the answer lies in the previous chunk, reachable only
    # through the state carried from it.
    torch.manual_seed(0)
    stream = torch.tensor([0, 1, 0, 2, 0, 3]).repeat(400)
    batches = StreamBatches(batchify(stream, 8), bptt=4)  # chunks start at phases 0, 4, 2: all zeros

    class CharModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(4, 8)
            self.lstm = rk.LSTM(8, 32)
            self.out = nn.Linear(32, 4)

        def forward(self, x, state):
            h, state = self.lstm(self.embed(x), state)
            return self.out(h), state

    seen_carries = []

    def step_fn(model, batch, carry):
        seen_carries.append(carry)
        start = carry if carry_state and not batch.reset else None
        logits, state = model(batch.x, start)
        return StepOutput(nn.functional.cross_entropy(logits.flatten(0, 1), batch.y.flatten()), carry=state)

    config = TrainConfig(steps=300, progress=False, optimizer=OptimizerConfig(lr=0.02))
    return fit(CharModel(), step_fn, batches, config).losses, seen_carries


def test_truncated_bptt_carries_state_across_chunks():
    losses, carries = _train_stream_model(carry_state=True)
    cut_losses, _ = _train_stream_model(carry_state=False)
    with_carry, without = sum(losses[-20:]) / 20, sum(cut_losses[-20:]) / 20
    assert with_carry < 0.05 < 0.15 < without  # without the carry, 1 step in 4 is a guess among 3
    carried = [c for c in carries if c is not None]
    assert carried and all(not t.requires_grad for c in carried for t in c)  # detached between steps


def test_restore_best_ends_with_the_best_evaluated_weights(tmp_path):
    """A scripted metric is best at the 2nd of 4 evaluations: the model ends with those weights,
    the checkpoint keeps them as best_model, and a resumed run still knows them."""
    config, job = tiny_adding(steps=40, early_stopping={"metric": "m", "mode": "min", "restore_best": True})
    script = iter([3.0, 1.0, 2.0, 5.0, 4.0, 6.0])
    snapshots = []

    def evaluate(model):
        snapshots.append({k: v.cpu().clone() for k, v in model.state_dict().items()})  # checkpoints load on CPU
        return {"m": next(script)}

    result = fit(job.model, job.step_fn, job.batches, config.train, tmp_path, evaluate)
    assert result.best == {"m": 1.0}
    for key, value in job.model.state_dict().items():
        torch.testing.assert_close(value.cpu(), snapshots[1][key], rtol=0, atol=0)
    assert any((snapshots[3][k] != v.cpu()).any() for k, v in job.model.state_dict().items())  # training moved on
    _, state = load_checkpoint(tmp_path)
    for key, value in state["best_model"].items():
        torch.testing.assert_close(value, snapshots[1][key], rtol=0, atol=0)
    # resume for 20 more steps: evaluations 5 and 6 are worse, so the best stays the 2nd
    config, job = tiny_adding(steps=60, early_stopping={"metric": "m", "mode": "min", "restore_best": True})
    fit(job.model, job.step_fn, job.batches, config.train, tmp_path, evaluate, resume=True)
    for key, value in job.model.state_dict().items():
        torch.testing.assert_close(value.cpu(), snapshots[1][key], rtol=0, atol=0)
