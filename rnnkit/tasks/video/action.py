"""Action recognition from frames: classify a clip by what moves in it (Moving MNIST motion
patterns, or your labelled clips).

Model (``model.kind``): ``lrcn`` (Donahue et al. 2015), a small CNN on every frame and an LSTM
or GRU over the frame features, pooled over the valid frames; or ``convlstm``, a ConvLSTM over
the frames' patches whose state at the last valid frame is averaged over space. Clips of
different lengths share a batch with their lengths; padded frames are never read.

The parts. Moving MNIST motions: one digit (``data.num_digits``) moves by one of seven patterns
(:data:`rnnkit.data.video.MOTIONS`: horizontal, vertical, diagonal, circular, zigzag, static,
speeding up); the digits are split between the parts, training clips are drawn on the fly
(a uniform pattern each, seeded), validation and test clips are fixed sets with the patterns
in equal numbers, drawn once and cached. Your clips: a folder of video files or folders of
numbered frames with a CSV of ``clip,label`` (``data.annotations``, default
``PATH/labels.csv``), split whole by a seeded shuffle. Evaluations read validation only (loss,
accuracy, macro F1; early stopping and the kept weights are chosen there); the test clips are
sealed and read once, by the report: accuracy, macro F1, the confusion matrix (text,
``confusion.png``) and ``predictions.csv``.

Baselines, trained with the same loop and budget on the same parts, the weights chosen on
validation: the single-frame CNN (the middle frame: it sees no motion) and the CNN over frame
differences averaged over time (motion without order).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data import video
from rnnkit.data.text import cache_dir
from rnnkit.files import read_text
from rnnkit.models.video import ActionRecognizer
from rnnkit.tasks.core import run
from rnnkit.tasks.core.baselines import Candidates
from rnnkit.tasks.core.export import ExportSpec, example_generator, sequence_spec
from rnnkit.tasks.core.classification import evaluate_parts, format_confusion, predict_logits, test_report
from rnnkit.tasks.core.parts import Sealed, Split, describe
from rnnkit.tasks.core.registry import Task
from rnnkit.tasks.video.config import ActionDataConfig, VideoActionConfig
from rnnkit.training import RandomBatches, StepOutput, fit, trained_weights


@dataclass
class ClipPart:
    """Clips ``(N, T, C, H, W)`` zero-padded, their lengths ``(N,)`` and class indices ``(N,)``;
    ``batch(index) -> (clips (T, B, C, H, W), lengths (B,), targets (B,))``."""

    clips: np.ndarray
    lengths: np.ndarray
    targets: np.ndarray

    def batch(self, index: np.ndarray) -> tuple[Tensor, Tensor, Tensor]:
        T = int(self.lengths[index].max())
        x = torch.from_numpy(self.clips[index, :T]).transpose(0, 1)
        return x, torch.from_numpy(self.lengths[index]), torch.from_numpy(self.targets[index])


@dataclass
class ActionParts:
    draw: Any  # (count, rng) -> ClipPart: training clips
    validation: ClipPart
    test: Sealed[ClipPart]
    classes: list[str]
    record: dict[str, Any]
    notes: list[str]


def motion_parts(data: ActionDataConfig) -> ActionParts:
    digits, labels = video.load_mnist_digits()
    index = video.split_digits(labels, data.validation_fraction, data.test_fraction, data.seed)

    def source(part: str) -> video.MovingMNIST:
        return video.MovingMNIST(digits[index[part]], labels[index[part]], data.frames, data.size, data.num_digits)

    def fixed(part: str, count: int, seed: int) -> ClipPart:
        name = f"motions-{part}-n{count}-t{data.frames}-s{data.size}-d{data.num_digits}-seed{data.seed}.npz"
        clips, motions = video.fixed_motion_clips(source(part), count, seed, cache_dir() / "video" / name)
        return ClipPart(clips, np.full(count, data.frames, dtype=np.int64), motions.astype(np.int64))

    train = source("train")

    def draw(count: int, rng: np.random.Generator) -> ClipPart:
        motions = rng.integers(0, len(video.MOTIONS), count)
        clips = np.stack([train.sample(1, rng, video.MOTIONS[m])[0][0] for m in motions])
        return ClipPart(clips, np.full(count, data.frames, dtype=np.int64), motions.astype(np.int64))

    record = {"digits": {part: describe(index[part].tolist()) for part in ("train", "val", "test")},
              "clips": {"train": "drawn on the fly", "validation": data.validation_clips, "test": data.test_clips}}
    notes = [(f"Moving MNIST motions: {len(video.MOTIONS)} patterns ({', '.join(video.MOTIONS)}), {data.num_digits} "
              f"digit(s) on {data.size}x{data.size}, {data.frames} frames; digits train {len(index['train'])}, "
              f"validation {len(index['val'])}, test {len(index['test'])} (no digit in two parts)")]
    return ActionParts(draw, fixed("val", data.validation_clips, data.seed + 1),
                       Sealed(lambda: fixed("test", data.test_clips, data.seed + 2)), list(video.MOTIONS), record,
                       notes)


def labelled_clip_parts(data: ActionDataConfig) -> ActionParts:
    annotations = data.annotations or str(Path(data.path) / "labels.csv")
    clips = video.load_clips(data.path, data.size, data.channels, data.max_frames, annotations, data.label_column)
    classes = sorted(set(clips.labels))
    if len(classes) < 2:
        raise ValueError(f"{annotations}: expected at least 2 classes in column {data.label_column!r}, got {classes}")
    try:
        rows = video.split_clips(np.arange(len(clips)), data.validation_fraction, data.test_fraction, data.seed)
    except ValueError as error:
        raise ValueError(f"{data.path}: {error}") from None

    def part(which: np.ndarray) -> ClipPart:
        subset = clips.subset(which.tolist())
        padded, lengths = subset.padded()
        return ClipPart(padded, lengths, np.array([classes.index(label) for label in subset.labels], dtype=np.int64))

    train = part(rows["train"])

    def draw(count: int, rng: np.random.Generator) -> ClipPart:
        chosen = rng.integers(0, len(train.targets), count)
        return ClipPart(train.clips[chosen], train.lengths[chosen], train.targets[chosen])

    record = {name: describe([clips.names[i] for i in rows[key]]) for name, key in
              (("train", "train"), ("validation", "val"), ("test", "test"))}
    counts = {c: clips.labels.count(c) for c in classes}
    notes = [f"clips: {len(clips)} in {data.path}, lengths {int(clips.lengths.min())}-{int(clips.lengths.max())} frames, "
             f"{data.size}x{data.size}; classes ({len(classes)}): " + ", ".join(f"{c} {n}" for c, n in counts.items())]
    return ActionParts(draw, part(rows["val"]), Sealed(lambda: part(rows["test"])), classes, record, notes)


@dataclass
class VideoActionJob:
    model: nn.Module
    step_fn: Any
    batches: RandomBatches
    evaluate: Any
    split: Split
    classes: list[str]
    validation: ClipPart
    config: VideoActionConfig
    draw: Any = None  # (count, rng) -> ClipPart: what the baselines train on
    data_notes: list[str] = field(default_factory=list)

    @property
    def artifacts(self) -> dict[str, bytes]:
        """Written beside the weights before training and bound to them: the class names."""
        return {"classes.json": json.dumps(self.classes).encode()}


def training_pieces(model: nn.Module, draw: Any, validation: ClipPart, classes: list[str], batch_size: int,
                    seed: int) -> tuple[Any, RandomBatches, Any]:
    """The step function, the batches and the validation evaluation of one model."""

    def make(g: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=g)))
        part = draw(batch_size, rng)
        return part.batch(np.arange(batch_size))

    def step_fn(m: nn.Module, batch: tuple[Tensor, Tensor, Tensor], carry: Any) -> StepOutput:
        x, lengths, y = batch
        return StepOutput(F.cross_entropy(m(x, lengths), y))

    def evaluate(m: nn.Module) -> dict[str, float]:
        return evaluate_parts(m, {"val": validation}, len(classes))

    return step_fn, RandomBatches(make, seed=seed), evaluate


def build(config: VideoActionConfig, rank: int = 0) -> VideoActionJob:
    data = config.data
    parts = motion_parts(data) if data.name == "moving_mnist_motions" else labelled_clip_parts(data)
    channels = parts.validation.clips.shape[2]
    model = ActionRecognizer(channels, len(parts.classes), config.model)
    step_fn, batches, evaluate = training_pieces(model, parts.draw, parts.validation, parts.classes,
                                                 config.train.batch_size, config.train.seed + 1000 * rank)
    split = Split({**parts.record, "classes": parts.classes}, parts.test)
    notes = [*parts.notes, f"model: {config.model.kind}"]
    return VideoActionJob(model, step_fn, batches, evaluate, split, parts.classes, parts.validation, config,
                          parts.draw, notes)


def report(job: VideoActionJob, run_dir: Path) -> dict[str, Any]:
    """Test accuracy, macro F1, the confusion matrix and predictions.csv (the test clips' one read)."""
    test = job.split.test.open()
    result = test_report(job.model, test, job.classes, run_dir, f"{job.config.model.kind} (test clips)")
    result["text"] = format_confusion(result.pop("confusion"), job.classes)
    result.pop("classes", None)
    return result


def baselines(job: VideoActionJob) -> Candidates:
    """The single-frame CNN and the frame-difference CNN, each trained like the model (same loop,
    budget and batches; weights chosen on validation), scored on the test clips."""

    def trained(kind: str) -> Any:
        def score() -> dict[str, float]:
            config = job.config
            model = ActionRecognizer(job.validation.clips.shape[2], len(job.classes),
                                     dataclasses.replace(config.model, kind=kind))
            step_fn, batches, evaluate = training_pieces(model, job.draw, job.validation, job.classes,
                                                         config.train.batch_size, config.train.seed)
            train = dataclasses.replace(config.train, progress=False)
            with tempfile.TemporaryDirectory() as folder:
                fit(model, step_fn, batches, train, run_dir=folder, evaluate=evaluate)
            scores = evaluate_parts(model, {"test": job.split.test.open()}, len(job.classes))
            return {name: scores[name] for name in ("test_accuracy", "test_macro_f1")}
        return score

    return Candidates({"single-frame CNN": trained("single"), "frame-difference CNN": trained("difference")})


def classify_clips(run_dir: str | Path, paths: list[str | Path], allow_unfinished: bool = False
                   ) -> tuple[list[str], np.ndarray]:
    """``rnnkit predict`` for an action run: the class names and the probabilities ``(N, K)`` of
    the clips at ``paths`` (video files or folders of numbered frames), read as the run read its
    clips (size, channels, at most ``max_frames`` sampled uniformly)."""
    if not paths:
        raise ValueError("expected at least one clip (--clip PATH: a video file or a folder of numbered frames)")
    config = run.load_finished_run(run_dir, "video_action", "video action recognition", ("classes.json",),
                                   allow_unfinished)
    weights = trained_weights(run_dir)
    classes = json.loads(read_text(Path(run_dir) / "classes.json", "class names (JSON)"))
    data = config.data
    frames = [video.read_clip(Path(p), (data.size, data.size), data.channels, data.max_frames) for p in paths]
    padded, lengths = video.Clips(frames, [Path(p).stem for p in paths]).padded()
    model = ActionRecognizer(data.channels, len(classes), config.model)
    run.load_weights(model, weights, run_dir)
    part = ClipPart(padded, lengths, np.zeros(len(paths), dtype=np.int64))
    return classes, predict_logits(model, part).softmax(-1).numpy()


def _action_space() -> dict[str, Any]:
    return {"model.recurrent.hidden_size": None, "model.recurrent.cell": None, "model.recurrent.num_layers": None,
            "model.hidden_size": {"low": 16, "high": 128, "log": True, "int": True},
            "model.cell": {"choices": ["lstm", "gru"]}}


def export_spec(job: VideoActionJob, streaming: bool) -> ExportSpec:
    """``rnnkit export``: ``(frames, lengths) -> logits`` of whole clips."""
    if streaming:
        raise ValueError("the action recognizer reads a whole clip before it answers: export it without --streaming")
    data = job.config.data

    def frames(b: int, t: int) -> Tensor:
        return torch.rand(t, b, data.channels, data.size, data.size, generator=example_generator(b, t))

    spec = sequence_spec(job.model, frames, "frames", {0: "time", 1: "batch"}, ["logits"], 8,
                         {"frames": "frames in [0, 1] (time, batch, channels, size, size), as the task loads them (resized, /255)", "logits": "class logits (batch, classes), in the order of classes"})
    spec.extra = {"classes": list(job.classes)}
    return spec


TASK = Task(VideoActionConfig, build, report, baselines=baselines, search_space=_action_space(), export=export_spec)
