"""``rnnkit tune``: a hyperparameter search on the validation part, with Optuna.

    rnnkit tune my-config.yaml --budget 30m --trials 40 --jobs 2

How it works:

- **The space.** Every task searches :data:`COMMON` (learning rate, hidden size, cell, layers,
  batch size) plus its own entries (its :class:`~rnnkit.tasks.core.registry.Task`'s
  ``search_space``, see :func:`search_space`); a YAML file (``--space``) narrows, widens or
  removes entries:
  ``train.optimizer.lr: {low: 1e-4, high: 3e-2, log: true}``, ``model.recurrent.cell:
  {choices: [lstm, gru]}``, ``model.recurrent.num_layers: null`` (left out).
- **The objective** is a validation metric (``--metric``, default the config's
  ``train.early_stopping.metric``): the best value of it over a trial's evaluations. Each
  evaluation is reported to Optuna, whose pruner (median) stops trials that are behind; the
  sampler is TPE. Test data is never read by a trial: trials train with ``test=False`` (no
  report, no baselines; see :func:`rnnkit.tasks.core.run.train`).
- **The study** lives in the tune folder as SQLite (``study.db``), so a killed search resumes
  where it was (``rnnkit tune`` again with the same folder), and several processes share it:
  ``--jobs J`` starts J workers on this machine; on several machines, point ``--storage`` at one
  database server (``postgresql://...``, ``mysql://...``) and run the same command on each.
  A trial whose process died is failed by its missing heartbeat and tried again once.
- **The end.** The best trial's config is written as ``best.yaml``, trained again from scratch
  in ``best/`` and reported once on test, with the task's baselines beside it. Optuna's
  optimization-history and parameter-importance plots are saved as PNG.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from rnnkit.config import ConfigError, apply_overrides, dump_yaml, load_source, to_dict
from rnnkit.extras import require
from rnnkit.files import write_json
from rnnkit.tasks.core import registry, run
from rnnkit.tasks.core.plotting import save_figure
from rnnkit.training.run_folder import RunLock, new_run_folder

STUDY = "rnnkit"
DB = "study.db"

# name -> spec: {"low", "high"[, "log"][, "int"]} or {"choices": [...]}
COMMON: dict[str, dict[str, Any]] = {
    "train.optimizer.lr": {"low": 1e-4, "high": 1e-2, "log": True},
    "model.recurrent.hidden_size": {"low": 16, "high": 256, "log": True, "int": True},
    "model.recurrent.cell": {"choices": ["lstm", "gru"]},
    "model.recurrent.num_layers": {"low": 1, "high": 2, "int": True},
    "train.batch_size": {"choices": [16, 32, 64]},
}


def _check_spec(name: str, spec: Any) -> dict[str, Any]:
    if isinstance(spec, dict) and set(spec) == {"choices"}:
        if not isinstance(spec["choices"], list) or not spec["choices"]:
            raise ConfigError(f"search space: {name}: expected a non-empty list of choices, got {spec['choices']!r}")
        return spec
    if not isinstance(spec, dict) or not {"low", "high"} <= set(spec) <= {"low", "high", "log", "int"}:
        raise ConfigError(f"search space: {name}: expected {{low, high[, log][, int]}} or {{choices: [...]}} "
                          f"(or null to leave it out), got {spec!r}")
    low, high = spec["low"], spec["high"]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (low, high)) \
            or low >= high or (spec.get("log") and low <= 0):
        raise ConfigError(f"search space: {name}: expected finite low < high (and low > 0 with log), got "
                          f"low {low!r}, high {high!r}")
    return spec


def search_space(task: str, changes: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The space searched for ``task``: :data:`COMMON`, the task's own ``search_space``, then
    ``changes`` (in both, a spec replaces or adds an entry, ``None`` removes it)."""
    space = {name: spec for name, spec in {**COMMON, **(registry.get(task).search_space or {})}.items()
             if spec is not None}
    for name, spec in (changes or {}).items():
        if spec is None:
            space.pop(name, None)
        else:
            space[name] = _check_spec(name, spec)
    for name, spec in space.items():
        _check_spec(name, spec)
    return space


