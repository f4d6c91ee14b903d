"""Run a task from a config: train, resume, evaluate. What the CLI calls, usable from Python.

A run folder holds ``config.yaml`` (the resolved config), ``split.json`` (what went into the
train, validation and test parts), the checkpoints, ``train.csv``, ``eval.csv`` (validation
metrics only), ``curves.png`` and ``summary.json`` (with the report: the test metrics, read
once at the end, and which weights they are of).

The protocol (see :mod:`rnnkit.tasks.core.parts`): the task's job holds its test part sealed;
training and its evaluations never open it; the report, after training, opens it once. The
runner checks both: a test part read before the report is an error.

The folder belongs to its run (:mod:`rnnkit.training.run_folder`): ``train`` refuses a folder
that holds a run unless told to overwrite (and then moves the old one aside), and holds a lock
while it trains, so a second process is refused rather than interleaved. Data paths are stored
absolute. Files the weights' meaning depends on (a vocabulary, the class names: the job's
``artifacts``) are written before training and bound to every checkpoint by hash. A run
without ``summary.json`` was stopped before its report: every function that reads a trained
run refuses it unless ``allow_unfinished``, and then says so.

Your data: after the job is built, a budget in epochs becomes steps (:func:`resolve_budget`),
config.yaml is written as built (with what the task chose for its data), and the data report
(:mod:`rnnkit.tasks.core.data_report`) is printed and kept; after the report, the task's
baselines run on the same parts (:mod:`rnnkit.tasks.core.baselines`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import math
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from rnnkit.config import ConfigError, apply_overrides, dump_yaml, from_dict, load_yaml, to_dict
from rnnkit.files import InputError, decode_text, input_file, write_bytes, write_json
from rnnkit.tasks.core import registry
from rnnkit.tasks.core.baselines import compare as compare_baselines
from rnnkit.tasks.core.baselines import render as render_baselines
from rnnkit.tasks.core.baselines import run_all as run_baselines
from rnnkit.tasks.core.data_report import report_lines
from rnnkit.tasks.core.parts import RECORD, save_or_check
from rnnkit.training import (
    CheckpointError,
    FitResult,
    checkpoint_step,
    fit,
    has_checkpoint,
    init_distributed,
    model_device,
    seed_everything,
    trained_weights_and_origin,
)
from rnnkit.training.logger import write_line
from rnnkit.training.run_folder import RunLock, claim, new_run_folder


def resolve_config(data: dict[str, Any], overrides: list[str] | None = None) -> Any:
    """Plain config data (+ ``a.b=value`` overrides) -> the task's typed config."""
    entry = registry.get(data.get("task"))
    data = apply_overrides(entry.config, data, overrides or [])
    return from_dict(entry.config, data)


class UnfinishedRun(RuntimeError):
    """A run stopped before its report, used where a finished one is expected."""


def _check_unopened(task: str, job: Any) -> None:
    reads = job.split.test.reads
    if reads:
        raise RuntimeError(f"task {task!r}: its test part was read {reads} time(s) before the report; evaluations "
                           f"during training must read validation data only (this is a bug in the task)")


PATH_FIELDS = ("path", "vocabulary", "run_dir")  # and every name that ends in "_path"


def _absolute_paths(config: Any, top: bool = True) -> None:
    """The paths a config names (data files, a vocabulary file, a pre-training folder) made
    absolute, in place: the saved config then names the files trained on, whatever folder a later
    command runs from. (The run's own ``run_dir`` is set to where the run is when it is loaded.)"""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            _absolute_paths(value, top=False)
        elif isinstance(value, str) and (f.name in PATH_FIELDS or f.name.endswith("_path")) \
                and not (top and f.name == "run_dir"):
            setattr(config, f.name, os.path.abspath(os.path.expanduser(value)))


def _check_finite(task: str, metrics: dict[str, Any]) -> None:
    broken = {k: v for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)}
    if broken:
        raise FloatingPointError(f"task {task!r}: the report's {', '.join(f'{k} = {v}' for k, v in broken.items())} "
                                 f"(not finite): the trained model's outputs are not usable numbers, most likely "
                                 f"because training diverged (a learning rate too high for this model) or the data "
                                 f"holds extreme values. The run is kept without a report (summary.json)")


