"""The quick tour: an LSTM and a tanh RNN learn the yearly sunspot cycle (1700-2008).

Each model reads the series one year at a time and predicts the next year. Training uses
random windows of the first 70% of the years; the next 10% are the validation years, on which
each evaluation during training is scored; the test is one-step-ahead prediction over the last
20%, with the state warmed up on everything before, read once after training. The yardstick is the forecast a
user gets for free: "next year = this year" (persistence).

Library use::

    from rnnkit.tasks.demo import load_sunspots, run_demo
    result = run_demo(load_sunspots(), steps=400)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

import rnnkit as rk
from rnnkit.extras import require
from rnnkit.files import read_csv_records
from rnnkit.tasks.core.plotting import pyplot, save_figure
from rnnkit.training import OptimizerConfig, RandomBatches, ScheduleConfig, StepOutput, TrainConfig, fit


def load_sunspots() -> tuple[list[float], list[float]]:
    """Yearly mean sunspot numbers 1700-2008 (309 values) from statsmodels' bundled data."""
    sm = require("statsmodels.api", "the sunspots demo", extra="demo")
    frame = sm.datasets.sunspots.load_pandas().data
    return frame["YEAR"].astype(float).tolist(), frame["SUNACTIVITY"].astype(float).tolist()


def load_csv_column(path: str | Path, column: str) -> tuple[list[float], list[float]]:
    """A user's own series: one numeric ``column`` of a CSV file, in file order."""
    fields, rows = read_csv_records(path, "a CSV file with a header row")
    if column not in fields:
        raise ValueError(f"expected a column {column!r} in {path}, got columns {fields}")
    values = []
    for row_number, row in enumerate(rows, start=2):
        try:
            value = float(row[column] or "")
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value):
            raise ValueError(f"{path}:{row_number}: expected a finite number in column {column!r}, got "
                             f"{row[column]!r}")
        values.append(value)
    if len(values) < 20:
        raise ValueError(f"expected at least 20 values in {path}, got {len(values)}")
    return [float(i) for i in range(len(values))], values