def _suggest(trial: Any, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    values = {}
    for name, spec in space.items():
        if "choices" in spec:
            values[name] = trial.suggest_categorical(name, spec["choices"])
        elif spec.get("int"):
            values[name] = trial.suggest_int(name, int(spec["low"]), int(spec["high"]), log=bool(spec.get("log")))
        else:
            values[name] = trial.suggest_float(name, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log")))
    return values


def configured(data: dict[str, Any], values: dict[str, Any]) -> Any:
    """The typed config of ``data`` with ``values`` (dotted name -> value) set."""
    task = registry.get(data.get("task"))
    overrides = [f"{name}={json.dumps(value)}" for name, value in values.items()]
    return run.resolve_config(apply_overrides(task.config, data, overrides))


@dataclasses.dataclass(frozen=True)
class Plan:
    """What every worker of one search needs (plain data: it crosses process boundaries)."""

    data: dict[str, Any]
    space: dict[str, dict[str, Any]]
    metric: str
    direction: str  # "minimize" | "maximize"
    folder: str
    storage: str
    trials: int | None
    deadline: float | None  # time.time() at which no new trial starts
    threads: int


def _storage(url: str) -> Any:
    optuna = require("optuna", "rnnkit tune", extra="tune")
    from optuna.storages import RDBStorage
    from sqlalchemy.exc import IntegrityError, OperationalError

    try:  # Optuna >= 4.9 names it so
        from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry
        retry = "heartbeat_stale_trial_callback"
    except ImportError:
        from optuna.storages import RetryFailedTrialCallback as Retry
        retry = "failed_trial_callback"
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # rnnkit says one line per trial instead
    engine = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}

    def open_storage() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # heartbeats are "experimental" in Optuna: they are what we need
            return RDBStorage(url, engine_kwargs=engine, heartbeat_interval=5, grace_period=20,
                              **{retry: Retry(max_retry=1)})

    for _ in range(9):
        try:
            return open_storage(), optuna
        except (IntegrityError, OperationalError):
            # Two processes opening a new database at once both create its tables and one of them
            # loses ("table studies already exists", "UNIQUE constraint failed: alembic_version").
            # The winner has made them by now: opening it again finds them.
            time.sleep(0.1 + 0.2 * random.random())
    return open_storage(), optuna


def _study(plan: Plan) -> Any:
    storage, optuna = _storage(plan.storage)
    return optuna.create_study(study_name=STUDY, storage=storage, direction=plan.direction, load_if_exists=True,
                               sampler=optuna.samplers.TPESampler(seed=None),
                               pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))


def _objective(plan: Plan, optuna: Any) -> Any:
    better = min if plan.direction == "minimize" else max

    def objective(trial: Any) -> float:
        trial.set_user_attr("pid", os.getpid())  # which worker ran it
        values = _suggest(trial, plan.space)
        config = configured(plan.data, values)
        seen: list[float] = []

        def on_evaluate(metrics: dict[str, float]) -> None:
            if plan.metric not in metrics:
                raise ConfigError(f"--metric {plan.metric}: the evaluations report {sorted(metrics)}")
            seen.append(metrics[plan.metric])
            trial.report(better(seen), len(seen))
            if trial.should_prune():
                raise optuna.TrialPruned(f"behind the median at evaluation {len(seen)}")

        folder = Path(plan.folder) / "trials" / f"{trial.number:04d}"
        run.train(config, folder, overwrite=True, baselines=False, on_evaluate=on_evaluate, test=False)
        if not seen:
            raise ConfigError("a trial ran no evaluation: set train.eval_every below train.steps")
        return better(seen)

    return objective


def _said(study: Any, trial: Any) -> None:
    """One line per finished trial."""
    value = "-" if trial.value is None else f"{trial.value:.5g}"
    best = study.best_value if any(t.value is not None for t in study.trials) else None
    params = ", ".join(f"{k.split('.')[-1]}={v:.3g}" if isinstance(v, float) else f"{k.split('.')[-1]}={v}"
                       for k, v in trial.params.items())
    print(f"trial {trial.number}: {trial.state.name.lower()} {value} (best {best if best is None else f'{best:.5g}'})"
          f"  {params}", file=sys.stderr, flush=True)


def work(plan: Plan) -> None:
    """One worker: trials until the study has ``plan.trials`` finished ones or the deadline passes."""
    import torch

    torch.set_num_threads(plan.threads)
    study = _study(plan)
    optuna = require("optuna", "rnnkit tune", extra="tune")
    callbacks = [_said]
    if plan.trials is not None:
        states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        callbacks.append(optuna.study.MaxTrialsCallback(plan.trials, states=states))
        if sum(t.state in states for t in study.trials) >= plan.trials:
            return
    timeout = None if plan.deadline is None else max(0.0, plan.deadline - time.time())
    if timeout == 0.0:
        return
    # a trial that diverges (NaN loss) fails alone; a config error stops the search
    study.optimize(_objective(plan, optuna), timeout=timeout, callbacks=callbacks, catch=(FloatingPointError,))


