"""Speech recognition with CTC: audio files in, their transcripts out.

Data: spoken digit strings synthesized with espeak-ng and sox (``name: digits``, see
:mod:`rnnkit.tasks.speech.digits`: unseen voices in test, each test sentence at several SNRs), or your
recordings (``path``): a folder with ``transcripts.csv`` (or the CSV itself) of WAV paths and
texts, with optional ``speaker``, ``condition`` and ``part`` columns. Without a part column the
split is by speaker when there is one (whole speakers held out), else by utterance.

Front end (:mod:`rnnkit.data.audio`): log-mel filterbanks, optional deltas, per-utterance
normalisation, computed once per file at build. Model (:mod:`rnnkit.models.acoustic`): optional
SpecAugment, frame stacking, a stacked bidirectional LSTM/GRU, a softmax over the labels and the
CTC blank; loss ``torch.nn.functional.ctc_loss``. Labels are words (``level: word``, the digits'
choice) or characters of the training transcripts; a label unseen in training is ``<unk>``.

During training: validation CTC loss and the greedy decode's word error rate on up to
``data.eval_size`` validation utterances (early stopping watches ``val_wer``). The test part is
sealed (its features are not even computed before the report). After training: the test part
decoded once with prefix beam search (``beam``; 1 is greedy), word and sentence error
rates with jiwer's alignments, overall and per condition, ``predictions.csv``, ``labels.json``
and ``posteriors.png`` (a test utterance's log-mels above its label posteriors).
:func:`transcribe_files` is ``rnnkit transcribe RUN_DIR a.wav``.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.audio import FeatureConfig, Transcripts, features_of, mel_filterbank, read_transcripts, read_wav
from rnnkit.data.pairs import group_split
from rnnkit.data.text import Vocabulary
from rnnkit.extras import require
from rnnkit.files import atomic_open
from rnnkit.functional.ctc import ctc_beam_decode, ctc_greedy
from rnnkit.models.acoustic import AcousticModel
from rnnkit.config import to_dict
from rnnkit.tasks.core import run
from rnnkit.tasks.core.export import ExportSpec, example_generator, recurrent_spec, sequence_spec
from rnnkit.tasks.core.parts import Sealed, Split, describe
from rnnkit.tasks.core.plotting import pyplot, save_figure
from rnnkit.tasks.core.registry import Task
from rnnkit.tasks.speech.config import SpeechConfig, SpeechDataConfig
from rnnkit.tasks.speech.digits import synthesize_digits
from rnnkit.training import RandomBatches, StepOutput, model_device, trained_weights


def prepare(config: SpeechConfig) -> None:
    """Synthesize the digit set (once, cached) on the main process."""
    if config.data.name == "digits":
        synthesize_digits(config.data.digits, progress=config.train.progress)


def load_transcripts(data: SpeechDataConfig) -> Transcripts:
    if data.name == "digits":
        return read_transcripts(synthesize_digits(data.digits, progress=False))
    return read_transcripts(data.path, data.path_column, data.text_column, data.speaker_column,
                            data.condition_column, data.part_column)


def split(transcripts: Transcripts, data: SpeechDataConfig) -> dict[str, Transcripts]:
    if transcripts.parts is not None:
        parts = {p: [i for i, q in enumerate(transcripts.parts) if q == p] for p in ("train", "val", "test")}
    else:
        keys = transcripts.speakers or [str(i) for i in range(len(transcripts))]
        parts = group_split(keys, data.validation_fraction, data.test_fraction, data.seed)
    empty = [p for p, rows in parts.items() if not rows]
    if empty:
        raise ValueError(f"data: no {' / '.join(empty)} utterances ({ {p: len(r) for p, r in parts.items()} }); "
                         f"expected more speakers or utterances, or larger fractions")
    return {p: transcripts.subset(rows) for p, rows in parts.items()}


class Labels:
    """Transcripts <-> CTC label ids: the vocabulary's ids shifted by one, 0 the blank."""

    def __init__(self, vocabulary: Vocabulary, lowercase: bool) -> None:
        self.vocabulary, self.lowercase = vocabulary, lowercase

    def __len__(self) -> int:
        return len(self.vocabulary) + 1

    def encode(self, text: str) -> list[int]:
        return [i + 1 for i in self.vocabulary.encode(text.lower() if self.lowercase else text)]

    def decode(self, ids: Sequence[int]) -> str:
        return self.vocabulary.decode([i - 1 for i in ids])


