"""What a run reports: a progress bar, CSV files, TensorBoard when installed, a PNG of the curves.

``train.csv``: step, loss, lr, grad_norm, seconds (one row every ``log_every`` steps).
``eval.csv``: step and every evaluation metric. Both are appended as the run goes, and cut
back to the checkpoint's step when a killed run resumes, so nothing is counted twice.
"""

from __future__ import annotations

import csv
import io
import sys
import warnings
from pathlib import Path
from typing import Any

from rnnkit.extras import MissingDependency, require
from rnnkit.files import InputError, atomic_open, read_text


def _rows(path: Path, text: str | None = None) -> list[list[str]]:
    """The rows of one of the run's own CSV logs; a damaged log is an error naming it and the line."""
    text = read_text(path, "a training log (CSV)") if text is None else text
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return list(reader)
    except csv.Error as error:
        raise InputError(f"{path}: line {reader.line_num}: damaged ({error}); delete the file to start its log "
                         f"afresh") from None


def _truncate_csv(path: Path, last_step: int) -> None:
    """Keep the header and the rows up to ``last_step`` (the checkpoint a run resumes from).

    A run killed, or stopped by a full disk, while appending leaves its last row cut short:
    that row (no final newline, or too few fields) is dropped. A damaged row before it was not
    written by the run: an error naming the line.
    """
    if not path.exists():
        return
    text = read_text(path, "a training log (CSV)")
    rows = _rows(path, text)
    if not rows:
        return
    if not text.endswith("\n") or len(rows[-1]) != len(rows[0]):
        rows = rows[:-1]
    kept = [rows[0]] if rows else []
    for line, row in enumerate(rows[1:], 2):
        try:
            step = float(row[0]) if row else None
        except ValueError:
            raise InputError(f"{path}: line {line}: expected a step number first, got {row[0][:40]!r}; delete the "
                             f"file to start its log afresh") from None
        if step is not None and step <= last_step:
            kept.append(row)
    with atomic_open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(kept)


def read_csv(path: str | Path) -> list[dict[str, float]]:
    """Rows of a run's CSV as dicts of floats (empty cells skipped)."""
    rows = _rows(Path(path))
    if not rows:
        return []
    header, out = rows[0], []
    for line, row in enumerate(rows[1:], 2):
        try:
            out.append({k: float(v) for k, v in zip(header, row) if v != ""})
        except ValueError:
            raise InputError(f"{path}: line {line}: expected numbers, got {row}"[:300]) from None
    return out


def write_line(text: str) -> None:
    """Print a line to stderr; while progress bars are open (a tour's, a run's), between them rather
    than through them."""
    from tqdm import tqdm

    if getattr(tqdm, "_instances", ()):
        tqdm.write(text, file=sys.stderr)
    else:
        print(text, file=sys.stderr, flush=True)


class RunLogger:
    """Progress bar, CSVs and TensorBoard for one process (pass ``active=False`` on non-main ranks)."""

    def __init__(self, run_dir: Path | None, total_steps: int, start_step: int, progress: bool, active: bool = True) -> None:
        self.run_dir = run_dir if active else None
        self.eval_fields: list[str] | None = None
        self.bar = None
        self.tensorboard = None
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            for name in ("train.csv", "eval.csv"):
                _truncate_csv(self.run_dir / name, start_step)
            try:  # optional: only when the tensorboard package is installed
                from torch.utils.tensorboard import SummaryWriter

                self.tensorboard = SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=start_step + 1)
            except ImportError:
                self.tensorboard = None
        self.postfix: dict[str, str] = {}
        self.nested = False
        if progress and active:
            from tqdm import tqdm

            # Inside another bar (the tour's), this bar takes the next line, goes when done, and shows
            # the evaluations in its postfix instead of writing lines between the two bars.
            self.nested = bool(getattr(tqdm, "_instances", ()))
            self.bar = tqdm(total=total_steps, initial=start_step, unit="step", dynamic_ncols=True,
                            file=sys.stderr, mininterval=0.5, leave=not self.nested)

    def _append(self, name: str, fields: list[str], row: dict[str, Any]) -> None:
        path = self.run_dir / name
        new = not path.exists() or path.stat().st_size == 0
        with open(path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)

    def train_row(self, step: int, loss: float, lr: float, grad_norm: float, seconds: float) -> None:
        row = {"step": step, "loss": loss, "lr": lr, "grad_norm": grad_norm, "seconds": round(seconds, 3)}
        if self.run_dir is not None:
            self._append("train.csv", list(row), row)
        if self.tensorboard is not None:
            for key in ("loss", "lr", "grad_norm"):
                self.tensorboard.add_scalar(f"train/{key}", row[key], step)

    def eval_row(self, step: int, metrics: dict[str, float]) -> None:
        row = {"step": step, **metrics}
        if self.run_dir is not None:
            path = self.run_dir / "eval.csv"
            if self.eval_fields is None:
                self.eval_fields = _header(path) or list(row)
            self._append("eval.csv", self.eval_fields, row)
        if self.tensorboard is not None:
            for key, value in metrics.items():
                self.tensorboard.add_scalar(f"eval/{key}", value, step)
        if self.bar is not None and self.nested:
            self.postfix.update({k: f"{v:.4g}" for k, v in list(metrics.items())[:2]})
            self.bar.set_postfix(self.postfix, refresh=True)
        elif self.bar is not None:
            self.bar.write(f"step {step:>7d}  " + "  ".join(f"{k} {v:.4g}" for k, v in metrics.items()))

    def progress(self, steps: int, loss: float, lr: float) -> None:
        if self.bar is not None:
            self.bar.update(steps)
            self.postfix.update(loss=f"{loss:.4g}", lr=f"{lr:.2e}")
            self.bar.set_postfix(self.postfix, refresh=False)

    def close(self) -> Path | None:
        if self.bar is not None:
            self.bar.close()
        if self.tensorboard is not None:
            self.tensorboard.close()
        if self.run_dir is None:
            return None
        return plot_curves(self.run_dir)


def _header(path: Path) -> list[str] | None:
    if not path.exists() or path.stat().st_size == 0:
        return None
    with open(path, newline="") as handle:
        return next(csv.reader(handle), None)


def plot_curves(run_dir: Path) -> Path | None:
    """``curves.png``: training loss (and every evaluation metric) against the step."""
    train_path = run_dir / "train.csv"
    if not train_path.exists():
        return None
    try:
        matplotlib = require("matplotlib", "curves.png")
    except MissingDependency as error:
        warnings.warn(f"{error}; skipping the plot", stacklevel=2)
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = read_csv(train_path)
    evals = read_csv(run_dir / "eval.csv") if (run_dir / "eval.csv").exists() else []
    metrics = sorted({k for row in evals for k in row if k != "step"})
    figure, axes = plt.subplots(1, 1 + len(metrics), figsize=(5 * (1 + len(metrics)), 3.6), squeeze=False)
    axes = axes[0]
    axes[0].plot([r["step"] for r in train], [r["loss"] for r in train], linewidth=1)
    axes[0].set_title("training loss")
    axes[0].set_xlabel("step")
    if all(r["loss"] > 0 for r in train):
        axes[0].set_yscale("log")
    for axis, name in zip(axes[1:], metrics):
        points = [(r["step"], r[name]) for r in evals if name in r]
        axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3)
        axis.set_title(f"eval {name}")
        axis.set_xlabel("step")
    figure.tight_layout()
    path = run_dir / "curves.png"
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=100)
    plt.close(figure)
    return path