def use_trained_weights(job: Any, run_dir: str | Path) -> str:
    """Load the run's trained weights into ``job.model`` (the best evaluation's, NT-ASGD's
    average, else the last step's) in eval mode; returns which they are, in words."""
    device = model_device(job.model)
    state, origin = trained_weights_and_origin(run_dir, device)
    load_weights(job.model, state, run_dir)
    job.model.eval()
    return origin


def load_weights(model: torch.nn.Module, state: dict[str, Any], run_dir: str | Path) -> None:
    """``model.load_state_dict(state)``; weights of another shape are an error naming the run."""
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{run_dir}: the checkpoint's weights do not fit the model that config.yaml "
                              f"describes ({first})") from None


def report(task: str, job: Any, run_dir: str | Path, weights: str, baselines: bool = True,
           seconds: float | None = None) -> dict[str, Any]:
    """The task's report on the trained model (the one read of the test part), saying which
    weights; with ``baselines``, the task's baselines beside it on the same parts
    (``report["baselines"]``, and the table in ``report["text"]``; ``seconds``: the model's
    training time, for the table)."""
    entry = registry.get(task)
    if entry.report is None:
        return {"weights": weights}
    with torch.no_grad():
        result = entry.report(job, Path(run_dir))
    metrics = result.get("metrics", {})
    _check_finite(task, metrics)
    if baselines and entry.baselines is not None and metrics:
        comparison = compare_baselines(metrics, run_baselines(entry.baselines(job)))
        table = render_baselines(metrics, comparison, seconds)
        result = {**result, "baselines": comparison,
                  "text": (result["text"] + "\n\n" if result.get("text") else "") + "beside the baselines "
                          "(the same test part):\n" + table}
    return {"weights": weights, **result}


def resolve_budget(config: Any, job: Any) -> str | None:
    """With ``train.epochs``: train for that many passes over the job's training part
    (``job.train_size`` examples in batches of ``train.batch_size``), at least ``train.min_steps``
    (small data needs more passes) and at most ``train.steps``; evaluate at least once per pass
    and at most about 50 times. Sets ``train.steps`` (and ``eval_every``, ``checkpoint_every``)
    in place; returns the data report's line on it (None without epochs)."""
    train = config.train
    if train.epochs is None:
        return None
    size = getattr(job, "train_size", None)
    if size is None:
        raise ConfigError(f"train.epochs: task {config.task!r} counts its budget in steps: set train.steps and "
                          f"train.epochs: null")
    per_epoch = max(1, math.ceil(size / train.batch_size))
    wanted = max(math.ceil(train.epochs * per_epoch), train.min_steps)
    bound = "capped at train.steps" if wanted > train.steps else \
        "raised to train.min_steps" if wanted > train.epochs * per_epoch else "as the epochs ask"
    train.steps = min(wanted, train.steps)
    train.eval_every = min(train.eval_every, max(per_epoch, math.ceil(train.steps / 50)), train.steps)
    train.checkpoint_every = min(train.checkpoint_every, train.eval_every)
    return (f"budget: {train.epochs:g} epochs of {size} examples in batches of {train.batch_size}: {train.steps} "
            f"steps ({bound}), an evaluation every {train.eval_every}")


def _agree_on_folder(config: Any, run_dir: str | Path | None, dist_info: Any) -> Path:
    """The run folder: as given, else the config's, else a new unique one (made by the main
    process and sent to the others under torchrun)."""
    chosen = run_dir or config.run_dir
    if chosen is None and dist_info.is_main:
        chosen = str(new_run_folder("runs", config.task))
    if dist_info.world_size > 1 and not (run_dir or config.run_dir):
        shared = [chosen]
        torch.distributed.broadcast_object_list(shared, src=0)
        chosen = shared[0]
    return Path(chosen)


def _write_artifacts(job: Any, run_dir: Path, resume: bool) -> list[str]:
    """Write the job's ``artifacts`` (name -> bytes) into the run folder; on resume, check that
    the data still gives the same ones. Returns their names, to bind to the checkpoints."""
    artifacts: dict[str, bytes] = getattr(job, "artifacts", None) or {}
    for name, data in artifacts.items():
        path = run_dir / name
        if resume and path.exists():
            if path.read_bytes() != data:
                raise RuntimeError(f"{path}: the data now gives another {name} than the run was trained with; "
                                   f"resume with the data it was trained on, or train a new run")
            continue
        write_bytes(path, data)
    return list(artifacts)


