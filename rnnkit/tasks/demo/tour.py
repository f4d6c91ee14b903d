"""The tour (``rnnkit demo``): one small model per family of tasks, on real data, beside its baseline.

Every part is a preset of the package trained for a few minutes' worth of steps at most, by the
same :func:`rnnkit.tasks.core.run.train` as ``rnnkit train`` (so the part's run folder holds
what any run holds: config, logs, checkpoint, plots, report), and its report's test metric is
put beside the best of its baselines on the same test part. A part that fails (its data set
cannot be fetched, say) is recorded with its error and the tour goes on.

Library use::

    from rnnkit.tasks.demo import run_tour
    tour = run_tour("runs/demo", only=["forecast", "gradients"])
    print(tour.page)  # runs/demo/index.html
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnkit.config import load_source
from rnnkit.tasks.core import run
from rnnkit.tasks.core.baselines import better
from rnnkit.tasks.core.plotting import pyplot, save_figure
from rnnkit.tasks.demo.page import write_page
from rnnkit.training.logger import read_csv


@dataclass(frozen=True)
class Model:
    """One training run of a part: a label and the overrides of the part's preset."""

    label: str
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Part:
    """One stop of the tour.

    ``models``: the runs (the first is the part's model; any other is compared with it like a
    baseline, as the tanh RNN is with the LSTM). ``quick``: the overrides added by ``--quick``.
    ``metric``: the headline test metric. ``files``: what the page shows from the first run's
    folder (PNG, GIF, text), those that exist.
    """

    name: str
    title: str
    what: str
    preset: str
    models: tuple[Model, ...]
    metric: str
    quick: tuple[str, ...] = ()
    files: tuple[str, ...] = ("curves.png",)
    baselines: bool = True

    def command(self, model: Model, quick: bool) -> str:
        sets = [*model.overrides, *(self.quick if quick else ())]
        return " ".join(["rnnkit train", self.preset, *(f"--set {s}" for s in sets)])


# A run of each part must fit the tour's budget (about 5 minutes on 2 CPU cores for all of them): the
# presets' own budgets are cut here, so these numbers show what a minute of training gives, not what
# the preset gives (the application pages' tables in the docs do).
PARTS: tuple[Part, ...] = (
    Part("forecast", "Forecasting: monthly airline passengers",
         "A year ahead from three years of history (144 months, 1949-1960), an LSTM correcting the seasonal "
         "naive forecast on the log scale, scored on 9 rolling origins in the last 3 years.",
         "forecast-airline", (Model("LSTM", ("train.steps=600",)),), "test_mase",
         quick=("train.steps=5", "data.test_size=12", "data.stride=12"),
         files=("backtest.png", "forecast.png")),
    Part("anomaly", "Anomaly detection: an ECG (MIT-BIH record)",
         "An LSTM predicts each next sample of 7,500 ECG samples; its smoothed prediction error is the anomaly "
         "score. The threshold is set on validation without labels; the test part holds a labelled stretch of "
         "abnormal beats.",
         "anomaly-mitdb", (Model("LSTM", ("train.steps=300",)),), "test_roc_auc",
         quick=("train.steps=5",), files=("anomalies.png",)),
    Part("classify", "Sequence classification: smartwatch motions",
         "BasicMotions (UEA): 6-channel accelerometer and gyroscope, 100 steps, standing / walking / running / "
         "badminton; a convolutional front end and a bidirectional GRU.",
         "classify-basicmotions", (Model("biGRU", ("train.steps=150",)),), "test_accuracy",
         quick=("train.steps=5",), files=("confusion.png",)),
    Part("language", "Character language model: Shakespeare",
         "A one-layer LSTM of 256 units reads Shakespeare's works 100 characters at a time and predicts the "
         "next character; then it writes. Bits per character on the held-out test block.",
         "lm-shakespeare",
         (Model("LSTM", ("train.steps=400", "model.recurrent.num_layers=1", "train.eval_every=100",
                         "data.eval_tokens=20000")),), "test_bpc",
         quick=("train.steps=5", "model.recurrent.hidden_size=32", "sample_length=80"),
         files=("sample.txt", "curves.png")),
    Part("sentiment", "Sentiment: movie-review sentences",
         "Pang and Lee's 4,000 sentences of movie-review polarity; a 2-layer LSTM with attention pooling over "
         "fine-tuned GloVe vectors (6B, 50 dimensions), against TF-IDF + logistic regression.",
         "sentiment-polarity-glove", (Model("LSTM + GloVe", ("train.steps=300",)),), "test_accuracy",
         quick=("train.steps=5",)),
    Part("gradients", "Vanishing gradients: the adding problem at T = 100",
         "Two marked numbers among 100 must be remembered and added. The gated LSTM carries them across the "
         "sequence; the tanh RNN's gradient vanishes over 100 steps and it stays at the mean's error (about "
         "0.167).",
         "adding", (Model("LSTM", ("model.recurrent.cell=lstm", "train.steps=1000")),
                    Model("tanh RNN", ("model.recurrent.cell=rnn", "train.steps=1000"))), "test_mse",
         quick=("train.steps=5", "data.length=20"), files=()),
    Part("video", "Video: predicting the next frames of Moving MNIST",
         "A ConvLSTM encoder-forecaster reads 10 frames of a real MNIST digit bouncing on 48x48 and predicts "
         "the next 10 (small: 16 channels, 200 steps), against copying the last frame. After 200 steps its "
         "predictions are blurred: they beat the last frame on squared error, not on SSIM.",
         "video-prediction",
         (Model("ConvLSTM", ("data.size=48", "data.num_digits=1", "data.validation_clips=50", "data.test_clips=100",
                             "model.hidden_channels=[16,16]", "model.kernel_size=3", "train.steps=200",
                             "train.eval_every=50", "train.checkpoint_every=50", "train.optimizer.lr=0.003")),),
         "test_mse", quick=("train.steps=3", "data.validation_clips=4", "data.test_clips=4", "rollout=4"),
         files=("predictions.png", "rollout.gif")),
)


