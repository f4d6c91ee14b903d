"""Budgets in passes over the data (train.epochs), and a config that names only the task and its
data: it trains for a budget that its data sets, on a validation part, and says so."""

from __future__ import annotations

import csv
from types import SimpleNamespace

import numpy as np
import pytest

from rnnkit.config import ConfigError
from rnnkit.data.sequences import SequenceSet, save_npz
from rnnkit.tasks.core import run
from rnnkit.training import TrainConfig


def config(**train) -> SimpleNamespace:
    return SimpleNamespace(task="x", train=TrainConfig(**train))


def test_epochs_by_hand():
    c = config(epochs=3, steps=1000, batch_size=16, eval_every=100, checkpoint_every=100)
    line = run.resolve_budget(c, SimpleNamespace(train_size=50))  # ceil(50 / 16) = 4 steps a pass
    assert (c.train.steps, c.train.eval_every, c.train.checkpoint_every) == (12, 4, 4)
    assert line == "budget: 3 epochs of 50 examples in batches of 16: 12 steps (as the epochs ask), an evaluation " \
                   "every 4"
    c = config(epochs=3, steps=10, batch_size=16, eval_every=2)  # steps caps the budget
    assert "10 steps (capped at train.steps)" in run.resolve_budget(c, SimpleNamespace(train_size=50))
    assert (c.train.steps, c.train.eval_every) == (10, 2)
    c = config(epochs=3, min_steps=500, steps=10_000, batch_size=16, eval_every=10_000)  # small data: more passes
    assert "500 steps (raised to train.min_steps)" in run.resolve_budget(c, SimpleNamespace(train_size=50))
    assert c.train.eval_every == 10  # about 50 evaluations, not one per 4-step pass
    assert run.resolve_budget(config(steps=7), SimpleNamespace(train_size=50)) is None
    with pytest.raises(ConfigError, match="train.epochs: task 'x' counts its budget in steps"):
        run.resolve_budget(config(epochs=1), SimpleNamespace())
    with pytest.raises(ValueError, match="train.epochs: expected a positive number"):
        TrainConfig(epochs=0)


@pytest.mark.slow
def test_only_the_task_and_a_path(tmp_path):
    rng = np.random.default_rng(0)
    sequences = [rng.normal(size=(int(rng.integers(6, 12)), 2)) + (i % 3) for i in range(60)]
    save_npz(SequenceSet(sequences, np.array([f"c{i % 3}" for i in range(60)])), tmp_path / "data.npz")
    plain = run.resolve_config({"task": "classify", "data": {"name": None, "path": str(tmp_path / "data.npz")},
                                "model": {"recurrent": {"hidden_size": 8}}, "train": {"progress": False}})
    run_dir, result = run.train(plain, tmp_path / "run")
    lines = result.report["data_report"]
    assert lines[0] == "parts: train 36, validation 9, test 15"
    assert "budget: 60 epochs of 36 examples in batches of 16: 1000 steps (raised to train.min_steps), an " \
           "evaluation every 20" in lines
    assert run.load_run_config(run_dir).train.steps == 1000  # saved as trained, so the run loads and resumes
    assert result.step <= 1000 and result.best is not None  # early stopping on validation chose the weights
    with open(tmp_path / "texts.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows([(f"{'a fine good' if i % 2 else 'a bad awful'} film {i}", f"l{i % 2}") for i in range(80)])
    plain = run.resolve_config({"task": "sentiment", "data": {"name": None, "path": str(tmp_path / "texts.csv")},
                                "model": {"recurrent": {"hidden_size": 8}, "embedding_size": 8},
                                "train": {"progress": False}})
    _, result = run.train(plain, tmp_path / "texts")
    assert result.report["data_report"][1] == "data.level: words (auto: the texts split into words on white space); " \
        "data.max_length: 16 tokens (auto: 95% of the training texts are as short)"
    assert "budget: 20 epochs of 64 examples in batches of 32: 500 steps (raised to train.min_steps), an " \
           "evaluation every 10" in result.report["data_report"]


def test_long_sequences_get_a_front_end_sized_from_their_lengths():
    from rnnkit.tasks.classify.task import shorten

    plain = run.resolve_config({"task": "classify", "data": {"name": None, "path": "x.npz"}})
    assert shorten(plain, [150, 180, 200]) is None and plain.model.conv_channels == 0  # short enough
    note = shorten(plain, [1400, 1460, 1500])
    m = plain.model
    assert (m.conv_channels, m.conv_pool, m.conv_kernel) == (32, 15, 15)  # ceil(1460 / 100) = 15
    assert note.endswith("shorten them to about 98 before the recurrent stack")
    assert shorten(plain, [5000]) is None  # a front end is set: left as it is
    off = run.resolve_config({"task": "classify", "data": {"name": None, "path": "x.npz", "shorten": "off"}})
    assert shorten(off, [1460]) is None and off.model.conv_channels == 0


def test_the_season_comes_from_the_time_stamps():
    import pandas as pd

    from rnnkit.data.timeseries import from_pandas
    from rnnkit.tasks.forecast.task import choose_season

    for freq, expected in (("h", 24), ("D", 7), ("W", 52), ("MS", 12), ("QS", 4), ("30min", 48), ("7min", 1)):
        frame = from_pandas(pd.DataFrame({"y": np.arange(400.0)}, index=pd.date_range("2000-01-01", periods=400,
                                                                                       freq=freq)))
        data = run.resolve_config({"task": "forecast", "data": {"name": None, "path": "x.csv"}}).data
        note = choose_season(frame, data)
        assert data.season == expected and note.startswith(f"season: {expected} (auto: "), freq
    data = run.resolve_config({"task": "forecast", "data": {"name": None, "path": "x.csv", "season": 3}}).data
    assert choose_season(frame, data) is None and data.season == 3


# what one pass over each tiny data set of tests/tiny.py holds, counted by hand
PASS = {
    "forecast": 85,  # 120 points - 12 test - 9 validation = 99 for training; origins 12..96 (window 12, horizon 3)
    "anomaly": 150,  # 40% of 400 points = 160 to fit; windows of 10 history + 1 target start at 0..149
    "classify": 18,  # 24 training sequences, a quarter held out for validation
    "language": 162,  # 90% of 1,440 characters = 1,296 tokens, in segments of bptt 8
    "sentiment": 48,  # 60 texts, 20% for test
    "music": 6,  # 10 pieces, 2 for validation and 2 for test
    "translate": 18,  # 30 pairs, 6 for validation and 6 for test
    "speech": 12,  # 6 speakers of 3 utterances; one speaker for validation, one for test
}


@pytest.mark.parametrize("task", sorted(PASS))
def test_every_data_task_counts_its_default_budget_in_passes_over_its_data(task, tmp_path):
    from rnnkit.tasks.core import registry
    from tests.tiny import CONFIGS

    config = run.resolve_config({"task": task, **CONFIGS[task](tmp_path)})
    assert config.train.epochs is not None  # the default: a budget that the data sets, not a step count
    job = registry.get(task).build(config, 0)
    assert job.train_size == PASS[task]
    line = run.resolve_budget(config, job)
    assert line.startswith(f"budget: {config.train.epochs:g} epochs of {PASS[task]} examples")
