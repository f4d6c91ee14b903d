"""Video captioning: an encoder over frames (a CNN per frame, then an LSTM) and a decoder LSTM
with attention over the time steps, writing a sentence per clip.

The model is rnnkit's encoder-decoder (:class:`rnnkit.models.seq2seq.Seq2Seq`) with a frame
CNN as its source embedding (:func:`rnnkit.models.video.build_captioner`); training,
greedy decoding, beam search and attention are the translation task's, reused, not copied.

The parts. Moving MNIST captions: two digits, each moving by its own pattern, described as
Sync-DRAW (Mittal et al. 2017) described its clips, e.g. "the digit 3 is moving left and right
while the digit 7 is moving up and down". The text is templated: a model that gets the digits
and the motions right writes the sentence exactly, so the slot accuracies (each digit and each
motion, read back from the caption) say more than BLEU. Digits are split between the parts;
training clips are drawn on the fly, validation and test clips are fixed and cached. Your
clips: a folder with ``captions.csv`` (``clip,caption``), split by a seeded shuffle; the
vocabulary comes from the training captions.

Evaluations read validation only (teacher-forced loss, then greedy captions of ``eval_size``
clips: BLEU, exact match, slot accuracy); the test clips are read once, by the report: beam
search captions, BLEU (sacrebleu), exact match, each slot's accuracy, ``captions.tsv``, and
``attention.png`` (a test clip's frames with the decoder's attention over them, word by word).
Baselines: the most frequent training caption, and slot classifiers without a language model
(the same frame encoder, one softmax per slot, trained with the same loop and budget; their
slots filled into the template).
"""

from __future__ import annotations

import csv
import dataclasses
import re
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data import video
from rnnkit.data.text import Vocabulary, cache_dir
from rnnkit.files import atomic_open
from rnnkit.models.seq2seq import Seq2Seq, beam_search, greedy_decode, sequence_loss
from rnnkit.models.video import SlotClassifier, build_captioner
from rnnkit.tasks.core import run
from rnnkit.tasks.core.baselines import Candidates
from rnnkit.tasks.core.export import ExportSpec, example_generator, seq2seq_spec
from rnnkit.tasks.core.metrics import bleu_scores
from rnnkit.tasks.core.parts import Sealed, Split, describe
from rnnkit.tasks.core.plotting import pyplot, save_figure
from rnnkit.tasks.core.registry import Task
from rnnkit.tasks.video.config import CaptionDataConfig, VideoCaptionConfig
from rnnkit.training import RandomBatches, StepOutput, fit, model_device, trained_weights

BOS, END = "<bos>", "</s>"
MOTION_NAMES = list(video.CAPTION_MOTIONS)
SLOT_PATTERN = re.compile(r"the digit (\d) is moving (" + "|".join(video.CAPTION_MOTIONS.values()) + ")")


@dataclass
class Words:
    """The caption vocabulary: word tokens, then ``<bos>`` and ``</s>``."""

    vocabulary: Vocabulary

    @classmethod
    def of(cls, captions: Sequence[str]) -> Words:
        base = Vocabulary.build(" ".join(captions), "word")
        return cls(Vocabulary([t for t in base.tokens if t not in (BOS, END)] + [BOS, END], "word"))

    @property
    def bos(self) -> int:
        return len(self.vocabulary) - 2

    @property
    def end(self) -> int:
        return len(self.vocabulary) - 1

    def encode(self, caption: str) -> list[int]:
        return self.vocabulary.encode(caption) + [self.end]

    def decode(self, ids: Sequence[int]) -> str:
        return self.vocabulary.decode([i for i in ids if i < self.bos])


@dataclass
class CaptionPart:
    """Clips ``(N, T, C, H, W)`` zero-padded, their lengths ``(N,)``, one caption each, and for
    Moving MNIST the slots ``(N, K, 2)`` (digit class, motion index)."""

    clips: np.ndarray
    lengths: np.ndarray
    captions: list[str]
    slots: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.captions)

    def frames(self, index: np.ndarray) -> tuple[Tensor, Tensor]:
        """``(T, B, C, H, W)`` clips and their lengths."""
        T = int(self.lengths[index].max())
        return torch.from_numpy(self.clips[index, :T]).transpose(0, 1), torch.from_numpy(self.lengths[index])

    def batch(self, index: np.ndarray, words: Words) -> tuple[Tensor, ...]:
        """Clips, lengths, caption inputs ``(L, B)`` (``<bos>`` first), targets ``(L, B)``, their lengths."""
        clips, lengths = self.frames(index)
        targets = [torch.tensor(words.encode(self.captions[i])) for i in index]
        inputs = [torch.cat([torch.tensor([words.bos]), t[:-1]]) for t in targets]
        pad = nn.utils.rnn.pad_sequence
        return clips, lengths, pad(inputs), pad(targets), torch.tensor([len(t) for t in targets])


