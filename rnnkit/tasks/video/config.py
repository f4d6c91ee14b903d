"""What a video run can set: the clips (Moving MNIST or yours) and their parts, the frames
read and predicted, the model, training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from rnnkit.config import check_one_source
from rnnkit.models.video import ActionModelConfig, CaptionModelConfig, VideoPredictorConfig
from rnnkit.training import EarlyStoppingConfig, TrainConfig


def check_clips(data: Any, dataset: str, counts: tuple[str, ...]) -> None:
    """The checks every video data section shares: one source (``dataset`` by name, or a path),
    1 or 3 channels, the ``counts`` positive ints, a Moving MNIST canvas that holds a digit, and
    validation / test fractions that leave clips for training."""
    name = data.name
    check_one_source("data", name, data.path)
    if name is not None and name != dataset:
        raise ValueError(f"data.name: expected {dataset!r} (or null and a path), got {name!r}")
    if data.channels not in (1, 3):
        raise ValueError(f"data.channels: expected 1 (grey) or 3 (RGB), got {data.channels}")
    for field_name in ("size", *counts):
        value = getattr(data, field_name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"data.{field_name}: expected a positive int, got {value!r}")
    if name is not None and data.size < 28:
        raise ValueError(f"data.size: Moving MNIST needs a canvas of at least the digits' 28 pixels, "
                         f"got {data.size}")
    validation, test = data.validation_fraction, data.test_fraction
    if not 0 < validation < 1 or not 0 < test < 1 or validation + test >= 1:
        raise ValueError(f"data.validation_fraction / test_fraction: expected fractions in (0, 1) with a sum "
                         f"below 1, got {validation}, {test}")


@dataclass
class VideoDataConfig:
    name: str | None = "moving_mnist"  # Moving MNIST from real digits, or null and ``path``
    path: str | None = None  # a folder of clips: video files, or folders of numbered frames
    size: int = 64  # frames resized to size x size (Moving MNIST: the canvas)
    channels: int = 1  # 1 grey, 3 RGB (your clips)
    max_frames: int | None = None  # your clips: longer ones are sampled uniformly in time to this many
    input_frames: int = 10  # frames read
    output_frames: int = 10  # frames predicted
    num_digits: int = 2  # Moving MNIST: digits per clip
    validation_clips: int = 200  # Moving MNIST: fixed clips of the validation digits
    test_clips: int = 1000  # Moving MNIST: fixed clips of the test digits
    validation_fraction: float = 0.1  # of the digits (Moving MNIST) or of your clips
    test_fraction: float = 0.1
    seed: int = 0  # the split, and the fixed clips

    def __post_init__(self) -> None:
        check_clips(self, "moving_mnist", ("input_frames", "output_frames", "num_digits", "validation_clips",
                                           "test_clips"))
        if self.max_frames is not None and self.max_frames < self.input_frames + self.output_frames:
            raise ValueError(f"data.max_frames: expected at least input_frames + output_frames = "
                             f"{self.input_frames + self.output_frames}, got {self.max_frames}")


@dataclass
class VideoPredictionConfig:
    task: Literal["video_prediction"] = "video_prediction"
    run_dir: str | None = None
    data: VideoDataConfig = field(default_factory=VideoDataConfig)
    model: VideoPredictorConfig = field(default_factory=VideoPredictorConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=5000, batch_size=16, eval_every=250, checkpoint_every=250,
        early_stopping=EarlyStoppingConfig(metric="val_mse", restore_best=True)))
    loss: Literal["bce", "mse"] = "bce"  # per pixel: binary cross-entropy (Srivastava et al., Shi et al.) or MSE
    rollout: int = 50  # the report rolls a test clip out this many frames past its input (rollout.gif)
    examples: int = 4  # test clips drawn in predictions.png

    def __post_init__(self) -> None:
        if self.loss not in ("bce", "mse"):
            raise ValueError(f"loss: expected 'bce' or 'mse', got {self.loss!r}")
        if self.rollout < 1 or self.examples < 1:
            raise ValueError(f"rollout / examples: expected positive ints, got {self.rollout}, {self.examples}")


@dataclass
class ActionDataConfig:
    name: str | None = "moving_mnist_motions"  # Moving MNIST digits moving by 7 patterns, or null and ``path``
    path: str | None = None  # a folder of clips (video files, folders of numbered frames)
    annotations: str | None = None  # your clips: a CSV of clip,label (default: PATH/labels.csv)
    label_column: str = "label"
    size: int = 64  # frames resized to size x size
    channels: int = 1
    max_frames: int | None = 20  # your clips: longer ones sampled uniformly in time to this many
    frames: int = 20  # Moving MNIST: frames a clip
    num_digits: int = 1  # Moving MNIST: digits a clip (all moving by the clip's pattern)
    validation_clips: int = 350  # Moving MNIST: fixed clips of the validation digits (50 per pattern)
    test_clips: int = 700  # Moving MNIST: fixed clips of the test digits (100 per pattern)
    validation_fraction: float = 0.15  # of the digits (Moving MNIST) or of your clips
    test_fraction: float = 0.15
    seed: int = 0

    def __post_init__(self) -> None:
        check_clips(self, "moving_mnist_motions", ("frames", "num_digits", "validation_clips", "test_clips"))


@dataclass
class VideoActionConfig:
    task: Literal["video_action"] = "video_action"
    run_dir: str | None = None
    data: ActionDataConfig = field(default_factory=ActionDataConfig)
    model: ActionModelConfig = field(default_factory=ActionModelConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=2000, batch_size=16, eval_every=200, checkpoint_every=200,
        early_stopping=EarlyStoppingConfig(metric="val_loss", patience=5, restore_best=True)))


@dataclass
class CaptionDataConfig:
    name: str | None = "moving_mnist_captions"  # Moving MNIST with templated captions, or null and ``path``
    path: str | None = None  # a folder of clips (video files, folders of numbered frames)
    annotations: str | None = None  # your clips: a CSV of clip,caption (default: PATH/captions.csv)
    caption_column: str = "caption"
    size: int = 64
    channels: int = 1
    max_frames: int | None = 20  # your clips: longer ones sampled uniformly in time to this many
    frames: int = 20  # Moving MNIST: frames a clip
    num_digits: int = 2  # Moving MNIST: digits a clip, each moving by its own pattern
    frame_step: int = 1  # the model reads every k-th frame (k = 2: half the steps, motion twice as fast)
    validation_clips: int = 300
    test_clips: int = 1000
    validation_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0

    def __post_init__(self) -> None:
        check_clips(self, "moving_mnist_captions", ("frames", "num_digits", "validation_clips", "test_clips"))
        if isinstance(self.frame_step, bool) or not isinstance(self.frame_step, int) or self.frame_step < 1:
            raise ValueError(f"data.frame_step: expected a positive int, got {self.frame_step!r}")


@dataclass
class VideoCaptionConfig:
    task: Literal["video_caption"] = "video_caption"
    run_dir: str | None = None
    data: CaptionDataConfig = field(default_factory=CaptionDataConfig)
    model: CaptionModelConfig = field(default_factory=CaptionModelConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=3000, batch_size=32, eval_every=250, checkpoint_every=250,
        early_stopping=EarlyStoppingConfig(metric="val_loss", patience=5, restore_best=True)))
    beam: int = 3  # the test captions' beam search (1: greedy)
    max_output: int = 30  # words at most per caption
    eval_size: int = 300  # validation clips captioned (greedy) at each evaluation

    def __post_init__(self) -> None:
        if self.beam < 1 or self.max_output < 1 or self.eval_size < 1:
            raise ValueError(f"beam / max_output / eval_size: expected positive ints, got {self.beam}, "
                             f"{self.max_output}, {self.eval_size}")
