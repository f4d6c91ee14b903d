"""The training loop and its pieces: optimizers, schedules, BPTT helpers, checkpoints, resume."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

import rnnkit as rk
from rnnkit.config import from_dict
from rnnkit.tasks.long_term import LongTermConfig, build
from rnnkit.training import (
    NTASGD,
    CheckpointError,
    OptimizerConfig,
    RandomBatches,
    ScheduleConfig,
    StepOutput,
    StreamBatches,
    TrainConfig,
    batchify,
    build_optimizer,
    build_scheduler,
    detach_state,
    fit,
    gradient_flow,
    load_checkpoint,
    save_checkpoint,
)
from rnnkit.training.logger import read_csv

# -- optimizers and schedules ---------------------------------------------------------------


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


# -- truncated BPTT ---------------------------------------------------------------------------


def test_batchify_lays_out_contiguous_columns():
    stream = torch.arange(12)  # a..l
    assert batchify(stream, 3).tolist() == [[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, 11]]
    assert batchify(torch.arange(14), 3).shape == (4, 3)  # the remainder is dropped


def test_stream_batches_chunk_and_resume():
    data = batchify(torch.arange(40), 2)  # (20, 2)
    batches = StreamBatches(data, bptt=6)
    chunks = [batches.next() for _ in range(5)]
    assert [c.x.shape[0] for c in chunks] == [6, 6, 6, 1, 6]  # 19 target steps per pass
    assert [c.reset for c in chunks] == [True, False, False, False, True]
    assert torch.equal(chunks[0].y, data[1:7]) and torch.equal(chunks[1].x, data[6:12])
    random_batches = StreamBatches(batchify(torch.arange(4000), 4), bptt=20, random_length=True, seed=3)
    [random_batches.next() for _ in range(3)]
    state = random_batches.state_dict()
    expected = [random_batches.next().x for _ in range(4)]
    replay = StreamBatches(batchify(torch.arange(4000), 4), bptt=20, random_length=True)
    replay.load_state_dict(state)
    assert all(torch.equal(a, replay.next().x) for a in expected)
    assert len({e.shape[0] for e in expected}) > 1  # lengths vary


def test_detach_state_cuts_history_keeps_values():
    h = torch.ones(2, requires_grad=True) * 3
    state = (h, [h * 2])
    detached = detach_state(state)
    assert not detached[0].requires_grad and not detached[1][0].requires_grad
    assert torch.equal(detached[1][0], h * 2)


def test_gradient_flow_of_a_linear_recurrence():
    # h_t = a h_{t-1} + x_t and loss = sum(h_{T-1}) + sum(h_0): dLoss/dh_t = a^(T-1-t), plus 1 at t = 0.
    a, T = 0.5, 6

    def step(x_t, h):
        h = a * (0 if h is None else h) + x_t
        return h, h

    norms = gradient_flow(step, torch.randn(T, 1, 1), lambda hidden: hidden[-1].sum() + hidden[0].sum())
    expected = [a ** (T - 1 - t) for t in range(T)]
    expected[0] += 1.0
    assert norms.tolist() == pytest.approx(expected)


def test_gradient_flow_shows_tanh_rnn_vanishing():
    torch.manual_seed(0)
    x = torch.randn(100, 8, 4)
    results = {}
    for name, layer in {"rnn": rk.RNN(4, 32), "lstm": rk.LSTM(4, 32, init=rk.Init.chrono(100))}.items():
        norms = gradient_flow(layer.step, x, lambda hidden: hidden[-1].pow(2).sum())
        results[name] = (norms[0] / norms[-1]).item()
    assert results["rnn"] < 1e-6 and results["lstm"] > 1e-3  # the tanh RNN forgets the start; the LSTM does not


# -- checkpoints ------------------------------------------------------------------------------


def test_checkpoint_round_trip_of_nested_state(tmp_path):
    model = nn.LSTM(3, 4)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 1, 3))[0].sum().backward()
    optimizer.step()
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "carry": (torch.ones(2), None),
             "loop": {"best": float("inf"), "name": "x"}}
    save_checkpoint(tmp_path, 7, state)
    step, loaded = load_checkpoint(tmp_path)
    assert step == 7 and loaded["loop"] == {"best": float("inf"), "name": "x"}
    assert isinstance(loaded["carry"], tuple) and loaded["carry"][1] is None
    restored = torch.optim.Adam(model.parameters())
    restored.load_state_dict(loaded["optimizer"])  # integer keys of the optimizer state survive
    for key, value in model.state_dict().items():
        assert torch.equal(loaded["model"][key], value)
    index = json.loads((tmp_path / "checkpoint.json").read_text())
    assert index["tensors"].endswith(".safetensors")  # no pickle anywhere


def test_checkpoint_keeps_the_newest_two(tmp_path):
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, {"x": torch.tensor([float(step)])})
    assert sorted(p.name for p in tmp_path.glob("*.safetensors")) == [
        "checkpoint-00000002.safetensors", "checkpoint-00000003.safetensors"]
    assert load_checkpoint(tmp_path)[1]["x"].item() == 3.0


def test_corrupt_truncated_or_missing_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path)
    save_checkpoint(tmp_path, 1, {"x": torch.arange(100.0)})
    tensors = next(tmp_path.glob("*.safetensors"))
    data = tensors.read_bytes()
    tensors.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(tmp_path)
    tensors.write_bytes(data)
    (tmp_path / "checkpoint.json").write_text('{"format": 1, "step": ')
    with pytest.raises(CheckpointError, match="corrupt or truncated checkpoint index"):
        load_checkpoint(tmp_path)


def test_checkpoint_refuses_arbitrary_objects(tmp_path):
    with pytest.raises(TypeError, match="cannot store state.f of type function"):
        save_checkpoint(tmp_path, 1, {"f": lambda: None})


# -- the loop ---------------------------------------------------------------------------------


def tiny_adding(**train):
    base = {"steps": 40, "batch_size": 16, "eval_every": 10, "log_every": 1, "checkpoint_every": 5,
            "progress": False, "optimizer": {"lr": 0.01}}
    base.update(train)
    config = from_dict(LongTermConfig, {"task": "adding", "data": {"length": 10, "test_size": 64},
                                        "model": {"cell": "gru", "hidden_size": 8}, "train": base})
    torch.manual_seed(0)  # the same initial weights every time, as `rnnkit train` seeds before building
    return config, build(config)


def test_fit_trains_logs_and_plots(tmp_path):
    config, job = tiny_adding(steps=120)
    result = fit(job.model, job.step_fn, job.batches, config.train, tmp_path, job.evaluate)
    assert result.step == 120 and sum(result.losses[-20:]) < sum(result.losses[:20])
    train_rows, eval_rows = read_csv(tmp_path / "train.csv"), read_csv(tmp_path / "eval.csv")
    assert [r["step"] for r in train_rows] == list(range(1, 121))
    assert [r["step"] for r in eval_rows] == [10 * k for k in range(1, 13)] and "mse" in eval_rows[0]
    assert (tmp_path / "curves.png").stat().st_size > 0


def test_early_stopping_on_target_and_patience():
    config, job = tiny_adding(steps=500, early_stopping={"metric": "mse", "target": 10.0})
    assert fit(job.model, job.step_fn, job.batches, config.train, evaluate=job.evaluate).step == 10
    config, job = tiny_adding(steps=500, optimizer={"lr": 1e-9}, early_stopping={"metric": "mse", "patience": 2})
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

    with pytest.raises(FloatingPointError, match="step 1: the loss is nan"):
        fit(model, step_fn, batches, TrainConfig(steps=3, progress=False))


def test_lstm_and_gru_solve_adding_at_t50():
    for cell in ("lstm", "gru"):
        config = from_dict(LongTermConfig, {
            "task": "adding", "data": {"length": 50, "test_size": 500},
            "model": {"cell": cell, "hidden_size": 32, "init": "recommended", "chrono_max_length": 50},
            "train": {"steps": 1500, "batch_size": 32, "eval_every": 50, "progress": False,
                      "optimizer": {"lr": 0.01}, "early_stopping": {"metric": "mse", "target": 0.05}},
        })
        torch.manual_seed(0)
        job = build(config)
        result = fit(job.model, job.step_fn, job.batches, config.train, evaluate=job.evaluate)
        assert result.last_eval["mse"] < 0.05, (cell, result.last_eval, result.step)


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


def test_checkpoint_stores_a_tied_weight_once(tmp_path):
    embedding = nn.Embedding(5, 3)
    decoder = nn.Linear(3, 5)
    decoder.weight = embedding.weight
    model = nn.ModuleDict({"embedding": embedding, "decoder": decoder})
    save_checkpoint(tmp_path, 1, {"model": model.state_dict()})
    _, state = load_checkpoint(tmp_path)
    loaded = state["model"]
    torch.testing.assert_close(loaded["decoder.weight"], embedding.weight.detach())
    assert loaded["decoder.weight"] is loaded["embedding.weight"]  # one tensor in the file, one back
    fresh = nn.ModuleDict({"embedding": nn.Embedding(5, 3), "decoder": nn.Linear(3, 5)})
    fresh["decoder"].weight = fresh["embedding"].weight
    fresh.load_state_dict(loaded)
    torch.testing.assert_close(fresh["decoder"].bias, decoder.bias.detach())