def train(config: Any, run_dir: str | Path | None = None, resume: bool = False, overwrite: bool = False,
          setup: Callable[[Path], None] | None = None, baselines: bool = True,
          on_evaluate: Callable[[dict[str, float]], None] | None = None, test: bool = True
          ) -> tuple[Path, FitResult]:
    """Train ``config``'s task in ``run_dir`` (resuming from its last checkpoint if asked), then
    report on the trained model. Returns the run folder and the training result (its
    ``report`` holds the report; its ``notes``, what the user should be told).

    A folder that holds a run is an error unless ``overwrite`` (the old run is moved aside, see
    :func:`rnnkit.training.run_folder.claim`); the folder is locked while this runs.
    ``setup(run_dir)`` runs once the folder is held, before anything else is written (to put
    the data there, say). ``baselines``: run the task's baselines beside the model in the report.
    ``on_evaluate(metrics)`` sees every evaluation's validation metrics (a tuner's pruner does);
    an exception it raises ends the run there (its last checkpoint kept).
    ``test=False``: train and keep the weights, but leave the test part unread (no report): for
    runs that validation compares, such as a search's trials; :func:`report_run` reads it later,
    once, for the run that validation chose.
    """
    dist_info = init_distributed(config.train.device)
    run_dir = _agree_on_folder(config, run_dir, dist_info)
    config.run_dir = str(run_dir)  # where the run lives, for tasks that keep more there (a pre-trained model)
    with _hold(run_dir, resume, overwrite) if dist_info.is_main else nullcontext() as moved:
        try:
            return _train_held(config, run_dir, resume, dist_info, setup, moved, baselines, on_evaluate, test)
        except OSError as error:
            if error.errno == errno.ENOSPC:
                raise _out_of_space(run_dir) from error
            raise


def _out_of_space(run_dir: Path) -> OSError:
    """A full disk, told with the run folder, what survived and how to continue."""
    try:
        kept = f"its last complete checkpoint (step {checkpoint_step(run_dir)}) is kept"
    except (CheckpointError, OSError, ValueError):
        kept = None
    if kept:
        how = f"{kept}: free some space, then `rnnkit resume {run_dir}`"
    else:
        how = "before its first checkpoint: free some space, then train again (--overwrite replaces this partial run)"
    return OSError(errno.ENOSPC, f"no space left on the device while writing to {run_dir}; {how}")


@contextlib.contextmanager
def _hold(run_dir: Path, resume: bool, overwrite: bool) -> Iterator[Path | None]:
    """The folder held for this process: locked to resume in, claimed for a new run (yields
    where an old run was moved, if it was)."""
    if resume:
        with RunLock(run_dir):
            yield None
    else:
        with claim(run_dir, overwrite) as moved:
            yield moved


