"""Video frame prediction and generation: read ``input_frames`` frames, predict the next
``output_frames`` (Moving MNIST, or your clips).

The parts. Moving MNIST: the digits are split between train, validation and test
(:func:`rnnkit.data.video.split_digits`); training clips are drawn on the fly from the
training digits (seeded by the batch generator, so a resumed run draws the same), the
validation and test clips are fixed sets drawn once from their digits and kept in the cache.
Your clips: whole clips are split (seeded); each validation and test clip gives its first
``input_frames + output_frames`` frames, training windows start anywhere in a training clip.
Every evaluation reads the validation clips (early stopping and the kept weights are chosen
there); the test clips are sealed and scored once, by the report.

Metrics, as the field reports them on Moving MNIST: the squared error per frame summed over
its pixels (``mse``), the absolute error likewise (``mae``), and the mean SSIM
(scikit-image) twice: of the frames as they are (``ssim``, data range 1), and of the frames
converted to 8 bits first (``ssim_8bit``), as PredRNN's evaluation code computes the published
figures; all over every predicted frame of every clip. Baselines on the
same clips: the last input frame repeated, and the last two frames extrapolated linearly.

After training: test metrics, ``predictions.png`` (input, truth and prediction of a few test
clips), ``prediction.gif``, ``error_by_step.png`` (squared error and SSIM by frame ahead, beside
the last frame repeated), and ``rollout.gif``: a test clip rolled out ``rollout`` frames past
its input. :func:`generate_run` is ``rnnkit generate`` for a video run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data import video
from rnnkit.data.text import cache_dir
from rnnkit.extras import require
from rnnkit.models.video import build_predictor
from rnnkit.tasks.core import run
from rnnkit.tasks.core.baselines import Candidates
from rnnkit.tasks.core.export import ExportSpec, example_generator
from rnnkit.tasks.core.parts import Sealed, Split, describe, fingerprint_bytes
from rnnkit.tasks.core.plotting import pyplot, save_figure
from rnnkit.tasks.core.registry import Task
from rnnkit.tasks.video.config import VideoDataConfig, VideoPredictionConfig
from rnnkit.training import RandomBatches, StepOutput, model_device, trained_weights

# -- the parts --------------------------------------------------------------------------------------


@dataclass
class Parts:
    """``draw(count, rng) -> (count, T_in + K, C, H, W)`` training windows; the validation
    windows; the sealed test windows; and what the split record and the data report say."""

    draw: Any
    validation: np.ndarray
    test: Sealed[np.ndarray]
    record: dict[str, Any]
    notes: list[str]


def moving_mnist_parts(data: VideoDataConfig) -> Parts:
    digits, labels = video.load_mnist_digits()
    index = video.split_digits(labels, data.validation_fraction, data.test_fraction, data.seed)
    frames = data.input_frames + data.output_frames

    def source(part: str) -> video.MovingMNIST:
        return video.MovingMNIST(digits[index[part]], labels[index[part]], frames, data.size, data.num_digits)

    def fixed(part: str, count: int, seed: int) -> np.ndarray:
        name = f"moving-mnist-{part}-n{count}-t{frames}-s{data.size}-d{data.num_digits}-seed{data.seed}.npz"
        return video.fixed_clips(source(part), count, seed, cache_dir() / "video" / name)

    train = source("train")
    record = {"digits": {part: describe(index[part].tolist()) for part in ("train", "val", "test")},
              "clips": {"train": "drawn on the fly from the training digits", "validation": data.validation_clips,
                        "test": data.test_clips}}
    notes = [(f"Moving MNIST: {data.num_digits} digits on {data.size}x{data.size}, {frames} frames a clip; digits "
              f"train {len(index['train'])}, validation {len(index['val'])}, test {len(index['test'])} (no digit in "
              f"two parts); validation {data.validation_clips} fixed clips, test {data.test_clips}")]
    return Parts(lambda count, rng: train.sample(count, rng)[0], fixed("val", data.validation_clips, data.seed + 1),
                 Sealed(lambda: fixed("test", data.test_clips, data.seed + 2)), record, notes)


def clip_parts(data: VideoDataConfig) -> Parts:
    clips = video.load_clips(data.path, data.size, data.channels, data.max_frames)
    frames = data.input_frames + data.output_frames
    long_enough = [i for i, n in enumerate(clips.lengths) if n >= frames]
    if len(long_enough) < 3:
        raise ValueError(f"{data.path}: {len(long_enough)} of {len(clips)} clips have at least input_frames + "
                         f"output_frames = {frames} frames; expected 3 or more (train, validation, test)")
    part = video.split_clips(long_enough, data.validation_fraction, data.test_fraction, data.seed)
    train = clips.subset(part["train"].tolist())

    def first_windows(rows: np.ndarray) -> np.ndarray:
        return np.stack([clips.frames[i][:frames] for i in rows])

    def draw(count: int, rng: np.random.Generator) -> np.ndarray:
        chosen = rng.integers(0, len(train), count)
        starts = [int(rng.integers(0, len(train.frames[c]) - frames + 1)) for c in chosen]
        return np.stack([train.frames[c][s:s + frames] for c, s in zip(chosen, starts)])

    record = {name: describe([clips.names[i] for i in rows]) for name, rows in
              (("train", part["train"]), ("validation", part["val"]), ("test", part["test"]))}
    skipped = len(clips) - len(long_enough)
    notes = [f"clips: {len(clips)} in {data.path}, lengths {int(clips.lengths.min())}-{int(clips.lengths.max())} "
             f"frames (median {int(np.median(clips.lengths))}), {data.size}x{data.size}, {data.channels} channel(s)"
             + (f"; {skipped} shorter than {frames} frames left out" if skipped else "")]
    return Parts(draw, first_windows(part["val"]), Sealed(lambda: first_windows(part["test"])), record, notes)


# -- metrics ----------------------------------------------------------------------------------------


def to_8bit(frames: np.ndarray) -> np.ndarray:
    """Frames in [0, 1] (values outside are clipped) -> ``uint8`` by truncation, ``uint8(x * 255)``:
    the conversion PredRNN's evaluation code applies before its SSIM (Wang et al. 2017, whose
    table gives the published Moving MNIST figures)."""
    return (np.clip(frames, 0.0, 1.0) * 255).astype(np.uint8)


def ssim_by_frame(predicted: np.ndarray, truth: np.ndarray, data_range: float) -> np.ndarray:
    """Mean SSIM of each frame, scikit-image's 7x7 windows (or the largest odd window under a
    smaller frame): ``(N, K, C, H, W)`` twice -> ``(N, K)``."""
    metrics = require("skimage.metrics", "SSIM of predicted frames", extra="video")
    side = min(truth.shape[-2:])
    window = min(7, side if side % 2 else side - 1)
    frames = zip(predicted.reshape(-1, *truth.shape[2:]), truth.reshape(-1, *truth.shape[2:]))
    return np.array([metrics.structural_similarity(p, t, data_range=data_range, channel_axis=0, win_size=window)
                     for p, t in frames]).reshape(truth.shape[:2])


def frame_metrics(predicted: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """``predicted`` and ``truth`` ``(N, K, C, H, W)`` in [0, 1] -> ``mse`` and ``mae`` per frame
    (summed over the frame's pixels, averaged over frames and clips); ``ssim``, the mean SSIM
    of the frames as they are (data range 1); ``ssim_8bit``, the same on the frames converted
    to 8 bits first (:func:`to_8bit`, data range 255), as PredRNN's evaluation code computes the
    SSIM of Wang et al.'s tables. They differ on the background: on Moving MNIST's black canvas
    the float SSIM punishes a faint haze hard, while a haze under 1/255 is gone from an 8-bit
    frame, as from a saved image. ``mse_by_step`` and ``ssim_by_step`` ``(K,)``: each frame
    ahead's mean over the clips."""
    squared = ((predicted - truth) ** 2).reshape(*truth.shape[:2], -1).sum(-1)  # (N, K)
    absolute = np.abs(predicted - truth).reshape(*truth.shape[:2], -1).sum(-1)
    ssim = ssim_by_frame(predicted, truth, 1.0)
    ssim_8bit = ssim_by_frame(to_8bit(predicted), to_8bit(truth), 255.0)
    return {"mse": float(squared.mean()), "mae": float(absolute.mean()), "ssim": float(ssim.mean()),
            "ssim_8bit": float(ssim_8bit.mean()), "mse_by_step": squared.mean(0).tolist(),
            "ssim_by_step": ssim.mean(0).tolist()}


def scalars(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    return {f"{prefix}_{k}": v for k, v in metrics.items() if isinstance(v, float)}


def copy_last(inputs: np.ndarray, future: int) -> np.ndarray:
    """The last input frame, repeated: ``(N, T_in, C, H, W) -> (N, future, C, H, W)``."""
    return np.repeat(inputs[:, -1:], future, axis=1)


def extrapolate(inputs: np.ndarray, future: int) -> np.ndarray:
    """The last two frames continued linearly, ``x_T + k (x_T - x_{T-1})``, clipped to [0, 1]."""
    last, change = inputs[:, -1:], inputs[:, -1:] - inputs[:, -2:-1]
    steps = np.arange(1, future + 1, dtype=inputs.dtype).reshape(1, -1, 1, 1, 1)
    return np.clip(last + steps * change, 0.0, 1.0)


# -- the job ----------------------------------------------------------------------------------------


@dataclass
class VideoPredictionJob:
    model: nn.Module
    step_fn: Any
    batches: RandomBatches
    evaluate: Any
    split: Split  # the test windows, sealed
    validation: np.ndarray  # (N, T_in + K, C, H, W)
    config: VideoPredictionConfig
    data_notes: list[str] = field(default_factory=list)


def loss_of(logits: Tensor, targets: Tensor, kind: str) -> Tensor:
    """Per-pixel loss, summed over a frame's pixels and averaged over frames (the metrics' scale)."""
    if kind == "bce":
        per_pixel = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    else:
        per_pixel = (torch.sigmoid(logits) - targets) ** 2
    return per_pixel.flatten(2).sum(-1).mean()


def predict(model: nn.Module, inputs: np.ndarray, future: int, batch_size: int = 32) -> np.ndarray:
    """Predicted frames ``(N, future, C, H, W)`` in [0, 1] for input clips ``(N, T_in, C, H, W)``."""
    device = model_device(model)
    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            x = torch.from_numpy(inputs[start:start + batch_size]).to(device).transpose(0, 1)  # (T_in, B, ...)
            out.append(torch.sigmoid(model(x, future)).transpose(0, 1).cpu().numpy())
    model.train(was_training)
    return np.concatenate(out)


def frame_size(config: VideoPredictionConfig) -> tuple[int, int]:
    return config.data.size, config.data.size


def build(config: VideoPredictionConfig, rank: int = 0) -> VideoPredictionJob:
    data = config.data
    parts = moving_mnist_parts(data) if data.name == "moving_mnist" else clip_parts(data)
    T_in, K = data.input_frames, data.output_frames
    channels = parts.validation.shape[2]
    model = build_predictor(channels, frame_size(config), config.model)
    split = Split({**parts.record, "validation windows": fingerprint_bytes(parts.validation.tobytes())}, parts.test)
    batch_size = config.train.batch_size

    def make(g: torch.Generator) -> Tensor:
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=g)))
        return torch.from_numpy(parts.draw(batch_size, rng)).transpose(0, 1)  # (T_in + K, B, C, H, W)

    def step_fn(m: nn.Module, batch: Tensor, carry: Any) -> StepOutput:
        return StepOutput(loss_of(m(batch[:T_in], K), batch[T_in:], config.loss))

    def evaluate(m: nn.Module) -> dict[str, float]:
        predicted = predict(m, parts.validation[:, :T_in], K)
        return scalars(frame_metrics(predicted, parts.validation[:, T_in:]), "val")

    batches = RandomBatches(make, seed=config.train.seed + 1000 * rank)
    notes = [*parts.notes, f"frames: {T_in} read, {K} predicted; loss {config.loss}"]
    return VideoPredictionJob(model, step_fn, batches, evaluate, split, parts.validation, config, notes)