@dataclass
class Utterances:
    features: list[Tensor]  # (T_i, F)
    labels: list[Tensor]  # (L_i,)

    def batch(self, index: Sequence[int]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """features ``(T, B, F)`` zero-padded, their lengths, the labels concatenated, their lengths."""
        chosen = [self.features[i] for i in index]
        labels = [self.labels[i] for i in index]
        return (nn.utils.rnn.pad_sequence(chosen), torch.tensor([len(f) for f in chosen]),
                torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long),
                torch.tensor([len(lab) for lab in labels]))


def compute_features(paths: Sequence[Path], config: FeatureConfig, progress: bool = False) -> list[Tensor]:
    from tqdm import tqdm

    filters = mel_filterbank(config.sample_rate, config.fft_size, config.n_mels, config.f_min, config.f_max,
                             config.mel_scale)
    return [features_of(torch.from_numpy(_long_enough(p, read_wav(p, config.sample_rate), config)), config, filters)
            for p in tqdm(paths, desc="features", unit="file", disable=not progress)]


def _long_enough(path: Path, samples: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """At least one analysis frame (``frame_ms``) of audio: a shorter file has no features."""
    if len(samples) < config.fft_size:
        raise ValueError(f"{path}: {len(samples)} samples ({1000 * len(samples) / config.sample_rate:.1f} ms at "
                         f"{config.sample_rate} Hz); expected at least {config.fft_size} ({config.frame_ms:g} ms "
                         f"frames)")
    return samples


@dataclass
class SpeechJob:
    model: AcousticModel
    step_fn: Any
    batches: RandomBatches
    evaluate: Any
    split: Split  # the test part, sealed: (Transcripts, Utterances)
    labels: Labels
    parts: dict[str, Transcripts]  # train and val
    utterances: dict[str, Utterances]  # train and val
    config: SpeechConfig
    train_size: int  # training utterances that fit: what ``train.epochs`` counts passes over

    @property
    def artifacts(self) -> dict[str, bytes]:
        """Written beside the weights before training and bound to them: the output labels."""
        return {"labels.json": self.labels.vocabulary.to_json().encode()}


def ctc_loss(model: nn.Module, batch: tuple[Tensor, ...]) -> Tensor:
    features, lengths, labels, label_lengths = batch
    log_probs, out_lengths = model(features, lengths)
    return F.ctc_loss(log_probs.float(), labels, out_lengths, label_lengths, blank=0, reduction="mean",
                      zero_infinity=True)


def build(config: SpeechConfig, rank: int = 0) -> SpeechJob:
    data = config.data
    parts = split(load_transcripts(data), data)
    test = parts.pop("test")
    texts = [t.lower() if data.lowercase else t for t in parts["train"].texts]
    labels = Labels(Vocabulary.build(" ".join(texts), data.level), data.lowercase)
    progress = config.train.progress and rank == 0

    def utterances_of(part: Transcripts, show: bool) -> Utterances:
        return Utterances(compute_features(part.paths, config.features, show),
                          [torch.tensor(labels.encode(t), dtype=torch.long) for t in part.texts])

    utterances = {name: utterances_of(part, progress) for name, part in parts.items()}
    record = {name: describe([str(p) for p in part.paths], speakers=len(set(part.speakers or [])))
              for name, part in (("train", parts["train"]), ("validation", parts["val"]), ("test", test))}
    sealed = Sealed(lambda: (test, utterances_of(test, False)))
    train = utterances["train"]
    k = config.model.subsample
    fits = np.array([i for i, (f, y) in enumerate(zip(train.features, train.labels))
                     if -(-len(f) // k) >= len(y) > 0])
    if len(fits) < len(train.features):
        warnings.warn(f"{len(train.features) - len(fits)} of {len(train.features)} training utterances are left out: "
                      f"empty transcripts, or fewer than one frame per label after subsampling by {k}", stacklevel=2)
    if len(fits) == 0:
        raise ValueError(f"data: no training utterance has at least one frame per label after subsampling by {k}; "
                         f"expected a smaller model.subsample or a finer features.hop_ms")
    model = AcousticModel(config.features.size, len(labels), config.model)

    def step_fn(m: nn.Module, batch: tuple[Tensor, ...], carry: Any) -> StepOutput:
        return StepOutput(ctc_loss(m, batch))

    def evaluate(m: nn.Module) -> dict[str, float]:
        val, part = utterances["val"], parts["val"]
        chosen = list(range(min(len(part), data.eval_size)))
        loss = mean_ctc_loss(m, val, chosen)
        hypotheses = transcribe_features(m, labels, [val.features[i] for i in chosen], beam=1)
        scores = error_rates([part.texts[i] for i in chosen], hypotheses, data.lowercase)
        return {"val_loss": loss, "val_wer": scores["wer"], "val_ser": scores["ser"]}

    batch_size = config.train.batch_size
    batches = RandomBatches(lambda g: train.batch(fits[torch.randint(0, len(fits), (batch_size,), generator=g)
                                                       .numpy()].tolist()),
                            seed=config.train.seed + 1000 * rank)
    return SpeechJob(model, step_fn, batches, evaluate, Split(record, sealed), labels, parts, utterances, config,
                     len(fits))


def mean_ctc_loss(model: nn.Module, utterances: Utterances, index: Sequence[int], batch_size: int = 64) -> float:
    """The CTC loss per utterance (mean over ``index``), eval mode."""
    device = model_device(model)
    was_training = model.training
    model.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(index), batch_size):
            chunk = index[start : start + batch_size]
            features, lengths, labels, label_lengths = (t.to(device) for t in utterances.batch(chunk))
            log_probs, out_lengths = model(features, lengths)
            total += F.ctc_loss(log_probs.float(), labels, out_lengths, label_lengths, blank=0, reduction="sum",
                                zero_infinity=True).item()
    model.train(was_training)
    return total / max(len(index), 1)


def transcribe_features(model: AcousticModel, labels: Labels, features: Sequence[Tensor], beam: int = 1,
                        batch_size: int = 64) -> list[str]:
    """Texts for feature sequences ``(T_i, F)``: greedy (``beam`` 1) or prefix beam search."""
    device = model_device(model)
    was_training = model.training
    model.eval()
    texts: list[str] = []
    with torch.no_grad():
        for start in range(0, len(features), batch_size):
            chunk = features[start : start + batch_size]
            padded = nn.utils.rnn.pad_sequence(list(chunk)).to(device)
            log_probs, lengths = model(padded, torch.tensor([len(f) for f in chunk], device=device))
            ids = ctc_greedy(log_probs, lengths) if beam == 1 else ctc_beam_decode(log_probs.cpu(), lengths, beam)
            texts += [labels.decode(i) for i in ids]
    model.train(was_training)
    return texts


def error_rates(references: Sequence[str], hypotheses: Sequence[str], lowercase: bool = True) -> dict[str, float]:
    """Word error rate (substitutions + deletions + insertions over the reference words, summed
    over utterances, with jiwer's alignment) and sentence error rate (utterances not exactly right)."""
    jiwer = require("jiwer", "word error rates", extra="speech")

    errors = words = wrong = 0
    for reference, hypothesis in zip(references, hypotheses):
        reference = reference.lower() if lowercase else reference
        count = len(reference.split())
        if not hypothesis.split():
            distance = count
        elif count == 0:
            distance = len(hypothesis.split())
        else:
            result = jiwer.process_words(reference, hypothesis)
            distance = result.substitutions + result.deletions + result.insertions
        errors, words, wrong = errors + distance, words + count, wrong + (distance > 0)
    return {"wer": errors / max(words, 1), "ser": wrong / max(len(references), 1)}


def condition_order(condition: str) -> tuple[int, float, str]:
    """``clean`` first, then SNRs from the highest (the least noise), then any other name."""
    try:
        return (1, -float(condition), condition)
    except ValueError:
        return (0 if condition == "clean" else 2, 0.0, condition)


def plot_posteriors(features: Tensor, log_probs: Tensor, labels: Labels, path: str | Path, title: str
                    ) -> Path | None:
    """Log-mels ``(T, F)`` above the label posteriors ``(T', V)`` (the blank in grey)."""
    plt = pyplot()
    if plt is None:
        return None
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=False)
    top.imshow(features.T.cpu().numpy(), origin="lower", aspect="auto", cmap="magma")
    top.set_ylabel("feature")
    top.set_xlabel("frame")
    top.set_title(title, fontsize=10)
    probs = log_probs.exp().cpu().numpy()
    steps = np.arange(len(probs))
    bottom.plot(steps, probs[:, 0], color="0.75", label="blank")
    for label in range(1, probs.shape[1]):
        if probs[:, label].max() > 0.3:
            bottom.plot(steps, probs[:, label], label=labels.decode([label]) or "<unk>")
    bottom.set_xlabel("output step")
    bottom.set_ylabel("posterior")
    bottom.set_xlim(0, max(len(probs) - 1, 1))
    bottom.legend(fontsize=7, ncol=6, loc="upper right")
    return save_figure(figure, path)


def report(job: SpeechJob, run_dir: Path) -> dict[str, Any]:
    """After training: beam-search test error rates (overall and per condition), predictions.csv,
    posteriors.png (labels.json is beside the weights already)."""
    config, data = job.config, job.config.data
    test, test_utterances = job.split.test.open()
    hypotheses = transcribe_features(job.model, job.labels, test_utterances.features, config.beam)
    metrics = {f"test_{k}": v for k, v in error_rates(test.texts, hypotheses, data.lowercase).items()}
    if test.conditions is not None:
        for condition in sorted(set(test.conditions), key=condition_order):
            chosen = [i for i, c in enumerate(test.conditions) if c == condition]
            scores = error_rates([test.texts[i] for i in chosen], [hypotheses[i] for i in chosen], data.lowercase)
            metrics.update({f"test_{k}_{condition}": v for k, v in scores.items()})
    path = run_dir / "predictions.csv"
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "speaker", "condition", "reference", "output"])
        for i, (file, reference, output) in enumerate(zip(test.paths, test.texts, hypotheses)):
            writer.writerow([str(file), test.speakers[i] if test.speakers else "",
                             test.conditions[i] if test.conditions else "", reference, output])
    files = [str(path), str(run_dir / "labels.json")]
    features = test_utterances.features[0]
    device = model_device(job.model)
    job.model.eval()
    with torch.no_grad():
        log_probs, _ = job.model(features.unsqueeze(1).to(device), torch.tensor([len(features)], device=device))
    png = plot_posteriors(features, log_probs[:, 0], job.labels, run_dir / "posteriors.png",
                          f"{test.paths[0].name}: reference '{test.texts[0]}', output '{hypotheses[0]}'")
    files += [str(png)] if png else []
    examples = "\n".join(f"{p.name}: {h!r}   (reference: {r!r})"
                         for p, r, h in list(zip(test.paths, test.texts, hypotheses))[:5])
    return {"metrics": metrics, "files": files, "text": examples}