def every_kth_frame(clips: np.ndarray, lengths: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Clips ``(N, T, C, H, W)`` with frames ``0, k, 2k, ...`` kept, and their lengths
    ``ceil(length / k)``: what the model reads with ``data.frame_step = k``."""
    return np.ascontiguousarray(clips[:, ::k]), (lengths + k - 1) // k


@dataclass
class CaptionParts:
    draw: Any  # (count, rng) -> CaptionPart
    validation: CaptionPart
    test: Sealed[CaptionPart]
    words: Words
    record: dict[str, Any]
    notes: list[str]


def caption_words(num_digits: int) -> list[str]:
    """Every caption the template can write uses these words (for the vocabulary)."""
    return [video.caption_of([d] * num_digits, [m] * num_digits) for d in range(10) for m in MOTION_NAMES]


def moving_mnist_parts(data: CaptionDataConfig) -> CaptionParts:
    digits, labels = video.load_mnist_digits()
    index = video.split_digits(labels, data.validation_fraction, data.test_fraction, data.seed)

    def source(part: str) -> video.MovingMNIST:
        return video.MovingMNIST(digits[index[part]], labels[index[part]], data.frames, data.size, data.num_digits)

    def part_of(clips: np.ndarray, slots: np.ndarray, captions: list[str]) -> CaptionPart:
        read, lengths = every_kth_frame(clips, np.full(len(clips), data.frames, dtype=np.int64), data.frame_step)
        return CaptionPart(read, lengths, list(captions), slots)

    def fixed(part: str, count: int, seed: int) -> CaptionPart:
        name = f"captions2-{part}-n{count}-t{data.frames}-s{data.size}-d{data.num_digits}-seed{data.seed}.npz"
        return part_of(*video.fixed_captioned_clips(source(part), count, seed, cache_dir() / "video" / name))

    train = source("train")
    record = {"digits": {part: describe(index[part].tolist()) for part in ("train", "val", "test")},
              "clips": {"train": "drawn on the fly", "validation": data.validation_clips, "test": data.test_clips}}
    notes = [(f"Moving MNIST captions: {data.num_digits} digit(s) on {data.size}x{data.size}, {data.frames} frames, "
              f"each moving {', '.join(video.CAPTION_MOTIONS.values())}; templated text; digits train "
              f"{len(index['train'])}, validation {len(index['val'])}, test {len(index['test'])}")]
    return CaptionParts(lambda count, rng: part_of(*video.sample_captioned(train, count, rng)),
                        fixed("val", data.validation_clips, data.seed + 1),
                        Sealed(lambda: fixed("test", data.test_clips, data.seed + 2)),
                        Words.of(caption_words(data.num_digits)), record, notes)


def clip_parts(data: CaptionDataConfig) -> CaptionParts:
    annotations = data.annotations or str(Path(data.path) / "captions.csv")
    clips = video.load_clips(data.path, data.size, data.channels, data.max_frames, annotations, data.caption_column)
    try:
        rows = video.split_clips(np.arange(len(clips)), data.validation_fraction, data.test_fraction, data.seed)
    except ValueError as error:
        raise ValueError(f"{data.path}: {error}") from None

    def part(which: np.ndarray) -> CaptionPart:
        subset = clips.subset(which.tolist())
        return CaptionPart(*every_kth_frame(*subset.padded(), data.frame_step), list(subset.labels))

    train = part(rows["train"])

    def draw(count: int, rng: np.random.Generator) -> CaptionPart:
        chosen = rng.integers(0, len(train), count)
        return CaptionPart(train.clips[chosen], train.lengths[chosen], [train.captions[i] for i in chosen])

    record = {name: describe([clips.names[i] for i in rows[key]]) for name, key in
              (("train", "train"), ("validation", "val"), ("test", "test"))}
    words = Words.of(train.captions)
    notes = [(f"clips: {len(clips)} in {data.path}, lengths {int(clips.lengths.min())}-{int(clips.lengths.max())} "
             f"frames; captions from {annotations}; vocabulary {len(words.vocabulary) - 2} words (training captions)")]
    return CaptionParts(draw, part(rows["val"]), Sealed(lambda: part(rows["test"])), words, record, notes)


# -- scores -----------------------------------------------------------------------------------------


def read_slots(caption: str, count: int) -> list[tuple[int, int]]:
    """The (digit, motion index) of each ``the digit D is moving M`` in ``caption``, in order,
    ``count`` of them (a missing one is ``(-1, -1)``)."""
    found = [(int(d), list(video.CAPTION_MOTIONS.values()).index(m)) for d, m in SLOT_PATTERN.findall(caption)]
    return (found + [(-1, -1)] * count)[:count]


def caption_scores(references: Sequence[str], hypotheses: Sequence[str], slots: np.ndarray | None
                   ) -> dict[str, float]:
    """BLEU, exact match and, with the true ``slots`` ``(N, K, 2)``, each slot's accuracy read
    back from the captions (``digit_1``, ``motion_1``, ...) and their mean (``slot_accuracy``)."""
    scores = {"bleu": bleu_scores(references, hypotheses)["bleu"],
              "exact": float(np.mean([r == h for r, h in zip(references, hypotheses)]))}
    if slots is not None:
        read = np.array([read_slots(h, slots.shape[1]) for h in hypotheses])  # (N, K, 2)
        correct = read == slots
        for k in range(slots.shape[1]):
            scores[f"digit_{k + 1}"] = float(correct[:, k, 0].mean())
            scores[f"motion_{k + 1}"] = float(correct[:, k, 1].mean())
        scores["slot_accuracy"] = float(correct.mean())
    return scores


# -- the job ----------------------------------------------------------------------------------------


@dataclass
class VideoCaptionJob:
    model: Seq2Seq
    step_fn: Any
    batches: RandomBatches
    evaluate: Any
    split: Split
    words: Words
    validation: CaptionPart
    config: VideoCaptionConfig
    draw: Any = None
    data_notes: list[str] = field(default_factory=list)

    @property
    def artifacts(self) -> dict[str, bytes]:
        """Written beside the weights before training and bound to them: the caption vocabulary."""
        return {"vocab.json": self.words.vocabulary.to_json().encode()}


def caption(model: Seq2Seq, words: Words, part: CaptionPart, beam: int, max_output: int,
            batch_size: int = 64) -> list[str]:
    """Captions of every clip of ``part``: greedy (``beam`` 1) or beam search, eval mode."""
    device = model_device(model)
    was_training = model.training
    model.eval()
    out: list[str] = []
    with torch.no_grad():
        for start in range(0, len(part), batch_size):
            clips, lengths = part.frames(np.arange(start, min(start + batch_size, len(part))))
            clips = clips.to(device)
            if beam == 1:
                ids, _ = greedy_decode(model, clips, lengths, words.bos, words.end, max_output)
            else:
                ids = beam_search(model, clips, lengths, words.bos, words.end, max_output, beam)
            out += [words.decode(i) for i in ids]
    model.train(was_training)
    return out


def teacher_forced_loss(model: Seq2Seq, words: Words, part: CaptionPart, batch_size: int = 64) -> float:
    device = model_device(model)
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(part), batch_size):
            clips, lengths, inputs, targets, target_lengths = (
                t.to(device) for t in part.batch(np.arange(start, min(start + batch_size, len(part))), words))
            count = int(target_lengths.sum())
            total += sequence_loss(model(clips, lengths, inputs), targets, target_lengths).item() * count
            tokens += count
    model.train(was_training)
    return total / tokens


def random_batches(draw: Any, make: Any, batch_size: int, seed: int) -> RandomBatches:
    """Batches of ``make(draw(batch_size, rng))``, the rng seeded from the loop's generator."""

    def next_batch(g: torch.Generator) -> Any:
        return make(draw(batch_size, np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=g)))))

    return RandomBatches(next_batch, seed=seed)