def _train_held(config: Any, run_dir: Path, resume: bool, dist_info: Any, setup: Callable[[Path], None] | None,
                moved: Path | None, baselines: bool, on_evaluate: Callable[[dict[str, float]], None] | None,
                test: bool = True) -> tuple[Path, FitResult]:
    entry = registry.get(config.task)
    if dist_info.is_main:
        if setup is not None:
            setup(run_dir)
        if not resume:
            _absolute_paths(config)
            dump_yaml(to_dict(config), run_dir / "config.yaml")
        elif (summary := _summary(run_dir)) is not None:  # trained further: the old report is of fewer steps
            step = summary.get("step")
            (run_dir / "summary.json").rename(run_dir / f"summary-{f'step{step}' if type(step) is int else 'earlier'}"
                                                        f".json")
        if entry.prepare is not None:  # e.g. pre-train a language model; rerun, it finds its work done
            entry.prepare(config)
    if dist_info.world_size > 1:
        torch.distributed.barrier()  # the other ranks build once the main one has prepared
    seed_everything(config.train.seed + dist_info.rank)
    job = entry.build(config, dist_info.rank)
    budget = resolve_budget(config, job)
    if dist_info.is_main and not resume:  # as built: the steps it trains for, what the task chose for its data
        dump_yaml(to_dict(config), run_dir / "config.yaml")
    bound: list[str] = []
    data_lines: list[str] = []
    if dist_info.is_main:
        save_or_check(run_dir, job.split)
        bound = _write_artifacts(job, run_dir, resume)
        data_lines = report_lines(job) + ([budget] if budget else [])
        if config.train.progress:
            write_line("data report:\n" + "\n".join(f"  {line}" for line in data_lines))
    evaluate = job.evaluate
    if on_evaluate is not None and evaluate is not None:
        def evaluate(model: torch.nn.Module, inner: Callable[..., dict[str, float]] = job.evaluate) -> dict[str, float]:
            metrics = inner(model)
            on_evaluate(metrics)
            return metrics
    result = fit(job.model, job.step_fn, job.batches, config.train, run_dir=run_dir, evaluate=evaluate,
                 resume=resume, dist_info=dist_info, bound=bound)
    if moved is not None:
        result.notes.append(f"the run that was in {run_dir} is now in {moved}")
    if dist_info.is_main:
        _check_unopened(config.task, job)
        summary = {"task": config.task, "step": result.step, "stopped_early": result.stopped_early,
                   "last_eval": result.last_eval, "best": result.best, "seconds": round(result.seconds, 2)}
        if test:
            weights = use_trained_weights(job, run_dir)
            result.report = summary["report"] = {**report(config.task, job, run_dir, weights, baselines,
                                                          round(result.seconds, 1)), "data_report": data_lines}
        else:
            summary[TEST_UNREAD] = True
            summary["data_report"] = data_lines
            result.notes.append(f"the test part is unread: `rnnkit report {run_dir}` reads it once")
        write_json(run_dir / "summary.json", summary)
    return run_dir, result


TEST_UNREAD = "test_unread"  # summary.json's mark of a run trained with test=False, until report_run
REPORTED_LATER = "reported_after_training"  # and its mark once report_run has read the test part


def report_run(run_dir: str | Path, baselines: bool = True) -> dict[str, Any]:
    """Read the test part of a run trained with ``test=False``, once: the task's report on its
    trained weights (as :func:`train` would have made it), saved into its ``summary.json`` and
    returned. A run whose test part was read already is an error: test data is read once."""
    run_dir = Path(run_dir)
    config, job = load_trained(run_dir)
    with RunLock(run_dir):  # two callers at once: one reads, the other finds it read
        summary = _summary(run_dir) or {}
        if not summary.get(TEST_UNREAD):
            raise RuntimeError(f"{run_dir}: its test part was read already (summary.json holds that report); test "
                               f"data is read once (`rnnkit evaluate {run_dir}` shows the report)")
        weights = use_trained_weights(job, run_dir)
        result = {**report(config.task, job, run_dir, weights, baselines, summary.get("seconds")),
                  "data_report": summary.pop("data_report", [])}
        del summary[TEST_UNREAD]
        summary[REPORTED_LATER] = True  # the test part was read after training, by report_run: once
        summary["report"] = result
        write_json(run_dir / "summary.json", summary)
    return result