# -- pictures ---------------------------------------------------------------------------------------


def _image(frame: np.ndarray) -> np.ndarray:
    return frame[0] if frame.shape[0] == 1 else frame.transpose(1, 2, 0)


def plot_strips(rows: dict[str, np.ndarray], path: str | Path, title: str = "") -> Path | None:
    """Clips ``(N, T_r, C, H, W)`` per row name (input, truth, predicted, ...): for each clip,
    one row of frames per name."""
    plt = pyplot()
    if plt is None:
        return None
    names = list(rows)
    N, R = len(rows[names[0]]), len(names)
    columns = max(clips.shape[1] for clips in rows.values())
    figure, axes = plt.subplots(R * N, columns, figsize=(columns * 0.9, R * N * 0.95), squeeze=False)
    for n in range(N):
        for r, name in enumerate(names):
            frames = rows[name][n]
            for c in range(columns):
                axis = axes[R * n + r, c]
                axis.set_xticks([])
                axis.set_yticks([])
                if c < len(frames):
                    axis.imshow(_image(frames[c]), cmap="gray", vmin=0, vmax=1)
                else:
                    axis.axis("off")
            axes[R * n + r, 0].set_ylabel(name, fontsize=7)
    figure.suptitle(title)
    return save_figure(figure, path)