def build(config: VideoCaptionConfig, rank: int = 0) -> VideoCaptionJob:
    data = config.data
    parts = moving_mnist_parts(data) if data.name == "moving_mnist_captions" else clip_parts(data)
    words = parts.words
    model = build_captioner(parts.validation.clips.shape[2], len(words.vocabulary), config.model)
    batch_size = config.train.batch_size

    def step_fn(m: nn.Module, batch: tuple[Tensor, ...], carry: Any) -> StepOutput:
        clips, lengths, inputs, targets, target_lengths = batch
        return StepOutput(sequence_loss(m(clips, lengths, inputs), targets, target_lengths))

    def evaluate(m: nn.Module) -> dict[str, float]:
        subset = parts.validation
        chosen = np.arange(min(len(subset), config.eval_size))
        part = CaptionPart(subset.clips[chosen], subset.lengths[chosen], [subset.captions[i] for i in chosen],
                           None if subset.slots is None else subset.slots[chosen])
        scores = caption_scores(part.captions, caption(m, words, part, 1, config.max_output), part.slots)
        return {"val_loss": teacher_forced_loss(m, words, subset), **{f"val_{k}": v for k, v in scores.items()}}

    batches = random_batches(parts.draw, lambda part: part.batch(np.arange(len(part)), words), batch_size,
                             config.train.seed + 1000 * rank)
    split = Split(parts.record, parts.test)
    return VideoCaptionJob(model, step_fn, batches, evaluate, split, words, parts.validation, config, parts.draw,
                           parts.notes)


