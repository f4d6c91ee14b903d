"""Run a task from a config: train, resume, evaluate. What the CLI calls, usable from Python.

A run folder holds ``config.yaml`` (the resolved config), ``split.json`` (what went into the
train, validation and test parts), the checkpoints, ``train.csv``, ``eval.csv`` (validation
metrics only), ``curves.png`` and ``summary.json`` (with the report: the test metrics, read
once at the end, and which weights they are of).

The protocol (see :mod:`rnnkit.tasks.core.parts`): the task's job holds its test part sealed;
training and its evaluations never open it; the report, after training, opens it once. The
runner checks both: a test part read before the report is an error.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from rnnkit.config import ConfigError, apply_overrides, dump_yaml, from_dict, load_yaml, to_dict
from rnnkit.files import write_json
from rnnkit.tasks.core import registry
from rnnkit.tasks.core.parts import RECORD, save_or_check
from rnnkit.training import (
    FitResult,
    fit,
    has_checkpoint,
    init_distributed,
    seed_everything,
    trained_weights_and_origin,
)


def resolve_config(data: dict[str, Any], overrides: list[str] | None = None) -> Any:
    """Plain config data (+ ``a.b=value`` overrides) -> the task's typed config."""
    entry = registry.get(data.get("task"))
    data = apply_overrides(entry.config, data, overrides or [])
    return from_dict(entry.config, data)


def _default_run_dir(config: Any) -> Path:
    return Path("runs") / f"{config.task}-{time.strftime('%Y%m%d-%H%M%S')}"


def _check_unopened(task: str, job: Any) -> None:
    reads = job.split.test.reads
    if reads:
        raise RuntimeError(f"task {task!r}: its test part was read {reads} time(s) before the report; evaluations "
                           f"during training must read validation data only (this is a bug in the task)")


def use_trained_weights(job: Any, run_dir: str | Path) -> str:
    """Load the run's trained weights into ``job.model`` (the best evaluation's, NT-ASGD's
    average, else the last step's) in eval mode; returns which they are, in words."""
    device = next(job.model.parameters()).device
    state, origin = trained_weights_and_origin(run_dir, device)
    job.model.load_state_dict(state)
    job.model.eval()
    return origin


def report(task: str, job: Any, run_dir: str | Path, weights: str) -> dict[str, Any]:
    """The task's report on the trained model (the one read of the test part), saying which weights."""
    entry = registry.get(task)
    if entry.report is None:
        return {"weights": weights}
    with torch.no_grad():
        result = entry.report(job, Path(run_dir))
    return {"weights": weights, **result}


def train(config: Any, run_dir: str | Path | None = None, resume: bool = False) -> tuple[Path, FitResult]:
    """Train ``config``'s task in ``run_dir`` (resuming from its last checkpoint if asked), then
    report on the trained model. Returns the run folder and the training result (its
    ``report`` holds the report)."""
    run_dir = Path(run_dir or config.run_dir or _default_run_dir(config))
    config.run_dir = str(run_dir)  # where the run lives, for tasks that keep more there (a pre-trained model)
    dist_info = init_distributed(config.train.device)
    entry = registry.get(config.task)
    if dist_info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        dump_yaml(to_dict(config), run_dir / "config.yaml")
        if entry.prepare is not None:  # e.g. pre-train a language model; rerun, it finds its work done
            entry.prepare(config)
    if dist_info.world_size > 1:
        torch.distributed.barrier()  # the other ranks build once the main one has prepared
    seed_everything(config.train.seed + dist_info.rank)
    job = entry.build(config, dist_info.rank)
    if dist_info.is_main:
        save_or_check(run_dir, job.split)
    result = fit(job.model, job.step_fn, job.batches, config.train, run_dir=run_dir, evaluate=job.evaluate,
                 resume=resume, dist_info=dist_info)
    if dist_info.is_main:
        _check_unopened(config.task, job)
        weights = use_trained_weights(job, run_dir)
        summary = {"task": config.task, "step": result.step, "stopped_early": result.stopped_early,
                   "last_eval": result.last_eval, "best": result.best, "seconds": round(result.seconds, 2)}
        result.report = summary["report"] = report(config.task, job, run_dir, weights)
        write_json(run_dir / "summary.json", summary)
    return run_dir, result


def load_run_config(run_dir: str | Path) -> Any:
    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        raise ConfigError(f"{run_dir}: not a run folder (no config.yaml)")
    config = resolve_config(load_yaml(path))
    config.run_dir = str(run_dir)  # where it is now, if the folder was moved
    return config


def resume(run_dir: str | Path) -> tuple[Path, FitResult]:
    """Continue a stopped or killed run from its newest checkpoint."""
    config = load_run_config(run_dir)
    if not has_checkpoint(run_dir):
        raise FileNotFoundError(f"{run_dir}: no checkpoint to resume from")
    return train(config, run_dir, resume=True)


def load_finished_run(run_dir: str | Path, task: str, kind: str, files: tuple[str, ...] = ()) -> Any:
    """The config of ``run_dir``, checked to be a run of ``task`` (``kind`` names it in the error)
    that has the ``files`` its task writes when training ends."""
    config = load_run_config(run_dir)
    if config.task != task:
        raise ValueError(f"{run_dir}: expected a {kind} run, got task {config.task!r}")
    missing = [name for name in files if not (Path(run_dir) / name).exists()]
    if missing:
        raise FileNotFoundError(f"{run_dir}: no {' / '.join(missing)} (written when training ends); "
                                f"`rnnkit resume {run_dir}` finishes the run")
    return config


def load_trained(run_dir: str | Path, task: str | None = None, kind: str = "") -> tuple[Any, Any]:
    """The config and the task's job of ``run_dir``, its model holding the weights to use: the
    best evaluation's (``restore_best``), else NT-ASGD's average, else the newest, in eval mode.
    With ``task``, a run of another task is an error (before anything is built). The data must
    still split as it did in training (``split.json``)."""
    config = load_run_config(run_dir) if task is None else load_finished_run(run_dir, task, kind)
    job = registry.get(config.task).build(config)
    if (Path(run_dir) / RECORD).exists():
        save_or_check(run_dir, job.split)
    use_trained_weights(job, run_dir)
    return config, job


def evaluate(run_dir: str | Path) -> dict[str, float]:
    """The validation metrics of ``run_dir``'s trained model (see :func:`load_trained`). The test
    metrics are the report's, in ``summary.json``: test data is read once, at the end of training."""
    _, job = load_trained(run_dir)
    with torch.no_grad():
        return {k: float(v) for k, v in job.evaluate(job.model).items()}


def reported(run_dir: str | Path) -> dict[str, Any] | None:
    """The report saved when ``run_dir`` finished training (``summary.json``), or None."""
    path = Path(run_dir) / "summary.json"
    return json.loads(path.read_text(encoding="utf-8")).get("report") if path.exists() else None