def load_run_config(run_dir: str | Path) -> Any:
    """The typed config of a run folder (its ``config.yaml``), with ``run_dir`` set to where it is now."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: {'a file' if run_dir.exists() else 'no such folder'}; expected a run "
                          f"folder (written by 'rnnkit train')")
    path = run_dir / "config.yaml"
    if not path.exists():
        raise ConfigError(f"{run_dir}: not a run folder (no config.yaml)")
    config = resolve_config(load_yaml(path))
    config.run_dir = str(run_dir)  # where it is now, if the folder was moved
    return config


def _summary(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "summary.json"
    if not path.exists():
        return None
    try:
        summary = json.loads(decode_text(input_file(path, "a run's summary (JSON)", 16 << 20).read_bytes(), str(path)))
    except (InputError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: unreadable ({error})") from None
    if not isinstance(summary, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return summary


def check_trained(run_dir: str | Path, config: Any, allow_unfinished: bool = False) -> None:
    """Refuse a run whose checkpoint is beyond its ``train.steps``, and a run stopped before its
    report unless ``allow_unfinished`` (then warn, :class:`UserWarning`, with its step)."""
    run_dir = Path(run_dir)
    step, steps = checkpoint_step(run_dir), config.train.steps
    if step > steps:
        raise CheckpointError(f"{run_dir / 'checkpoint.json'}: step {step}, beyond the run's train.steps ({steps})")
    if _summary(run_dir) is not None:
        return
    where = f"stopped at step {step} of {steps}, before its report"
    if not allow_unfinished:
        raise UnfinishedRun(f"{run_dir}: an unfinished run ({where}); `rnnkit resume {run_dir}` finishes it, or pass "
                            f"--unfinished (allow_unfinished=True) to use its step-{step} weights as they are")
    warnings.warn(f"{run_dir} is an unfinished run ({where}): using its step-{step} weights", UserWarning,
                  stacklevel=3)


def resume(run_dir: str | Path, baselines: bool = True) -> tuple[Path, FitResult]:
    """Continue a stopped or killed run from its newest checkpoint (a finished run is an error)."""
    config = load_run_config(run_dir)
    if not has_checkpoint(run_dir):
        raise FileNotFoundError(f"{run_dir}: no checkpoint to resume from")
    summary = _summary(Path(run_dir))
    step = checkpoint_step(run_dir)
    if summary is not None and (summary.get("stopped_early") or step >= config.train.steps):
        how = "stopped early" if summary.get("stopped_early") else "finished"
        raise RuntimeError(f"{run_dir}: the run {how} at step {step} and has its report; nothing to resume (to train "
                           f"longer, raise train.steps in its config.yaml first)")
    if step > config.train.steps:
        raise CheckpointError(f"{Path(run_dir) / 'checkpoint.json'}: step {step}, beyond the run's train.steps "
                              f"({config.train.steps})")
    return train(config, run_dir, resume=True, baselines=baselines)


def load_finished_run(run_dir: str | Path, task: str, kind: str, files: tuple[str, ...] = (),
                      allow_unfinished: bool = False) -> Any:
    """The config of ``run_dir``, checked to be a run of ``task`` (``kind`` names it in the error),
    trained (see :func:`check_trained`), with the ``files`` its task reads."""
    config = load_run_config(run_dir)
    if config.task != task:
        raise ValueError(f"{run_dir}: expected a {kind} run, got task {config.task!r}")
    check_trained(run_dir, config, allow_unfinished)
    missing = [name for name in files if not (Path(run_dir) / name).exists()]
    if missing:
        raise FileNotFoundError(f"{run_dir}: no {' / '.join(missing)} (a run writes it when it starts): it was removed, "
                                f"or the run predates it; train it again")
    return config


def load_trained(run_dir: str | Path, task: str | None = None, kind: str = "", allow_unfinished: bool = False
                 ) -> tuple[Any, Any]:
    """The config and the task's job of ``run_dir``, its model holding the weights to use: the
    best evaluation's (``restore_best``), else NT-ASGD's average, else the newest, in eval mode.
    With ``task``, a run of another task is an error (before anything is built). The data must
    still split as it did in training (``split.json``)."""
    if task is None:
        config = load_run_config(run_dir)
        check_trained(run_dir, config, allow_unfinished)
    else:
        config = load_finished_run(run_dir, task, kind, allow_unfinished=allow_unfinished)
    job = registry.get(config.task).build(config)
    if (Path(run_dir) / RECORD).exists():
        save_or_check(run_dir, job.split)
    use_trained_weights(job, run_dir)
    return config, job


def evaluate(run_dir: str | Path, allow_unfinished: bool = False) -> dict[str, float]:
    """The validation metrics of ``run_dir``'s trained model (see :func:`load_trained`). The test
    metrics are the report's, in ``summary.json``: test data is read once, at the end of training."""
    _, job = load_trained(run_dir, allow_unfinished=allow_unfinished)
    with torch.no_grad():
        return {k: float(v) for k, v in job.evaluate(job.model).items()}


def test_unread(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` was trained with ``test=False`` and not yet reported (:func:`report_run`)."""
    return bool((_summary(Path(run_dir)) or {}).get(TEST_UNREAD))


def reported_after_training(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` was trained with ``test=False`` and then reported by :func:`report_run`
    (its test part read once, after whatever chose it), not at the end of training."""
    return bool((_summary(Path(run_dir)) or {}).get(REPORTED_LATER))


def reported(run_dir: str | Path) -> dict[str, Any] | None:
    """The report saved when ``run_dir`` finished training (``summary.json``), or None."""
    summary = _summary(Path(run_dir))
    return summary.get("report") if summary is not None else None