# -- after training ---------------------------------------------------------------------------------


def plot_attention_over_frames(frames: np.ndarray, weights: np.ndarray, words: list[str], path: str | Path,
                               title: str) -> Path | None:
    """The clip's frames ``(T, C, H, W)`` in a row, and under them the decoder's attention
    ``(L, T)``: one row per written word."""
    plt = pyplot()
    if plt is None:
        return None
    T, L = len(frames), len(words)
    figure = plt.figure(figsize=(max(6, 0.6 * T), 1.2 + 0.28 * L))
    grid = figure.add_gridspec(2, T, height_ratios=[1.0, max(1.0, 0.28 * L)])
    for t in range(T):
        axis = figure.add_subplot(grid[0, t])
        axis.imshow(frames[t][0] if frames.shape[1] == 1 else frames[t].transpose(1, 2, 0), cmap="gray",
                    vmin=0, vmax=1)
        axis.axis("off")
    axis = figure.add_subplot(grid[1, :])
    axis.imshow(weights, cmap="Greys", vmin=0, vmax=max(float(weights.max()), 1e-9), aspect="auto")
    axis.set_yticks(range(L), words)
    axis.set_xticks(range(T), [str(t + 1) for t in range(T)])
    axis.set_xlabel("frame")
    figure.suptitle(title)
    return save_figure(figure, path)


def report(job: VideoCaptionJob, run_dir: Path) -> dict[str, Any]:
    """Beam-search captions of the test clips (their one read): BLEU, exact match, slot accuracies,
    ``captions.tsv`` and ``attention.png``."""
    config = job.config
    test = job.split.test.open()
    hypotheses = caption(job.model, job.words, test, config.beam, config.max_output)
    metrics = {f"test_{k}": v for k, v in caption_scores(test.captions, hypotheses, test.slots).items()}
    path = run_dir / "captions.tsv"
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["reference", "caption"])
        writer.writerows(zip(test.captions, hypotheses))
    files = [str(path)]
    clips, lengths = test.frames(np.arange(1))
    job.model.eval()
    with torch.no_grad():
        ids, attention = greedy_decode(job.model, clips.to(model_device(job.model)), lengths,
                                       job.words.bos, job.words.end, config.max_output)
    written = job.words.decode(ids[0]).split()
    if attention is not None and written:
        png = plot_attention_over_frames(test.clips[0, : int(lengths[0])], attention[: len(written), :, 0].cpu().numpy(),
                                         written, run_dir / "attention.png", "attention over the frames, word by word")
        files += [str(png)] if png else []
    examples = "\n".join(f"{h}   (reference: {r})" for r, h in list(zip(test.captions, hypotheses))[:5])
    note = "the captions are templated: the slot accuracies say what the model saw" if test.slots is not None else ""
    return {"metrics": metrics, "files": files, "text": (note + "\n" if note else "") + examples}