def part_names() -> list[str]:
    return [p.name for p in PARTS]


@dataclass
class ModelRun:
    label: str
    run_dir: Path
    command: str
    metrics: dict[str, float]
    seconds: float


@dataclass
class PartResult:
    """What the tour learned of one part: its runs, its baselines' test metrics, or its error."""

    part: Part
    runs: list[ModelRun] = field(default_factory=list)
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)  # what the page shows, in order
    seconds: float = 0.0
    error: str | None = None

    def line(self) -> str:
        """One line: the headline metric of the part's model beside the best comparison."""
        if self.error is not None:
            return f"{self.part.name}: failed ({self.error.splitlines()[-1]})"
        metric = self.part.metric
        name = metric.removeprefix("test_")
        mine = self.runs[0].metrics.get(metric)
        best = self.best_comparison()
        text = f"{self.part.name}: {self.runs[0].label} {name} {_number(mine)}"
        if best is not None:
            text += f" | {best[0]} {_number(best[1])}"
            wins = self.model_wins()
            text += "" if wins is None else "  (the model is better)" if wins else "  (the baseline is better)"
        return text + f"  [{self.seconds:.0f} s]"

    def model_wins(self) -> bool | None:
        """Whether the model beats the best comparison on the headline metric (None: no comparison, or a tie)."""
        mine, best = self.runs[0].metrics.get(self.part.metric) if self.runs else None, self.best_comparison()
        if mine is None or best is None or mine == best[1]:
            return None
        return mine > best[1] if (better(self.part.metric) or "lower") == "higher" else mine < best[1]

    def comparisons(self) -> dict[str, dict[str, float]]:
        """The other runs of the part and the task's baselines, by name."""
        return {**{r.label: r.metrics for r in self.runs[1:]}, **self.baselines}

    def best_comparison(self) -> tuple[str, float] | None:
        metric = self.part.metric
        scored = [(name, m[metric]) for name, m in self.comparisons().items() if metric in m]
        if not scored:
            return None
        pick = max if (better(metric) or "lower") == "higher" else min
        return pick(scored, key=lambda item: item[1])


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


@dataclass
class TourResult:
    parts: list[PartResult]
    out: Path
    quick: bool
    seconds: float
    only: list[str] | None = None  # the parts asked for (None: all)
    page: Path | None = None

    @property
    def failed(self) -> list[PartResult]:
        return [p for p in self.parts if p.error is not None]


def select(only: Sequence[str] | None) -> list[Part]:
    """The parts named in ``only`` (all when None), in the tour's order; an unknown name is an error."""
    if not only:
        return list(PARTS)
    unknown = [name for name in only if name not in part_names()]
    if unknown:
        raise ValueError(f"--only: expected part names among {part_names()}, got {unknown}")
    return [p for p in PARTS if p.name in only]


