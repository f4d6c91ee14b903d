"""What the bad-input cases run against: a small trained run of each task that has a command
reading it, the tiny configs that trained them (as YAML files, for the cases that train), and
a few good input files. Built once (a few seconds) into a folder; :func:`build` returns the
placeholders that cases name (``{forecast}``, ``{sentiment_yaml}``, ``{wav}``, ...)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from tests.tiny import CONFIGS

TRAIN = {"steps": 6, "batch_size": 4, "eval_every": 3, "checkpoint_every": 2, "log_every": 1, "progress": False,
         "device": "cpu"}
RUNS = ("adding", "forecast", "language", "music", "sentiment", "translate", "speech", "classify")


def config(task: str, folder: Path) -> dict:
    """The tiny config of ``task`` (its data generated into ``folder``) with a short training."""
    return {"task": task, **CONFIGS[task](folder), "train": dict(TRAIN)}


def build(folder: Path) -> dict[str, str]:
    """Train a run of each of :data:`RUNS` under ``folder``; return the placeholders."""
    from rnnkit.tasks.core import run

    places: dict[str, str] = {}
    for task in RUNS:
        home = folder / task
        home.mkdir(parents=True)
        data = config(task, home)
        (home / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        run_dir, _ = run.train(run.resolve_config(data), home / "run")
        places[task] = str(run_dir)
        places[f"{task}_yaml"] = str(home / "config.yaml")
    places["series_csv"] = str(folder / "forecast" / "series.csv")  # 120 rows of y, no time column
    monthly = folder / "monthly"  # a forecaster of a monthly series, for newer data on another grid
    monthly.mkdir()
    data = config("forecast", monthly)
    months = pd.date_range("2000-01-01", periods=120, freq="MS")
    t = np.arange(120)  # a yearly cycle on a slow trend (an exact cycle leaves MASE undefined at season 12)
    pd.DataFrame({"month": months.strftime("%Y-%m-%d"), "y": 10 + np.sin(2 * np.pi * t / 12) + 0.01 * t}).to_csv(
        monthly / "months.csv", index=False)
    data["data"] = {**data["data"], "path": str(monthly / "months.csv"), "time_column": "month"}
    places["monthly"] = str(run.train(run.resolve_config(data), monthly / "run")[0])
    t = np.arange(130)
    pd.DataFrame({"y": 10 + np.sin(2 * np.pi * t / 12)}).to_csv(folder / "newer.csv", index=False)
    places["newer_csv"] = str(folder / "newer.csv")
    places["wav"] = str(folder / "speech" / "s0u0.wav")
    places["midi"] = str(folder / "music" / "midi" / "p0.mid")
    places["npz"] = str(folder / "classify" / "train.npz")
    (folder / "texts.txt").write_text("a good film\nbad awful\n")
    places["texts"] = str(folder / "texts.txt")
    return places