def parse_budget(text: str) -> float:
    """Seconds of ``90s``, ``30m``, ``2h`` or a plain number of seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        seconds = float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise ValueError(f"--budget: expected a positive duration such as 90s, 30m or 2h, got {text!r}")
    return seconds


def tune(config: str | Path | dict[str, Any], folder: str | Path | None = None, budget: float | None = None,
         trials: int | None = None, jobs: int = 1, metric: str | None = None, mode: str | None = None,
         space: dict[str, Any] | None = None, storage: str | None = None, retrain: bool = True) -> dict[str, Any]:
    """Search, then train the best config again and report it once on test (see the module
    docstring). ``config``: a preset name, a YAML path or the config's data. Returns the best
    trial's value and parameters, the best config, and (``retrain``) its run folder and report."""
    if budget is None and trials is None:
        raise ValueError("tune: give a --budget, a number of --trials, or both")
    if trials is not None and trials < 1:
        raise ValueError(f"--trials: expected a positive integer, got {trials}")
    if jobs < 1:
        raise ValueError(f"--jobs: expected a positive integer, got {jobs}")
    data = dict(config) if isinstance(config, dict) else load_source(config)
    base = run.resolve_config(data)  # a bad config is an error before anything starts
    metric = metric or base.train.early_stopping.metric
    if not metric:
        raise ConfigError("tune: no validation metric to optimize: pass --metric (a val_ metric this task's "
                          "evaluation reports, e.g. val_loss) or set train.early_stopping.metric")
    if not metric.startswith("val"):
        raise ConfigError(f"--metric: expected a validation metric (val_...): validation chooses, got {metric!r}")
    mode = mode or (base.train.early_stopping.mode if metric == base.train.early_stopping.metric else "min")
    data = to_dict(base)
    data["train"]["progress"] = jobs == 1  # a bar per trial; several workers' bars would interleave
    data.pop("run_dir", None)
    folder = Path(folder) if folder is not None else new_run_folder("runs", f"tune-{base.task}")
    folder.mkdir(parents=True, exist_ok=True)
    plan = Plan(data, search_space(base.task, space), metric, "minimize" if mode == "min" else "maximize",
                str(folder), storage or f"sqlite:///{(folder / DB).resolve()}", trials,
                None if budget is None else time.time() + budget, max(1, (os.cpu_count() or 1) // jobs))
    write_json(folder / "search.json", {"metric": metric, "mode": mode, "space": plan.space, "trials": trials,
                                        "budget_seconds": budget, "jobs": jobs})
    _study(plan)  # the database and the study exist before any worker starts (two would race to create them)
    if jobs == 1:
        work(plan)
    else:
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
            for done in [pool.submit(work, plan) for _ in range(jobs)]:
                done.result()
    return finish(plan, retrain)


def finish(plan: Plan, retrain: bool = True) -> dict[str, Any]:
    """The best trial: its config as ``best.yaml``, the plots, and (``retrain``) a fresh run of it
    reported once on test with the baselines."""
    study = _study(plan)
    folder = Path(plan.folder)
    finished = [t for t in study.trials if t.value is not None]
    if not finished:
        raise RuntimeError(f"{folder}: no trial finished within the budget; give more time or fewer steps per trial")
    best = study.best_trial
    config = configured(plan.data, best.params)
    config.train.progress = True
    dump_yaml(to_dict(config), folder / "best.yaml")
    result: dict[str, Any] = {"metric": plan.metric, "best_value": best.value, "best_params": best.params,
                              "trials": len(study.trials), "finished": len(finished),
                              "best_config": str(folder / "best.yaml"), "plots": _plots(study, folder)}
    if retrain:
        with RunLock(folder):  # one process retrains, even when several ran the search
            run_dir, fitted = run.train(config, folder / "best", overwrite=True)
        result.update(run_dir=str(run_dir), report=fitted.report, last_eval=fitted.last_eval)
    write_json(folder / "result.json", {k: v for k, v in result.items() if k != "report"})
    return result


def _plots(study: Any, folder: Path) -> list[str]:
    """Optuna's optimization history and parameter importances, as PNG (skipped without matplotlib)."""
    try:
        require("matplotlib.pyplot", "the tuning plots", extra="demo")
        from optuna.visualization import matplotlib as plots
    except Exception as error:  # noqa: BLE001 - plots are a nicety: say so and go on
        print(f"rnnkit: warning: no tuning plots ({error})", file=sys.stderr)
        return []
    written = []
    for name, draw in (("optimization_history", plots.plot_optimization_history),
                       ("param_importances", plots.plot_param_importances)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
                axes = draw(study)
        except Exception as error:  # noqa: BLE001 - e.g. importances need two finished trials
            print(f"rnnkit: warning: no {name} plot ({error})", file=sys.stderr)
            continue
        path = save_figure(axes.figure, folder / f"{name}.png")
        written += [str(path)] if path else []
    return written