def run_part(part: Part, out: Path, quick: bool = False, seed: int = 0, progress: bool = False) -> PartResult:
    """Train ``part``'s runs under ``out/NAME[/LABEL]`` (an earlier tour's run there is moved aside)
    and collect their reports. An exception is kept in the result, not raised."""
    result = PartResult(part)
    started = time.perf_counter()
    try:
        for index, model in enumerate(part.models):
            overrides = [*model.overrides, *(part.quick if quick else ()), f"train.seed={seed}",
                         f"train.progress={'true' if progress else 'false'}"]
            config = run.resolve_config(load_source(part.preset), overrides)
            folder = out / part.name if len(part.models) == 1 else out / part.name / _slug(model.label)
            run_started = time.perf_counter()
            run_dir, fit = run.train(config, folder, overwrite=True, baselines=part.baselines and index == 0)
            report = fit.report or {}
            result.runs.append(ModelRun(model.label, run_dir, part.command(model, quick), report.get("metrics", {}),
                                        time.perf_counter() - run_started))
            if index == 0:
                result.baselines = dict(report.get("baselines", {}).get("metrics", {}))
        result.figures = [result.runs[0].run_dir / name for name in part.files
                          if (result.runs[0].run_dir / name).exists()]
        if len(part.models) > 1 and (figure := plot_validation_curves(result, out / part.name / "validation.png")):
            result.figures.append(figure)
    except Exception as error:  # noqa: BLE001 - a part's failure is reported on the page, the tour goes on
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        result.error = detail or type(error).__name__
    result.seconds = time.perf_counter() - started
    return result


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")


def plot_validation_curves(result: PartResult, path: Path) -> Path | None:
    """Every run's validation metrics against the step, one panel per metric (the runs of a part
    that compares models, such as LSTM against tanh RNN)."""
    plt = pyplot()
    if plt is None:
        return None
    curves = {r.label: read_csv(r.run_dir / "eval.csv") if (r.run_dir / "eval.csv").exists() else []
              for r in result.runs}
    metrics = sorted({k for rows in curves.values() for row in rows for k in row if k.startswith("val_")})
    if not metrics:
        return None
    figure, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 3.8), squeeze=False)
    for axis, metric in zip(axes[0], metrics):
        for label, rows in curves.items():
            points = [(row["step"], row[metric]) for row in rows if metric in row]
            axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, label=label)
        axis.set_yscale("log")
        axis.set_xlabel("training step")
        axis.set_title(f"validation {metric.removeprefix('val_')}")
        axis.legend()
    figure.tight_layout()
    return save_figure(figure, path)


def run_tour(out: str | Path = "runs/demo", only: Sequence[str] | None = None, quick: bool = False, seed: int = 0,
             progress: bool = False, on_part: Callable[[PartResult], None] | None = None) -> TourResult:
    """Run the tour's parts (``only``: some of them, by name) into ``out``, then write
    ``out/index.html``. ``progress``: a bar for the tour and one for each part's training on
    stderr; ``on_part(result)`` sees each part as it ends."""
    parts = select(only)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: list[PartResult] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(parts), unit="part", desc="tour", file=sys.stderr, dynamic_ncols=True, position=0)
    for part in parts:
        if bar is not None:
            bar.set_description(f"tour: {part.name}")
        result = run_part(part, out, quick=quick, seed=seed, progress=progress)
        results.append(result)
        if bar is not None:
            bar.update(1)
        if on_part is not None:
            on_part(result)
    if bar is not None:
        bar.set_description("tour")
        bar.close()
    tour = TourResult(results, out, quick, time.perf_counter() - started, list(only) if only else None)
    tour.page = write_page(tour, out / "index.html")
    return tour


def as_dict(tour: TourResult) -> dict[str, Any]:
    """The tour as JSON-ready data (``runs/demo/tour.json``)."""
    return {"quick": tour.quick, "seconds": round(tour.seconds, 1), "parts": [
        {"name": p.part.name, "title": p.part.title, "metric": p.part.metric, "seconds": round(p.seconds, 1),
         "error": p.error, "line": p.line(), "best_comparison": p.best_comparison() if p.runs else None,
         "model_wins": p.model_wins() if p.runs else None,
         "runs": [{"label": r.label, "run_dir": str(r.run_dir), "command": r.command, "metrics": r.metrics,
                   "seconds": round(r.seconds, 1)} for r in p.runs],
         "baselines": p.baselines} for p in tour.parts]}
