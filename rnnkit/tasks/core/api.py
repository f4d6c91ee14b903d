"""``rk.fit_task``: what ``rnnkit train`` gives, from Python, on files or on data in memory.

    import rnnkit as rk
    result = rk.fit_task({"task": "classify"}, data=(sequences, labels))   # arrays in memory
    result = rk.fit_task("sentiment-polarity", data=(texts, labels))      # a preset, your texts
    result = rk.fit_task({"task": "forecast"}, data=series)               # a pandas Series or DataFrame
    result = rk.fit_task("my-config.yaml")                                # the config's own data
    result.metrics, result.table, result.data_report, result.baselines_frame()

Data in memory is written into the run folder first (``series.csv``, ``sequences.npz``,
``texts.csv``) and named in its ``config.yaml``, so the run resumes, evaluates and predicts like
any other. A path (``data="file.csv"``) is the config's ``data.path``.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.config import apply_overrides, load_source
from rnnkit.data.sequences import SequenceSet, save_npz
from rnnkit.data.timeseries import as_frame, write_frame_csv
from rnnkit.extras import require
from rnnkit.files import atomic_open
from rnnkit.tasks.core import registry, run
from rnnkit.tasks.core.baselines import MODEL, render
from rnnkit.training import FitResult, new_run_folder


@dataclass
class TaskResult:
    """A trained run: where it is, its test metrics (read once), the baselines beside them, the
    data report, and the training result."""

    run_dir: Path
    metrics: dict[str, float]
    baselines: dict[str, Any] | None
    data_report: list[str]
    fit: FitResult
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def table(self) -> str:
        """The model and its baselines as a markdown table (as ``rnnkit train`` prints it)."""
        return render(self.metrics, self.baselines, self.fit.seconds) if self.baselines else ""

    def baselines_frame(self) -> Any:
        """The same table as a pandas DataFrame: one row per method (the model first), a column per
        metric and ``seconds``."""
        pd = require("pandas", "the baselines as a data frame")
        rows = [{"method": MODEL, **self.metrics, "seconds": self.fit.seconds}]
        if self.baselines:
            rows += [{"method": name, **scores, "seconds": self.baselines["seconds"].get(name)}
                     for name, scores in self.baselines["metrics"].items()]
        return pd.DataFrame(rows).set_index("method")


def _series(data: Any, folder: Path) -> dict[str, Any]:
    path = write_frame_csv(as_frame(data), folder / "series.csv")
    return {"name": None, "path": str(path), "time_column": "time"}


def _sequences(data: Any, folder: Path) -> dict[str, Any]:
    if not (isinstance(data, tuple) and len(data) == 2):
        raise TypeError("data: expected (sequences, labels) for classification: sequences an (N, T, C) array or a "
                        f"list of (T_i, C) arrays, labels N of anything; got {type(data).__name__}")
    sequences, labels = data
    arrays = [np.asarray(s, dtype=np.float32) for s in sequences]
    arrays = [a[:, None] if a.ndim == 1 else a for a in arrays]  # one channel given as (T_i,)
    if len(arrays) != len(labels):
        raise ValueError(f"data: {len(arrays)} sequences but {len(labels)} labels")
    path = save_npz(SequenceSet(arrays, np.asarray([str(label) for label in labels])), folder / "sequences.npz")
    return {"name": None, "path": str(path)}


def _texts(data: Any, folder: Path) -> dict[str, Any]:
    pd = require("pandas", "training on texts in memory")
    if isinstance(data, pd.DataFrame):
        if not {"text", "label"} <= set(data.columns):
            raise ValueError(f"data: expected the columns 'text' and 'label', got {list(data.columns)}")
        texts, labels = data["text"].tolist(), data["label"].tolist()
    elif isinstance(data, tuple) and len(data) == 2:
        texts, labels = list(data[0]), list(data[1])
    else:
        raise TypeError(f"data: expected (texts, labels) or a DataFrame with text and label columns, got "
                        f"{type(data).__name__}")
    if len(texts) != len(labels) or not all(isinstance(t, str) for t in texts):
        raise ValueError(f"data: expected as many texts (strings) as labels, got {len(texts)} and {len(labels)}")
    path = folder / "texts.csv"
    with atomic_open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows((text, str(label)) for text, label in zip(texts, labels))
    return {"name": None, "path": str(path)}


# task -> writes data held in memory into the run folder, returns the data config that names it
IN_MEMORY: dict[str, Callable[[Any, Path], dict[str, Any]]] = {
    "forecast": _series, "classify": _sequences, "sentiment": _texts,
}


def fit_task(config: str | Path | dict[str, Any], data: Any = None, run_dir: str | Path | None = None,
             overrides: Sequence[str] = (), baselines: bool = True, overwrite: bool = False) -> TaskResult:
    """Train the task of ``config`` (a preset name, a YAML file, or its data as a dict with at
    least ``task``) on ``data`` and report it once on test with the baselines beside it.

    ``data``: ``None`` (the config's own), a path (the config's ``data.path``), or data in memory
    (:data:`IN_MEMORY`: a pandas Series/DataFrame to forecast, ``(sequences, labels)`` to
    classify, ``(texts, labels)`` or a DataFrame for sentiment). ``overrides``: ``"a.b=value"``
    strings, as ``--set``.
    """
    source = dict(config) if isinstance(config, dict) else load_source(config)
    task = source.get("task")
    entry = registry.get(task)
    if overrides:
        source = apply_overrides(entry.config, source, list(overrides))
    folder = Path(run_dir) if run_dir is not None else new_run_folder("runs", str(task))
    setup, scratch = None, Path()
    if isinstance(data, (str, Path)):
        source["data"] = {**source.get("data", {}), "name": None, "path": str(Path(data).resolve())}
    elif data is not None:
        if task not in IN_MEMORY:
            raise ValueError(f"data: task {task!r} takes a path (its data.path), not data in memory; in memory: "
                             f"{sorted(IN_MEMORY)}")
        folder.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{folder.name}.incoming-", dir=folder.parent))
        try:
            written = IN_MEMORY[task](data, scratch)  # written and checked before the folder is claimed
        except BaseException:
            shutil.rmtree(scratch)
            raise
        source["data"] = {**source.get("data", {}), **{k: str(folder.resolve() / Path(v).name) if k == "path" else v
                                                       for k, v in written.items()}}

        def setup(held: Path) -> None:  # once the folder is held (a run there refused or moved aside): move it in
            for item in scratch.iterdir():
                item.replace(held / item.name)
            scratch.rmdir()

    try:
        typed = run.resolve_config(source)
        run_dir_, fit = run.train(typed, folder, overwrite=overwrite, setup=setup, baselines=baselines)
    finally:  # refused before the folder was held (it holds a run, a bad config): the data written for it goes
        if setup is not None and scratch.exists():
            shutil.rmtree(scratch)
    report = fit.report or {}
    return TaskResult(run_dir_, report.get("metrics", {}), report.get("baselines"), report.get("data_report", []),
                      fit, report)
