"""Polyphonic music generation: a recurrent model of piano rolls, trained on Bach chorales or
your MIDI / MusicXML files.

Pieces are split whole into train / validation / test (seeded). Every evaluation during
training reads the validation pieces (early stopping and the kept weights are chosen there);
the test pieces are sealed and scored once, by the report. The model reads frames
``0 .. T-2`` after an all-silent start frame and predicts frames ``0 .. T-1``, every pitch a
Bernoulli variable. Metric: negative log-likelihood per frame (nats), summed over pitches and
averaged over every frame of every piece of a part (the measure of Boulanger-Lewandowski et
al. 2012); ``transpose: c`` moves each piece to C major / minor first, as their data was.
``augment`` transposes training batches by a random shift of up to that many semitones.

After training: the test NLL, and a sampled piece as ``sample.mid`` and ``sample.png``.
:func:`generate` samples a roll one frame per step with the state carried (temperature,
seeded, optionally primed with the start of a piece); :func:`generate_run` is
``rnnkit generate RUN_DIR`` for a music run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.data.music import LOW, Piece, load_chorales, read_music, write_midi
from rnnkit.files import input_file
from rnnkit.functional import mask_from_lengths
from rnnkit.models.music import MusicModel
from rnnkit.tasks.core import run
from rnnkit.tasks.core.baselines import Candidates
from rnnkit.tasks.core.export import ExportSpec, example_generator, recurrent_spec
from rnnkit.tasks.core.parts import Sealed, Split, describe
from rnnkit.tasks.core.plotting import pyplot, save_figure
from rnnkit.tasks.core.registry import Task
from rnnkit.tasks.music.config import MusicConfig, MusicDataConfig
from rnnkit.training import RandomBatches, StepOutput, model_device, trained_weights


def load_pieces(config: MusicDataConfig) -> list[Piece]:
    if config.name == "chorales":
        pieces = load_chorales(config.step, config.low, config.high, config.transpose)
    else:
        pieces = read_music(config.path, config.step, config.low, config.high, config.transpose)
    if len(pieces) < 3:
        raise ValueError(f"data: expected at least 3 pieces (train, validation, test), got {len(pieces)}")
    return pieces


def split_pieces(pieces: list[Piece], config: MusicDataConfig) -> dict[str, list[Piece]]:
    """Whole pieces, shuffled by ``seed``, into train / val / test (at least one piece each)."""
    order = np.random.default_rng(config.seed).permutation(len(pieces))
    n_test = max(1, round(config.test_fraction * len(pieces)))
    n_val = max(1, round(config.validation_fraction * len(pieces)))
    chosen = [pieces[i] for i in order]
    return {"test": chosen[:n_test], "val": chosen[n_test : n_test + n_val], "train": chosen[n_test + n_val :]}


def pad_rolls(rolls: list[np.ndarray]) -> tuple[Tensor, Tensor, Tensor]:
    """Inputs ``(T, B, P)`` (a silent frame, then frames ``0 .. T-2``), targets ``(T, B, P)``, lengths ``(B,)``."""
    lengths = torch.tensor([len(r) for r in rolls])
    targets = torch.zeros(int(lengths.max()), len(rolls), rolls[0].shape[1])
    for b, roll in enumerate(rolls):
        targets[: len(roll), b] = torch.from_numpy(roll.astype(np.float32))
    inputs = torch.cat([torch.zeros_like(targets[:1]), targets[:-1]])
    return inputs, targets, lengths


def transposed(roll: np.ndarray, shift: int) -> np.ndarray:
    """``roll`` moved by ``shift`` semitones; notes pushed out of the range are dropped."""
    out = np.zeros_like(roll)
    if shift >= 0:
        out[:, shift:] = roll[:, : roll.shape[1] - shift]
    else:
        out[:, :shift] = roll[:, -shift:]
    return out


def frame_nll(model: MusicModel, features: Tensor, targets: Tensor, lengths: Tensor) -> tuple[Tensor, int]:
    """The summed NLL (nats) over valid frames (each frame's over its pitches, from the model's
    output layer), and the number of valid frames."""
    valid = mask_from_lengths(lengths, targets.shape[0], targets.device)  # (T, B)
    nll = model.nll(features, targets)  # (T, B)
    return (nll * valid).sum(), int(valid.sum())


def nll_per_frame(model: MusicModel, pieces: list[Piece], batch_size: int = 32) -> float:
    """Mean NLL per frame over every frame of ``pieces`` (each piece from its silent start)."""
    device = model_device(model)
    was_training = model.training
    model.eval()
    total, frames = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(pieces), batch_size):
            inputs, targets, lengths = pad_rolls([p.roll for p in pieces[start : start + batch_size]])
            features, _ = model(inputs.to(device), lengths=lengths.to(device))
            nll, count = frame_nll(model, features, targets.to(device), lengths.to(device))
            total, frames = total + nll.item(), frames + count
    model.train(was_training)
    return total / frames


@dataclass
class MusicJob:
    model: MusicModel
    step_fn: Any
    batches: RandomBatches
    evaluate: Any
    split: Split  # the test pieces, sealed
    parts: dict[str, list[Piece]]  # train and val
    config: MusicConfig

    @property
    def train_size(self) -> int:
        """Training pieces: what ``train.epochs`` counts passes over."""
        return len(self.parts["train"])


def build(config: MusicConfig, rank: int = 0) -> MusicJob:
    data = config.data
    parts = split_pieces(load_pieces(data), data)
    test = parts.pop("test")
    split = Split({name: describe([p.name for p in pieces], frames=sum(len(p.roll) for p in pieces))
                   for name, pieces in (("train", parts["train"]), ("validation", parts["val"]), ("test", test))},
                  Sealed.of(test))
    model = MusicModel(data.high - data.low + 1, config.model)
    train, batch_size = parts["train"], config.train.batch_size

    def sample(g: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        chosen = torch.randint(0, len(train), (batch_size,), generator=g).tolist()
        shifts = torch.randint(-data.augment, data.augment + 1, (batch_size,), generator=g).tolist()
        return pad_rolls([transposed(train[i].roll, s) for i, s in zip(chosen, shifts)])

    def step_fn(m: nn.Module, batch: tuple[Tensor, Tensor, Tensor], carry: Any) -> StepOutput:
        inputs, targets, lengths = batch
        features, _ = m(inputs, lengths=lengths)
        nll, frames = frame_nll(m, features, targets, lengths)
        return StepOutput(nll / frames)

    def evaluate(m: nn.Module) -> dict[str, float]:
        return {"val_nll": nll_per_frame(m, parts["val"])}

    batches = RandomBatches(sample, seed=config.train.seed + 1000 * rank)
    return MusicJob(model, step_fn, batches, evaluate, split, parts, config)


def generate(model: MusicModel, length: int, temperature: float = 1.0, seed: int | None = None,
             prime: np.ndarray | None = None) -> np.ndarray:
    """A ``(len(prime) + length, P)`` roll: ``prime`` (frames to start from, default none) read in
    one pass, then ``length`` frames sampled one per step with the state carried, each pitch
    drawn from ``sigmoid(logit / temperature)`` (with ``output: nade``, given the pitches below it)."""
    if length < 1 or not 0 < temperature < math.inf:  # NaN fails too
        raise ValueError(f"generate: expected length >= 1 and temperature > 0, got {length}, {temperature}")
    device = model_device(model)
    pitches = model.pitches
    if prime is not None and (prime.ndim != 2 or prime.shape[1] != pitches):
        raise ValueError(f"prime: expected a roll (T, {pitches}), got shape {prime.shape}")
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    was_training = model.training
    model.eval()
    frames = [] if prime is None else [torch.from_numpy(prime.astype(np.float32)).to(device)]
    with torch.no_grad():
        start = torch.zeros(1, 1, pitches, device=device)
        inputs = start if prime is None else torch.cat([start, frames[0].unsqueeze(1)])
        features, state = model(inputs)  # (T, 1, H)
        last = features[-1]  # (1, H)
        for _ in range(length):
            frame = model.sample(last, temperature, generator)  # (1, P)
            frames.append(frame)
            last, state = model.step(frame, state)
    model.train(was_training)
    return torch.cat(frames).cpu().numpy().astype(np.uint8)


def plot_roll(roll: np.ndarray, path: str | Path, low: int = LOW, step: float = 1.0, title: str = "") -> Path | None:
    """The roll as an image: time across, pitch up, only the rows between its lowest and highest note."""
    plt = pyplot()
    if plt is None:
        return None
    used = np.flatnonzero(roll.any(0))
    bottom, top = (used.min(), used.max()) if len(used) else (0, roll.shape[1] - 1)
    figure, axis = plt.subplots(figsize=(min(16, 3 + roll.shape[0] * 0.12), 4))
    axis.imshow(roll[:, bottom : top + 1].T, origin="lower", aspect="auto", cmap="Greys", interpolation="nearest",
                extent=(0, roll.shape[0] * step, low + bottom - 0.5, low + top + 0.5))
    axis.set_xlabel("quarter notes")
    axis.set_ylabel("MIDI pitch")
    axis.set_title(title)
    return save_figure(figure, path)


def write_sample(roll: np.ndarray, stem: Path, data: MusicDataConfig, title: str) -> list[str]:
    midi = write_midi(roll, stem.with_suffix(".mid"), data.step, data.low)
    png = plot_roll(roll, stem.with_suffix(".png"), data.low, data.step, title)
    return [str(p) for p in (midi, png) if p]


def report(job: MusicJob, run_dir: Path) -> dict[str, Any]:
    """After training: the test pieces' NLL per frame (their one read), a sampled piece (MIDI + PNG)."""
    test = job.split.test.open()
    metrics = {"test_nll": nll_per_frame(job.model, test)}
    roll = generate(job.model, job.config.sample_length, job.config.sample_temperature, seed=0)
    files = write_sample(roll, run_dir / "sample", job.config.data, f"sampled, temperature "
                         f"{job.config.sample_temperature}")
    parts = {**job.parts, "test": test}
    frames = {k: sum(len(p.roll) for p in v) for k, v in parts.items()}
    return {"metrics": metrics, "files": files,
            "text": "pieces (frames): " + ", ".join(f"{k} {len(v)} ({frames[k]})" for k, v in parts.items())}


