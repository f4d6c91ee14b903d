"""Validation chooses, test is read once: checked for every task in the registry.

For each task, on small generated data: build the job, train it with its evaluations, and
count the reads of its sealed test part (zero before the report, at least one after); no
evaluation returns a test metric; the runner refuses a task that reads test early, and the
loop refuses a test metric as the one to choose by.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from rnnkit.config import ConfigError
from rnnkit.tasks.core import registry, run
from rnnkit.tasks.core.parts import Sealed, Split
from rnnkit.training import StepOutput, TrainConfig, fit
from tests.tiny import CONFIGS, SMALL

TRAIN = {"steps": 4, "batch_size": 4, "eval_every": 2, "log_every": 1, "progress": False, "device": "cpu"}


def test_every_registered_task_is_covered():
    assert sorted(CONFIGS) == registry.names()


@pytest.mark.parametrize("task", sorted(CONFIGS))
def test_no_evaluation_reads_the_test_part_and_the_report_does(task, tmp_path):
    data = {"task": task, **CONFIGS[task](tmp_path), "train": dict(TRAIN)}
    metric = {"adding": "val_mse", "copy": "val_loss", "video_prediction": "val_mse"}.get(task, "val_loss")
    if task == "forecast":
        metric = "val_mase"
    elif task == "music":
        metric = "val_nll"
    data["train"]["early_stopping"] = {"metric": metric, "restore_best": True}
    config = run.resolve_config(data)
    config.run_dir = str(tmp_path / "run")
    entry = registry.get(task)
    torch.manual_seed(0)
    job = entry.build(config)
    assert isinstance(job.split, Split) and isinstance(job.split.test, Sealed)
    assert job.split.test.reads == 0  # building did not read it
    result = fit(job.model, job.step_fn, job.batches, config.train, run_dir=tmp_path / "run", evaluate=job.evaluate)
    assert job.split.test.reads == 0, "an evaluation during training read the test part"
    assert result.last_eval and not any(k.startswith("test") for k in result.last_eval)
    assert all(k.startswith("val_") for k in result.last_eval)
    with torch.no_grad():
        report = entry.report(job, tmp_path / "run") if entry.report else None
    if report is not None:
        assert job.split.test.reads >= 1 and report["metrics"]
        assert all(k.startswith("test_") for k in report["metrics"])


def tiny_job(evaluate):
    model = torch.nn.Linear(1, 1)

    class Batches:
        def next(self):
            return torch.ones(2, 1)

        def state_dict(self):
            return {}

        def load_state_dict(self, state):
            pass

    sealed = Sealed(lambda: torch.ones(3, 1))

    def step_fn(m, batch, carry):
        return StepOutput(m(batch).pow(2).mean())

    class Job:
        pass

    job = Job()
    job.model, job.step_fn, job.batches, job.split = model, step_fn, Batches(), Split({"test": {}}, sealed)
    job.evaluate = lambda m: evaluate(m, sealed)
    return job


def test_the_loop_refuses_a_test_metric_from_an_evaluation():
    job = tiny_job(lambda m, sealed: {"val_loss": 1.0, "test_loss": 2.0})
    with pytest.raises(ValueError, match=r"evaluate returned \['test_loss'\]: evaluations during training read"):
        fit(job.model, job.step_fn, job.batches, TrainConfig(steps=2, eval_every=1, progress=False), evaluate=job.evaluate)


def test_the_runner_refuses_a_task_that_reads_its_test_part_before_the_report(tmp_path, monkeypatch):
    job = tiny_job(lambda m, sealed: {"val_loss": float(sealed.open().sum())})  # a buggy task
    original = registry.get("adding")
    fake = registry.Task(original.config, lambda config, rank=0: job, None)
    monkeypatch.setattr(registry, "get", lambda name: fake)
    config = run.resolve_config({"task": "adding", "train": {"steps": 2, "eval_every": 1, "progress": False}})
    with pytest.raises(RuntimeError, match="its test part was read 2 time\\(s\\) before the report"):
        run.train(config, tmp_path / "run")


def test_a_test_metric_cannot_stop_training_or_pick_weights():
    for task in ("forecast", "classify", "adding"):
        with pytest.raises(ConfigError, match="is a test metric"):
            run.resolve_config({"task": task, "train": {"early_stopping": {"metric": "test_loss"}}})


def test_a_run_whose_data_splits_differently_is_refused(tmp_path):
    config = run.resolve_config({"task": "adding", "data": {"length": 5, "validation_size": 8, "test_size": 8},
                                 "model": {"recurrent": SMALL}, "train": {"steps": 2, "progress": False}})
    run_dir, _ = run.train(config, tmp_path / "run")
    config.data.seed = 99  # other validation and test sets
    with pytest.raises(ValueError, match="the data no longer splits as it did when this run started"):
        run.train(config, run_dir, resume=True)


def test_a_run_trained_without_its_test_part_reads_it_once_later_as_the_report_would(tmp_path, monkeypatch):
    def adding() -> object:
        return run.resolve_config({"task": "adding", "data": {"length": 5, "validation_size": 8, "test_size": 8},
                                   "model": {"recurrent": SMALL}, "train": {"steps": 4, "eval_every": 2,
                                                                            "progress": False}})

    jobs = []
    entry = registry.get("adding")

    def build(config, rank=0):
        jobs.append(entry.build(config, rank))
        return jobs[-1]

    monkeypatch.setattr(registry, "get", lambda name: dataclasses.replace(entry, build=build))
    _, direct = run.train(adding(), tmp_path / "direct")
    held_dir, held = run.train(adding(), tmp_path / "held", test=False)
    assert held.report is None and jobs[-1].split.test.reads == 0 and run.test_unread(held_dir)
    assert held.last_eval == direct.last_eval  # the same training
    report = run.report_run(held_dir)
    assert jobs[-1].split.test.reads >= 1 and not run.test_unread(held_dir)
    assert run.reported_after_training(held_dir) and not run.reported_after_training(tmp_path / "direct")
    assert report["metrics"] == direct.report["metrics"] and run.reported(held_dir)["metrics"] == report["metrics"]
    for done in (held_dir, tmp_path / "direct"):  # once only, and never after the report at the end of training
        with pytest.raises(RuntimeError, match="its test part was read already"):
            run.report_run(done)