def plot_error_by_step(curves: dict[str, dict[str, list[float]]], path: str | Path) -> Path | None:
    """``curves``: per method, its ``mse_by_step`` and ``ssim_by_step`` (:func:`frame_metrics`),
    drawn side by side against the frames ahead."""
    plt = pyplot()
    if plt is None:
        return None
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for key, axis, label in (("mse_by_step", axes[0], "squared error per frame"), ("ssim_by_step", axes[1], "SSIM")):
        for name, measured in curves.items():
            axis.plot(range(1, len(measured[key]) + 1), measured[key], marker="o", label=name)
        axis.set_xlabel("frames ahead")
        axis.set_ylabel(label)
    axes[0].legend()
    return save_figure(figure, path)


def side_by_side(*clips: np.ndarray) -> np.ndarray:
    """Clips ``(T, C, H, W)`` of one length, joined left to right with a 2-pixel bright gap."""
    gap = np.ones((*clips[0].shape[:3], 2), dtype=clips[0].dtype)
    parts = [clips[0]]
    for clip in clips[1:]:
        parts += [gap, clip]
    return np.concatenate(parts, axis=-1)


# -- after training ---------------------------------------------------------------------------------


def report(job: VideoPredictionJob, run_dir: Path) -> dict[str, Any]:
    """The test clips' metrics (their one read), pictures and a rollout past the horizon."""
    config, data = job.config, job.config.data
    T_in, K = data.input_frames, data.output_frames
    test = job.split.test.open()
    inputs, truth = test[:, :T_in], test[:, T_in:]
    predicted = predict(job.model, inputs, K)
    measured = frame_metrics(predicted, truth)
    n = min(config.examples, len(test))
    files = [plot_strips({"input": inputs[:n], "truth": truth[:n], "predicted": predicted[:n]},
                         run_dir / "predictions.png", f"{config.model.kind}: input, truth, prediction (test clips)")]
    copied = frame_metrics(copy_last(inputs, K), truth)
    files.append(plot_error_by_step({config.model.kind: measured, "last frame": copied}, run_dir / "error_by_step.png"))
    files.append(video.write_gif(side_by_side(np.concatenate([inputs[0], truth[0]]),
                                              np.concatenate([inputs[0], predicted[0]])),
                                 run_dir / "prediction.gif"))
    rolled = predict(job.model, inputs[:1], config.rollout)[0]
    files.append(video.write_gif(np.concatenate([inputs[0], rolled]), run_dir / "rollout.gif"))
    return {"metrics": scalars(measured, "test"), "files": [str(f) for f in files if f],
            "text": f"test clips: {len(test)}; by frame ahead, squared error per frame: "
                    + ", ".join(f"{v:.1f}" for v in measured["mse_by_step"]) + "; SSIM: "
                    + ", ".join(f"{v:.3f}" for v in measured["ssim_by_step"])}