class NextStepModel(nn.Module):
    """A recurrent layer and a linear read-out: ``(B, T, 1) -> (B, T, 1)`` next-value predictions."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.rnn = layer
        self.head = nn.Linear(layer.hidden_size, 1)

    def forward(self, x: Tensor) -> Tensor:
        output, _ = self.rnn(x)
        return self.head(output)


@dataclass
class ModelResult:
    name: str
    train_mse: float
    test_rmse: float
    seconds: float
    predictions: list[float] = field(repr=False)
    losses: list[float] = field(repr=False)


@dataclass
class DemoResult:
    years: list[float]
    values: list[float]
    split: int
    persistence_rmse: float
    models: list[ModelResult]


def _windows(series: Tensor, length: int, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    starts = torch.randint(0, series.numel() - length - 1, (batch,), generator=generator)
    index = starts[:, None] + torch.arange(length)[None, :]  # (B, T)
    return series[index].unsqueeze(-1), series[index + 1].unsqueeze(-1)


def train_one(
    name: str,
    layer: nn.Module,
    scaled: Tensor,
    split: int,
    steps: int,
    seed: int,
    progress: bool,
    run_dir: Path | None = None,
) -> ModelResult:
    """Train one next-step model with :func:`rnnkit.training.fit` on random 40-year windows of the
    training years; evaluations score the validation years ``[validation_start, split)``."""
    torch.manual_seed(seed)
    model = NextStepModel(layer)
    validation_start = int(split * 7 / 8)  # 70% / 10% of the whole
    train = scaled[:validation_start]
    config = TrainConfig(
        steps=steps, batch_size=32, log_every=10, eval_every=max(1, steps // 4), checkpoint_every=steps,
        clip_grad_norm=1.0, seed=seed, device="cpu", progress=progress,
        optimizer=OptimizerConfig(name="adam", lr=1e-2), schedule=ScheduleConfig(name="cosine"),
    )

    def step_fn(m: nn.Module, batch: tuple[Tensor, Tensor], carry: object) -> StepOutput:
        x, y = batch
        return StepOutput(nn.functional.mse_loss(m(x), y))

    def evaluate(m: nn.Module) -> dict[str, float]:  # the years before the test part only
        predictions = m(scaled[: split - 1].view(1, -1, 1)).view(-1)  # predictions[i] is for year i + 1
        target = scaled[validation_start:split]
        return {"val_mse_scaled": float(nn.functional.mse_loss(predictions[validation_start - 1 :], target))}

    batches = RandomBatches(lambda g: _windows(train, 40, 32, g), seed=seed)
    result = fit(model, step_fn, batches, config, run_dir=run_dir, evaluate=evaluate)
    model.eval()
    with torch.no_grad():  # one pass over the whole series: the state is warm when the test starts
        predictions = model(scaled[:-1].view(1, -1, 1)).view(-1)
    last = result.losses[-20:]
    return ModelResult(name, sum(last) / len(last), 0.0, result.seconds, predictions.tolist(), result.losses)


def run_demo(
    series: tuple[list[float], list[float]],
    steps: int = 400,
    hidden_size: int = 32,
    seed: int = 0,
    progress: bool = False,
    run_dir: str | Path | None = None,
) -> DemoResult:
    """Train an LSTM and a tanh RNN on ``series`` (times, values) and score them on its last 20%.

    With ``run_dir``, each model's run (CSV logs, ``curves.png``, checkpoint) goes to
    ``run_dir/lstm`` and ``run_dir/rnn``.
    """
    years, values = series
    data = torch.tensor(values, dtype=torch.float32)
    split = int(0.8 * len(values))
    mean, std = data[:split].mean(), data[:split].std()
    scaled = (data - mean) / std
    models = []
    for name, layer in (("LSTM", rk.LSTM(1, hidden_size, batch_first=True)),
                        ("RNN", rk.RNN(1, hidden_size, batch_first=True))):
        model_dir = Path(run_dir) / name.lower() if run_dir is not None else None
        if progress:
            print(f"{name}:", flush=True)
        result = train_one(name, layer, scaled, split, steps, seed, progress, model_dir)
        predicted = torch.tensor(result.predictions) * std + mean  # predicted[i] is for year i + 1
        errors = predicted[split - 1 :] - data[split:]
        result.test_rmse = math.sqrt(float((errors**2).mean()))
        result.predictions = predicted.tolist()
        models.append(result)
    persistence = data[split - 1 : -1] - data[split:]
    return DemoResult(years, values, split, math.sqrt(float((persistence**2).mean())), models)


def plot_demo(result: DemoResult, path: str | Path) -> Path | None:
    """Test-period actuals and each model's one-step-ahead predictions, as a PNG."""
    plt = pyplot()
    if plt is None:
        return None
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7))
    s = result.split
    top.plot(result.years, result.values, color="black", linewidth=1, label="observed")
    top.axvline(result.years[s], color="grey", linestyle="--", linewidth=1)
    top.set_title("Yearly sunspot numbers; the dashed line starts the test period")
    bottom.plot(result.years[s:], result.values[s:], color="black", linewidth=2, label="observed")
    for model in result.models:
        bottom.plot(result.years[s:], model.predictions[s - 1 :], label=f"{model.name} (RMSE {model.test_rmse:.1f})")
    bottom.plot(result.years[s:], result.values[s - 1 : -1], linestyle=":", label=f"persistence (RMSE {result.persistence_rmse:.1f})")
    bottom.set_title("One-step-ahead predictions on the test years")
    bottom.legend()
    return save_figure(figure, path)


def summary(result: DemoResult) -> str:
    lines = [
        f"Test: one-step-ahead over {len(result.values) - result.split} years "
        f"({result.years[result.split]:.0f}-{result.years[-1]:.0f}), RMSE in the series' units",
        f"  {'model':12s} {'train MSE (scaled)':>18s} {'test RMSE':>10s} {'train time':>11s}",
    ]
    for m in result.models:
        lines.append(f"  {m.name:12s} {m.train_mse:18.4f} {m.test_rmse:10.2f} {m.seconds:10.1f}s")
    lines.append(f"  {'persistence':12s} {'':>18s} {result.persistence_rmse:10.2f}")
    lines.append("")
    lines.append("Last ten years, observed vs predicted:")
    lines.append("  year  observed " + " ".join(f"{m.name:>7s}" for m in result.models))
    for i in range(len(result.values) - 10, len(result.values)):
        preds = " ".join(f"{m.predictions[i - 1]:7.1f}" for m in result.models)
        lines.append(f"  {result.years[i]:.0f} {result.values[i]:9.1f} {preds}")
    return "\n".join(lines)