def load_transcriber(run_dir: str | Path, allow_unfinished: bool = False
                     ) -> tuple[AcousticModel, Labels, SpeechConfig]:
    """A trained run's acoustic model with its labels (no training data needed). The weights are
    loaded first: they check that labels.json did not change."""
    config = run.load_finished_run(run_dir, "speech", "speech recognition", ("labels.json",), allow_unfinished)
    weights = trained_weights(run_dir)
    labels = Labels(Vocabulary.load(Path(run_dir) / "labels.json"), config.data.lowercase)
    model = AcousticModel(config.features.size, len(labels), config.model)
    run.load_weights(model, weights, run_dir)
    model.eval()
    return model, labels, config


def transcribe_files(model: AcousticModel, labels: Labels, config: SpeechConfig, paths: Sequence[str | Path],
                     beam: int | None = None) -> list[str]:
    """Transcripts of WAV files (resampled to the model's rate when they differ)."""
    features = compute_features([Path(p) for p in paths], config.features)
    return transcribe_features(model, labels, features, config.beam if beam is None else beam)


def export_spec(job: Any, streaming: bool) -> ExportSpec:
    """``rnnkit export``: ``(features, lengths) -> (log_probs, lengths)`` (CTC's per-frame label
    log probabilities, ``subsample`` feature frames per output frame); with ``streaming``, one output
    frame per call from ``subsample`` stacked feature frames, the state in and out (a
    unidirectional model only)."""
    model, config = job.model, job.config
    F_, k = config.features.size, config.model.subsample
    labels = {"labels": "labels.json's symbols; column 0 is CTC's blank"}
    if streaming:
        if model.recurrent.bidirectional:
            raise ValueError("the acoustic model is bidirectional: it reads whole utterances; export it without "
                             "--streaming, or train a unidirectional one (model.recurrent.bidirectional: false)")

        def step(x: Tensor, state: Any) -> tuple[Tensor, Any]:
            hidden, state = model.recurrent.step(x, state)
            return torch.log_softmax(model.head(hidden), dim=-1), state

        def frames(b: int, t: int) -> Tensor:
            return torch.randn(b, k * F_, generator=example_generator(b, t))

        spec = recurrent_spec(model, model.recurrent, step, frames, "frames", {0: "batch"}, "log_probs", 1,
                              {"frames": f"{k} feature frames stacked (batch, {k} x {F_}), as the run computes them",
                               "log_probs": "label log probabilities of this output frame (batch, labels)", **labels})
    else:
        def features(b: int, t: int) -> Tensor:
            return torch.randn(t, b, F_, generator=example_generator(b, t))

        spec = sequence_spec(model, features, "features", {0: "time", 1: "batch"}, ["log_probs", "out_lengths"], 24,
                             {"features": f"feature frames (time, batch, {F_}), as the run computes them",
                              "log_probs": "label log probabilities (time / subsample, batch, labels)",
                              "out_lengths": "each utterance's output frames (batch,)", **labels})
    spec.extra = {"features": to_dict(config.features), "subsample": k}
    return spec


TASK = Task(SpeechConfig, build, report, prepare=prepare, export=export_spec)
