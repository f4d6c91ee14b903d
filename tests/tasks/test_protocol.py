"""Validation chooses, test is read once: checked for every task in the registry.

For each task, on small generated data: build the job, train it with its evaluations, and
count the reads of its sealed test part (zero before the report, at least one after); no
evaluation returns a test metric; the runner refuses a task that reads test early, and the
loop refuses a test metric as the one to choose by.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from rnnkit.config import ConfigError
from rnnkit.tasks.core import registry, run
from rnnkit.tasks.core.parts import Sealed, Split
from rnnkit.training import StepOutput, TrainConfig, fit

TRAIN = {"steps": 4, "batch_size": 4, "eval_every": 2, "log_every": 1, "progress": False, "device": "cpu"}
SMALL = {"hidden_size": 8}


def forecast_config(folder: Path) -> dict:
    t = np.arange(120)
    pd.DataFrame({"y": 10 + np.sin(2 * np.pi * t / 12)}).to_csv(folder / "series.csv", index=False)
    return {"data": {"name": None, "path": str(folder / "series.csv"), "window": 12, "horizon": 3, "test_size": 12,
                     "validation_size": 9, "stride": 3},
            "model": {"recurrent": SMALL}}


def anomaly_config(folder: Path) -> dict:
    t = np.arange(400)
    label = np.zeros(400, dtype=int)
    values = np.sin(t / 4.0)
    for start in (200, 330):  # one anomaly in validation, one in test
        values[start : start + 3] += 3
        label[start : start + 3] = 1
    pd.DataFrame({"a": values, "label": label}).to_csv(folder / "sensors.csv", index=False)
    return {"data": {"name": None, "path": str(folder / "sensors.csv"), "label_column": "label",
                     "fit_fraction": 0.4, "validation_fraction": 0.3},
            "model": {"window": 10, "recurrent": SMALL}}


def classify_config(folder: Path) -> dict:
    from rnnkit.data.sequences import SequenceSet, save_npz

    rng = np.random.default_rng(0)
    for name, n in (("train", 24), ("test", 8)):
        sequences = [rng.normal(size=(int(rng.integers(5, 9)), 2)).astype(np.float32) for _ in range(n)]
        save_npz(SequenceSet(sequences, np.array(["a", "b"] * (n // 2))), folder / f"{name}.npz")
    return {"data": {"name": None, "path": str(folder / "train.npz"), "test_path": str(folder / "test.npz"),
                     "validation_fraction": 0.25},
            "model": {"recurrent": SMALL}}


def language_config(folder: Path) -> dict:
    (folder / "text.txt").write_text("the cat sat on the mat. " * 60)
    return {"data": {"name": None, "path": str(folder / "text.txt"), "bptt": 8, "eval_batch_size": 2},
            "model": {"recurrent": {**SMALL, "num_layers": 1}, "embedding_size": 8}, "sample_length": 5}


def sentiment_config(folder: Path) -> dict:
    with open(folder / "texts.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(60):
            writer.writerow([f"{'good fine' if i % 2 else 'bad awful'} film number {i}", "pos" if i % 2 else "neg"])
    return {"data": {"name": None, "path": str(folder / "texts.csv")},
            "model": {"recurrent": SMALL, "embedding_size": 8}}


def music_config(folder: Path) -> dict:
    pytest.importorskip("mido")
    from rnnkit.data.music import write_midi

    (folder / "midi").mkdir()
    for i in range(10):
        roll = np.zeros((8, 88), dtype=np.uint8)
        roll[np.arange(8), 39 + (np.arange(8) + i) % 5] = 1
        write_midi(roll, folder / "midi" / f"p{i}.mid")
    return {"data": {"name": None, "path": str(folder / "midi"), "validation_fraction": 0.2, "test_fraction": 0.2},
            "model": {"recurrent": SMALL}, "sample_length": 4}


def translate_config(folder: Path) -> dict:
    pytest.importorskip("jiwer")
    words = [f"{a}{b}" for a in "abcdef" for b in "ghijk"]
    (folder / "pairs.tsv").write_text("".join(f"{w}\t{' '.join(w.upper())}\n" for w in words))
    return {"data": {"name": None, "path": str(folder / "pairs.tsv"), "validation_fraction": 0.2,
                     "test_fraction": 0.2, "eval_size": 5},
            "model": {"recurrent": {**SMALL, "num_layers": 1}, "embedding_size": 8},
            "metric": "g2p", "beam": 2, "max_output": 6}


def speech_config(folder: Path) -> dict:
    pytest.importorskip("jiwer")
    from rnnkit.data.audio import write_wav

    rng = np.random.default_rng(0)
    rows = ["path,text,speaker"]
    for s in range(6):
        for u in range(3):
            tone = np.sin(2 * np.pi * (300 + 200 * u) * np.arange(2400) / 8000) * 0.3
            write_wav(folder / f"s{s}u{u}.wav", (tone + rng.normal(0, 0.01, 2400)).astype(np.float32), 8000)
            rows.append(f"s{s}u{u}.wav,{['lo', 'mid', 'hi'][u]},speaker{s}")
    (folder / "transcripts.csv").write_text("\n".join(rows) + "\n")
    return {"data": {"name": None, "path": str(folder), "validation_fraction": 0.2, "test_fraction": 0.2},
            "features": {"sample_rate": 8000, "n_mels": 8},
            "model": {"recurrent": {**SMALL, "num_layers": 1}}, "beam": 2}


CONFIGS = {
    "adding": lambda folder: {"data": {"length": 6, "validation_size": 16, "test_size": 16},
                              "model": {"recurrent": SMALL}},
    "copy": lambda folder: {"data": {"length": 4, "validation_size": 16, "test_size": 16},
                            "model": {"recurrent": SMALL}},
    "forecast": forecast_config,
    "anomaly": anomaly_config,
    "classify": classify_config,
    "language": language_config,
    "sentiment": sentiment_config,
    "music": music_config,
    "translate": translate_config,
    "speech": speech_config,
}


def test_every_registered_task_is_covered():
    assert sorted(CONFIGS) == registry.names()


@pytest.mark.parametrize("task", sorted(CONFIGS))
def test_no_evaluation_reads_the_test_part_and_the_report_does(task, tmp_path):
    data = {"task": task, **CONFIGS[task](tmp_path), "train": dict(TRAIN)}
    metric = {"adding": "val_mse", "copy": "val_loss"}.get(task, "val_loss")
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