def generate_run(run_dir: str | Path, length: int, temperature: float = 1.0, seed: int | None = None,
                 out: str | Path | None = None, prime: str | Path | None = None, prime_frames: int = 8,
                 allow_unfinished: bool = False) -> list[str]:
    """``rnnkit generate`` for a music run: a sampled piece as MIDI + PNG (``out``, default
    ``RUN_DIR/generated.mid``), optionally continuing the first ``prime_frames`` of a file."""
    if prime_frames < 1:
        raise ValueError(f"prime_frames: expected a positive number of frames, got {prime_frames}")
    out = Path(out) if out is not None else Path(run_dir) / "generated.mid"
    if out.is_dir():
        raise ValueError(f"{out}: a folder; expected the MIDI file to write (e.g. {out / 'generated.mid'})")
    config = run.load_finished_run(run_dir, "music", "music", allow_unfinished=allow_unfinished)
    data = config.data
    model = MusicModel(data.high - data.low + 1, config.model)
    run.load_weights(model, trained_weights(run_dir), run_dir)
    start = None
    if prime is not None:
        prime = input_file(prime, "a MIDI or MusicXML file to continue (--prime)")
        start = read_music(prime, data.step, data.low, data.high, data.transpose)[0].roll[:prime_frames]
    roll = generate(model, length, temperature, seed, start)
    return write_sample(roll, out.with_suffix(""), data, f"{Path(run_dir).name}: temperature {temperature}, "
                        f"seed {seed}")