def baselines(job: VideoCaptionJob) -> Candidates:
    """The most frequent training caption; slot classifiers without a language model (Moving MNIST)."""
    config = job.config

    def most_frequent() -> dict[str, float]:
        seen = job.draw(2000, np.random.default_rng(config.train.seed)).captions
        common = Counter(seen).most_common(1)[0][0]
        test = job.split.test.open()
        return {f"test_{k}": v for k, v in caption_scores(test.captions, [common] * len(test), test.slots).items()}

    def slot_classifiers() -> dict[str, float]:
        num_digits = job.validation.slots.shape[1]
        sizes = [10, len(MOTION_NAMES)] * num_digits
        model = SlotClassifier(job.validation.clips.shape[2], sizes, config.model)

        def make(part: CaptionPart) -> tuple[Tensor, Tensor, Tensor]:
            clips, lengths = part.frames(np.arange(len(part)))
            return clips, lengths, torch.from_numpy(part.slots.reshape(len(part), -1))

        def slot_loss(m: nn.Module, batch: tuple[Tensor, Tensor, Tensor]) -> Tensor:
            clips, lengths, targets = batch
            return sum(F.cross_entropy(logits, targets[:, k]) for k, logits in enumerate(m(clips, lengths)))

        def step_fn(m: nn.Module, batch: tuple[Tensor, Tensor, Tensor], carry: Any) -> StepOutput:
            return StepOutput(slot_loss(m, batch))

        def predicted(m: nn.Module, part: CaptionPart) -> list[str]:
            m.eval()
            with torch.no_grad():
                clips, lengths = part.frames(np.arange(len(part)))
                slots = torch.stack([logits.argmax(-1) for logits in m(clips, lengths)], dim=1).view(len(part), -1, 2)
            m.train()
            return [video.caption_of(s[:, 0].tolist(), [MOTION_NAMES[i] for i in s[:, 1].tolist()]) for s in slots]

        def evaluate(m: nn.Module) -> dict[str, float]:
            m.eval()
            with torch.no_grad():
                loss = slot_loss(m, make(job.validation)).item()  # summed over the slots
            m.train()
            scores = caption_scores(job.validation.captions, predicted(m, job.validation), job.validation.slots)
            return {"val_loss": loss, "val_slot_accuracy": scores["slot_accuracy"]}

        batches = random_batches(job.draw, make, config.train.batch_size, config.train.seed)
        with tempfile.TemporaryDirectory() as folder:
            fit(model, step_fn, batches, dataclasses.replace(config.train, progress=False), run_dir=folder,
                evaluate=evaluate)
        test = job.split.test.open()
        return {f"test_{k}": v for k, v in caption_scores(test.captions, predicted(model, test), test.slots).items()}

    if job.validation.slots is None:
        return Candidates({"most frequent caption": most_frequent},
                          {"slot classifiers": "your captions have no slots to classify"})
    return Candidates({"most frequent caption": most_frequent, "slot classifiers (no language model)": slot_classifiers})


def caption_clips(run_dir: str | Path, paths: list[str | Path], beam: int | None = None,
                  allow_unfinished: bool = False) -> list[str]:
    """``rnnkit caption`` for a captioning run: a caption for each clip at ``paths`` (video
    files or folders of numbered frames), read as the run read its clips."""
    if not paths:
        raise ValueError("expected at least one clip (--clip PATH: a video file or a folder of numbered frames)")
    config = run.load_finished_run(run_dir, "video_caption", "video captioning", ("vocab.json",), allow_unfinished)
    weights = trained_weights(run_dir)
    vocabulary = Vocabulary.load(Path(run_dir) / "vocab.json")
    words = Words(vocabulary)
    data = config.data
    frames = [video.read_clip(Path(p), (data.size, data.size), data.channels, data.max_frames) for p in paths]
    padded, lengths = every_kth_frame(*video.Clips(frames, [Path(p).stem for p in paths]).padded(), data.frame_step)
    model = build_captioner(data.channels, len(vocabulary), config.model)
    run.load_weights(model, weights, run_dir)
    return caption(model, words, CaptionPart(padded, lengths, [""] * len(paths)), beam or config.beam,
                   config.max_output)


def export_spec(job: VideoCaptionJob, streaming: bool) -> ExportSpec:
    """``rnnkit export``: the clip encoder (frames and lengths -> the memory and the decoder's first
    state) or, with ``streaming``, one decoder step (the previous word -> the next one's logits)."""
    data = job.config.data

    def frames(b: int, t: int) -> Tensor:
        return torch.rand(t, b, data.channels, data.size, data.size, generator=example_generator(b, t))

    spec = seq2seq_spec(job.model, streaming, frames, {0: "time", 1: "batch"}, "frames", "the caption vocabulary")
    spec.describe["frames"] = "frames in [0, 1] (time, batch, channels, size, size), as the task loads them (resized, /255)"
    spec.extra = {"words": job.words.vocabulary.tokens, "bos": job.words.bos, "end": job.words.end,
                  "every_kth_frame": data.frame_step}
    return spec


TASK = Task(VideoCaptionConfig, build, report, baselines=baselines, export=export_spec,
            search_space={"model.recurrent.hidden_size": None, "model.recurrent.cell": None,
                          "model.recurrent.num_layers": None,
                          "model.seq2seq.recurrent.hidden_size": {"low": 32, "high": 256, "log": True, "int": True}})