def baselines(job: VideoPredictionJob) -> Candidates:
    """The last frame repeated, and the last two frames extrapolated, on the test clips."""
    T_in, K = job.config.data.input_frames, job.config.data.output_frames

    def score(method: Any) -> Any:
        def scored() -> dict[str, float]:
            test = job.split.test.open()
            return scalars(frame_metrics(method(test[:, :T_in], K), test[:, T_in:]), "test")
        return scored

    return Candidates({"last frame": score(copy_last), "linear extrapolation": score(extrapolate)})


def generate_run(run_dir: str | Path, length: int, seed: int | None = None, out: str | Path | None = None,
                 prime: str | Path | None = None, allow_unfinished: bool = False) -> list[str]:
    """``rnnkit generate`` for a video run: ``length`` frames rolled out after an input clip,
    as a GIF (``out``, default ``RUN_DIR/generated.gif``) and a PNG strip. The input: the
    first ``input_frames`` of ``prime`` (a video file or a folder of numbered frames), or, for
    a Moving MNIST run, a new clip of validation digits drawn with ``seed``."""
    config = run.load_finished_run(run_dir, "video_prediction", "video prediction", allow_unfinished=allow_unfinished)
    data = config.data
    out = Path(out) if out is not None else Path(run_dir) / "generated.gif"
    if out.is_dir():
        raise ValueError(f"{out}: a folder; expected the GIF file to write (e.g. {out / 'generated.gif'})")
    if prime is not None:
        clip = video.read_clip(Path(prime), frame_size(config), data.channels, None)
        if len(clip) < data.input_frames:
            raise ValueError(f"{prime}: {len(clip)} frames; the model reads {data.input_frames}")
        inputs = clip[None, :data.input_frames]
    elif data.name == "moving_mnist":
        digits, labels = video.load_mnist_digits()
        index = video.split_digits(labels, data.validation_fraction, data.test_fraction, data.seed)["val"]
        source = video.MovingMNIST(digits[index], labels[index], data.input_frames, data.size, data.num_digits)
        inputs = source.sample(1, np.random.default_rng(seed))[0]
    else:
        raise ValueError("--prime: expected a clip to continue (a video file or a folder of frames) for a run "
                         "trained on your clips")
    model = build_predictor(inputs.shape[2], frame_size(config), config.model)
    run.load_weights(model, trained_weights(run_dir), run_dir)
    rolled = predict(model, inputs, length)[0]
    frames = np.concatenate([inputs[0], rolled])
    gif = video.write_gif(frames, out.with_suffix(".gif"))
    shown = rolled[np.linspace(0, len(rolled) - 1, min(len(rolled), 10)).round().astype(int)]
    png = plot_strips({"input": inputs, "generated": shown[None]}, out.with_suffix(".png"),
                      f"{Path(run_dir).name}: input, then {length} generated frames ({len(shown)} shown)")
    return [str(p) for p in (gif, png) if p]