def pitch_frequency_nll(train: list[Piece], pieces: list[Piece]) -> float:
    """Mean NLL per frame of ``pieces`` under independent pitches, each on with its frequency in
    the training frames (add-one smoothed): the model with no memory and no harmony."""
    rolls = np.concatenate([p.roll for p in train]).astype(np.float64)  # (frames, P)
    on = (rolls.sum(0) + 1.0) / (len(rolls) + 2.0)
    test = np.concatenate([p.roll for p in pieces]).astype(np.float64)
    return float(-(test @ np.log(on) + (1.0 - test) @ np.log1p(-on)).mean())


def baselines(job: MusicJob) -> Candidates:
    """The per-pitch frequency model, fitted on the training pieces, scored on the test pieces."""
    test = job.split.test.open()
    return Candidates({"per-pitch frequency": lambda: {"test_nll": pitch_frequency_nll(job.parts["train"], test)}})


def export_spec(job: Any, streaming: bool) -> ExportSpec:
    """``rnnkit export``: the model over piano-roll frames (0/1 per pitch) with its state in and out
    (a frame per call when ``streaming``); the independent output only (NADE's probabilities are
    sampled pitch by pitch, not one tensor of logits)."""
    model = job.model
    P = model.pitches
    model.logits(torch.zeros(1, model.recurrent.output_size))  # NADE: the error that says why not

    def step_logits(frame: Tensor, state: Any) -> tuple[Tensor, Any]:
        features, state = model.step(frame, state)
        return model.logits(features), state

    def sequence_logits(frames_: Tensor, state: Any) -> tuple[Tensor, Any]:
        features, state = model(frames_, state)
        return model.logits(features), state

    def frames(b: int, t: int) -> Tensor:
        shape = (b, P) if streaming else (t, b, P)
        return (torch.rand(shape, generator=example_generator(b, t)) < 0.1).float()

    pitches = f"one column per pitch from MIDI {job.config.data.low} to {job.config.data.high}"
    if streaming:
        return recurrent_spec(model, model.recurrent, step_logits, frames, "frame", {0: "batch"}, "logits", 1,
                              {"frame": f"the notes sounding now (batch, pitches), 0 or 1, {pitches}",
                               "logits": "each pitch's logit of sounding in the next frame (batch, pitches)"})
    return recurrent_spec(model, model.recurrent, sequence_logits, frames, "frames", {0: "time", 1: "batch"}, "logits",
                          16, {"frames": f"piano-roll frames (time, batch, pitches), 0 or 1, {pitches}",
                               "logits": "after each frame, each pitch's logit in the next (time, batch, pitches)"})


TASK = Task(MusicConfig, build, report, baselines=baselines, export=export_spec)