class FixedFuture(nn.Module):
    """A frame predictor with its number of future frames fixed: ``frames -> logits``, for export."""

    def __init__(self, model: nn.Module, future: int) -> None:
        super().__init__()
        self.model, self.future = model, future

    def forward(self, frames: Tensor) -> Tensor:
        return self.model(frames, self.future)


def export_spec(job: VideoPredictionJob, streaming: bool) -> ExportSpec:
    """``rnnkit export``: ``frames -> logits`` of the next ``data.output_frames`` frames."""
    if streaming:
        raise ValueError("the predictor reads its input frames, then rolls out the future: export it without "
                         "--streaming")
    data = job.config.data
    K = data.output_frames

    def frames(b: int, t: int) -> tuple[Tensor]:
        return (torch.rand(t, b, data.channels, data.size, data.size, generator=example_generator(b, t)),)

    out = "sigmoid them for pixel values in [0, 1]" if job.config.loss == "bce" else "the pixel values"
    return ExportSpec(FixedFuture(job.model, K), frames, ["frames"], ["logits"],
                      {"frames": {0: "time", 1: "batch"}}, data.input_frames,
                      {"frames": "frames in [0, 1] (time, batch, channels, size, size), as the task loads them (resized, /255)", "logits": f"the next {K} frames (future, batch, channels, size, size): {out}"},
                      {"output_frames": K})


TASK = Task(VideoPredictionConfig, build, report, baselines=baselines, export=export_spec,
            search_space={"model.recurrent.hidden_size": None, "model.recurrent.cell": None,
                          "model.recurrent.num_layers": None, "model.kernel_size": {"choices": [3, 5]},
                          "model.patch": {"choices": [2, 4]}, "train.batch_size": {"choices": [8, 16, 32]}})
