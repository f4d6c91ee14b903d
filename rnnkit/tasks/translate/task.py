"""Sequence to sequence: grapheme-to-phoneme conversion and translation with an attentional
encoder-decoder (:mod:`rnnkit.models.seq2seq`).

Data: the CMU Pronouncing Dictionary (``name: cmudict``: letters to phonemes, split by word,
a prediction correct when it equals any of the word's pronunciations), two Bibles aligned by
verse (``name: bible``: English to Spanish by default, whole books held out), or your pairs: a
TSV of ``source<TAB>target`` or two aligned files. Each side gets its own vocabulary at its own level
(``char``, ``word`` or ``bpe``), built from the training pairs; the target side adds ``<bos>``
and ``</s>``.

Training: teacher forcing with label smoothing (``label_smoothing``) and optionally scheduled
sampling (``sampling``), over batches of whole pairs padded to the longest, the loss over each
target's valid tokens only. During training the validation loss and a greedy decode of
``data.eval_size`` validation sources are scored (early stopping and the kept weights are chosen
there); the test pairs are sealed, and after training the report decodes them once with beam
search (``beam``, ``length_penalty``).

Metrics (``metric: auto`` picks by data): ``g2p`` = phoneme error rate (edit distance to the
closest pronunciation over its length, summed over words) and word error rate (no
pronunciation matched exactly), with jiwer's alignments; ``bleu`` = BLEU and chrF with
sacrebleu. After training: ``predictions.tsv``, ``attention.png`` (the weights of the first
test source), ``source_vocab.json``, ``target_vocab.json``. :func:`translate_run` is
``rnnkit translate RUN_DIR``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.config import dump_yaml, to_dict
from rnnkit.data.pairs import Pairs, group_split, load_bible, load_cmudict, read_pairs
from rnnkit.data.text import EOS, Vocabulary, tokenize
from rnnkit.extras import require
from rnnkit.files import atomic_open
from rnnkit.models.seq2seq import Seq2Seq, beam_search, greedy_decode, sequence_loss
from rnnkit.tasks.core import run
from rnnkit.tasks.core.baselines import Candidates
from rnnkit.tasks.core.export import ExportSpec, example_generator, seq2seq_spec
from rnnkit.tasks.core.metrics import bleu_scores
from rnnkit.tasks.core.parts import Sealed, Split, describe
from rnnkit.tasks.core.plotting import pyplot, save_figure
from rnnkit.tasks.core.registry import Task
from rnnkit.tasks.translate import phonetisaurus
from rnnkit.tasks.translate.config import TranslateConfig, TranslateDataConfig
from rnnkit.training import RandomBatches, StepOutput, model_device, trained_weights

BOS, END = "<bos>", "</s>"


def prepare(config: TranslateConfig) -> None:
    """Align and cache the Bible (once) on the main process, before any rank reads it."""
    if config.data.name == "bible":
        load_bible(config.data.source_module, config.data.target_module)


def load_pairs(config: TranslateDataConfig) -> Pairs:
    if config.name == "cmudict":
        return load_cmudict(config.stress)
    if config.name == "bible":
        return load_bible(config.source_module, config.target_module)
    pairs = read_pairs(config.path, config.target_path, config.separator)
    if len(pairs) < 3:
        raise ValueError(f"data: expected at least 3 pairs (train, validation, test), got {len(pairs)}")
    return pairs


def metric_of(config: TranslateConfig) -> str:
    return config.metric if config.metric != "auto" else ("g2p" if config.data.name == "cmudict" else "bleu")


@dataclass
class Sides:
    """The two vocabularies and the special target ids."""

    source: Vocabulary
    target: Vocabulary  # the target vocabulary's tokens, then <bos> and </s>
    bos: int
    end: int

    @classmethod
    def build(cls, pairs: Pairs, data: TranslateDataConfig) -> Sides:
        sources = [s.lower() for s in pairs.sources] if data.lowercase else pairs.sources
        if data.shared_vocabulary is True:  # one vocabulary: a source id is the target id of the same token
            base = Vocabulary.build("\n".join([*sources, *pairs.targets]), data.target_level, data.min_count,
                                    data.target_max_vocab)
            sides = cls.from_target(base, base)
            return cls(sides.target, sides.target, sides.bos, sides.end)
        source = Vocabulary.build("\n".join(sources), data.source_level, data.min_count, data.source_max_vocab)
        base = Vocabulary.build("\n".join(pairs.targets), data.target_level, data.min_count, data.target_max_vocab)
        return cls.from_target(source, base)

    @classmethod
    def from_target(cls, source: Vocabulary, base: Vocabulary) -> Sides:
        tokens = [t for t in base.tokens if t not in (BOS, END)]
        target = Vocabulary(tokens + [BOS, END], base.level, base.tokenizer)
        return cls(source, target, len(tokens), len(tokens) + 1)

    def encode_source(self, text: str, lowercase: bool) -> list[int]:
        return self.source.encode(text.lower() if lowercase else text) or [0]

    def decode_target(self, ids: Sequence[int]) -> str:
        return self.target.decode([i for i in ids if i < self.bos])


@dataclass
class EncodedPairs:
    sources: list[Tensor]  # (S_i,)
    targets: list[Tensor]  # (T_i,) ending with </s>

    def batch(self, index: np.ndarray, bos: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """source ``(S, B)``, source lengths, target inputs ``(T, B)`` (``<bos>`` first), target outputs
        ``(T, B)``, target lengths; zero-padded."""
        sources = [self.sources[i] for i in index]
        targets = [self.targets[i] for i in index]
        inputs = [torch.cat([torch.tensor([bos]), t[:-1]]) for t in targets]
        pad = nn.utils.rnn.pad_sequence
        return (pad(sources), torch.tensor([len(s) for s in sources]), pad(inputs), pad(targets),
                torch.tensor([len(t) for t in targets]))


@dataclass
class TranslateJob:
    model: Seq2Seq
    step_fn: Any
    batches: RandomBatches
    evaluate: Any
    split: Split  # the test pairs, sealed
    sides: Sides
    parts: dict[str, Pairs]  # train and val
    encoded: dict[str, EncodedPairs]
    config: TranslateConfig
    train_size: int  # training pairs within data.max_length: what ``train.epochs`` counts passes over
    data_notes: list[str] = field(default_factory=list)  # for the data report

    @property
    def artifacts(self) -> dict[str, bytes]:
        """Written beside the weights before training and bound to them: the two vocabularies."""
        return {"source_vocab.json": self.sides.source.to_json().encode(),
                "target_vocab.json": self.sides.target.to_json().encode()}


SHARED = 0.5  # the share of the targets' tokens found among the sources' for one shared vocabulary


def shared_tokens(pairs: Pairs, level: str) -> float:
    """The share of the target side's tokens (at ``level``; characters for BPE) that occur among
    the source side's tokens."""
    if level == "bpe":
        return shared_characters(pairs)
    seen = {t for text in pairs.sources for t in tokenize(text, level)}
    tokens = [t for text in pairs.targets for t in tokenize(text, level) if not t.isspace() and t != EOS]
    return sum(t in seen for t in tokens) / max(len(tokens), 1)


def choose_shared_vocabulary(config: TranslateConfig, train: Pairs) -> str | None:
    """With ``data.shared_vocabulary: auto``: share one vocabulary (with tied embeddings and
    copying, when the model attends) if at least :data:`SHARED` of the targets' tokens occur in
    the sources. Sets the config in place (config.yaml records it); returns what was chosen."""
    data, model = config.data, config.model
    if data.shared_vocabulary == "auto":
        share = shared_tokens(train, data.target_level)
        data.shared_vocabulary = share >= SHARED
        why = f"{share:.0%} of the target {data.target_level} tokens occur in the sources"
    else:
        why = "as set"
    if not data.shared_vocabulary:
        return f"vocabularies: one per side ({why})" if why != "as set" else None
    model.tie_embeddings = True
    model.copy = model.copy or model.attention != "none"
    return (f"vocabularies: one for both sides at the {data.target_level} level, tied embeddings"
            f"{', copying (pointer-generator)' if model.copy else ''} ({why})")


def build(config: TranslateConfig, rank: int = 0) -> TranslateJob:
    data = config.data
    pairs = load_pairs(data)
    keys = pairs.groups if pairs.groups is not None else [str(i) for i in range(len(pairs))]
    rows = group_split(keys, data.validation_fraction, data.test_fraction, data.seed, data.validation_groups,
                       data.test_groups)
    if min(len(r) for r in rows.values()) == 0:
        raise ValueError(f"data: a part is empty ({ {k: len(v) for k, v in rows.items()} }); expected more pairs "
                         f"or larger fractions")
    parts = {name: pairs.subset(rows[name]) for name in ("train", "val")}
    split = Split({name: describe(sorted({keys[i] for i in rows[part]}), pairs=len(rows[part]))
                   for name, part in (("train", "train"), ("validation", "val"), ("test", "test"))},
                  Sealed(lambda: pairs.subset(rows["test"])))
    shared_note = choose_shared_vocabulary(config, parts["train"])
    sides = Sides.build(parts["train"], data)

    def encode(part: Pairs) -> EncodedPairs:
        return EncodedPairs([torch.tensor(sides.encode_source(s, data.lowercase)) for s in part.sources],
                            [torch.tensor(sides.target.encode(t) + [sides.end]) for t in part.targets])

    encoded = {name: encode(part) for name, part in parts.items()}
    train = encoded["train"]
    keep = np.array([i for i in range(len(train.sources))
                     if len(train.sources[i]) <= data.max_length and len(train.targets[i]) <= data.max_length])
    if len(keep) == 0:
        raise ValueError(f"data.max_length: every training pair is longer than {data.max_length} tokens")
    model = Seq2Seq(len(sides.source), len(sides.target), config.model)
    generator = torch.Generator().manual_seed(config.train.seed + 7 + 1000 * rank)

    def step_fn(m: nn.Module, batch: tuple[Tensor, ...], carry: Any) -> StepOutput:
        source, source_lengths, inputs, targets, target_lengths = batch
        logits = m(source, source_lengths, inputs, sampling=config.sampling,
                   generator=generator if source.device.type == "cpu" else None)
        return StepOutput(sequence_loss(logits, targets, target_lengths, config.label_smoothing))

    def evaluate(m: nn.Module) -> dict[str, float]:
        part = parts["val"]
        index = np.arange(len(part))
        scores = {"val_loss": teacher_forced_loss(m, encoded["val"], sides.bos)}
        subset = part.subset(index[: data.eval_size])
        hypotheses = decode(m, sides, subset.sources, config, beam=1)
        scores.update({f"val_{k}": v for k, v in score(metric_of(config), subset, hypotheses).items()})
        return scores

    batch_size = config.train.batch_size
    batches = RandomBatches(
        lambda g: train.batch(keep[torch.randint(0, len(keep), (batch_size,), generator=g).numpy()], sides.bos),
        seed=config.train.seed + 1000 * rank)
    notes = [f"pairs: {len(keep)} of {len(train.sources)} training pairs within data.max_length {data.max_length}",
             f"vocabulary: {len(sides.source)} source and {len(sides.target)} target tokens",
             *([shared_note] if shared_note else [])]
    return TranslateJob(model, step_fn, batches, evaluate, split, sides, parts, encoded, config, len(keep), notes)


def teacher_forced_loss(model: Seq2Seq, part: EncodedPairs, bos: int, batch_size: int = 256) -> float:
    """Mean cross-entropy per target token (no label smoothing) over a part."""
    device = model_device(model)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(part.sources), batch_size):
            source, lengths, inputs, targets, target_lengths = (
                t.to(device) for t in part.batch(np.arange(start, min(start + batch_size, len(part.sources))), bos))
            logits = model(source, lengths, inputs)
            tokens = int(target_lengths.sum())
            total += sequence_loss(logits, targets, target_lengths).item() * tokens
            count += tokens
    model.train(was_training)
    return total / count


def decode(model: Seq2Seq, sides: Sides, texts: Sequence[str], config: TranslateConfig, beam: int | None = None,
           batch_size: int = 128) -> list[str]:
    """Outputs for ``texts``: greedy (``beam`` 1) or beam search, in batches, eval mode."""
    beam = config.beam if beam is None else beam
    device = model_device(model)
    was_training = model.training
    model.eval()
    outputs: list[str] = []
    for start in range(0, len(texts), batch_size):
        ids = [torch.tensor(sides.encode_source(t, config.data.lowercase)) for t in texts[start : start + batch_size]]
        source = nn.utils.rnn.pad_sequence(ids).to(device)
        lengths = torch.tensor([len(i) for i in ids])
        limit = min(config.max_output, int(config.max_output_ratio * int(lengths.max())) + 1)
        blocking = config.no_repeat_ngram if isinstance(config.no_repeat_ngram, int) else 0
        if beam == 1:
            tokens, _ = greedy_decode(model, source, lengths, sides.bos, sides.end, limit, blocking)
        else:
            tokens = beam_search(model, source, lengths, sides.bos, sides.end, limit, beam, config.length_penalty,
                                 blocking)
        outputs += [sides.decode_target(t) for t in tokens]
    model.train(was_training)
    return outputs


def g2p_scores(sources: Sequence[str], references: Sequence[str], hypotheses: Sequence[str]) -> dict[str, float]:
    """PER and WER by word: a word's hypothesis is scored against the closest of its pronunciations
    (``sources`` repeat a word once per pronunciation; ``hypotheses`` align with ``sources``)."""
    jiwer = require("jiwer", "phoneme and word error rates")

    by_word: dict[str, tuple[list[str], str]] = {}
    for source, reference, hypothesis in zip(sources, references, hypotheses):
        by_word.setdefault(source, ([], hypothesis))[0].append(reference)
    errors = phonemes = wrong = 0
    for refs, hypothesis in by_word.values():
        best = None
        for ref in refs:
            if not hypothesis.strip():
                distance = len(ref.split())
            else:
                result = jiwer.process_words(ref, hypothesis)
                distance = result.substitutions + result.deletions + result.insertions
            if best is None or distance / len(ref.split()) < best[0] / best[1]:
                best = (distance, len(ref.split()))
        errors, phonemes, wrong = errors + best[0], phonemes + best[1], wrong + (best[0] > 0)
    return {"per": errors / phonemes, "wer": wrong / len(by_word)}


LENGTH_BUCKETS = ((0, 10), (10, 20), (20, 30), (30, 40), (40, 50), (50, 1000))  # source words: [low, high)


def bleu_by_length(sources: Sequence[str], references: Sequence[str], hypotheses: Sequence[str],
                   buckets: Sequence[tuple[int, int]] = LENGTH_BUCKETS) -> list[dict[str, Any]]:
    """Corpus BLEU of the pairs whose source has a length in words in each bucket ``[low, high)``:
    ``{"low", "high", "count", "bleu"}`` per bucket (BLEU 0 for an empty bucket)."""
    out = []
    for low, high in buckets:
        chosen = [i for i, source in enumerate(sources) if low <= len(source.split()) < high]
        bleu = bleu_scores([references[i] for i in chosen], [hypotheses[i] for i in chosen])["bleu"] if chosen else 0.0
        out.append({"low": low, "high": high, "count": len(chosen), "bleu": bleu})
    return out


def score(metric: str, part: Pairs, hypotheses: Sequence[str]) -> dict[str, float]:
    if metric == "g2p":
        return g2p_scores(part.sources, part.targets, hypotheses)
    return bleu_scores(part.targets, hypotheses)


def plot_attention(weights: np.ndarray, source: Sequence[str], output: Sequence[str], path: str | Path
                   ) -> Path | None:
    """A heat map of attention weights ``(T, S)``: output tokens down, source tokens across."""
    plt = pyplot()
    if plt is None:
        return None
    figure, axis = plt.subplots(figsize=(1.5 + 0.35 * len(source), 1.2 + 0.3 * len(output)))
    axis.imshow(weights, cmap="Greys", vmin=0, vmax=1, aspect="auto")
    axis.set_xticks(range(len(source)), source, rotation=90)
    axis.set_yticks(range(len(output)), output)
    axis.set_xlabel("source")
    axis.set_ylabel("output")
    return save_figure(figure, path)


def attention_map(model: Seq2Seq, sides: Sides, text: str, config: TranslateConfig) -> tuple[
        np.ndarray, list[str], list[str]]:
    """The greedy output of one source with its attention weights ``(T, S)`` and both sides' tokens."""
    if model.attention is None:
        raise ValueError("attention: this model has none (model.attention: none)")
    device = model_device(model)
    ids = sides.encode_source(text, config.data.lowercase)
    source = torch.tensor(ids, device=device).unsqueeze(1)
    was_training = model.training
    model.eval()
    tokens, weights = greedy_decode(model, source, torch.tensor([len(ids)]), sides.bos, sides.end,
                                    min(config.max_output, int(config.max_output_ratio * len(ids)) + 1))
    model.train(was_training)
    output = (token_labels(sides.target, tokens[0]) + [END])[: weights.shape[0]]  # no END if cut at the limit
    return weights[: len(output), :, 0].cpu().numpy(), token_labels(sides.source, ids), output


def token_labels(vocabulary: Vocabulary, ids: Sequence[int]) -> list[str]:
    """Each token as text for a plot's axis: BPE pieces decoded from their bytes, a space shown as ␣."""
    return [vocabulary.decode([i]).strip() or "␣" if vocabulary.level != "word" else vocabulary.tokens[i]
            for i in ids]


def report(job: TranslateJob, run_dir: Path) -> dict[str, Any]:
    """After training: beam-search test metrics (the test pairs' one read), predictions.tsv,
    attention.png (the vocabularies are beside the weights already)."""
    config = job.config
    blocking = choose_blocking(job, run_dir)
    test = job.split.test.open()
    hypotheses = decode(job.model, job.sides, test.sources, config)
    metrics = {f"test_{k}": v for k, v in score(metric_of(config), test, hypotheses).items()}
    path = run_dir / "predictions.tsv"
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["source", "reference", "output"])
        writer.writerows(zip(test.sources, test.targets, hypotheses))
    files = [str(path)] + [str(run_dir / name) for name in job.artifacts]
    if job.model.attention is not None:
        weights, source, output = attention_map(job.model, job.sides, test.sources[0], config)
        png = plot_attention(weights, source, output, run_dir / "attention.png")
        files += [str(png)] if png else []
    examples = "\n".join(f"{s}  ->  {h}   (reference: {r})"
                         for s, r, h in list(zip(test.sources, test.targets, hypotheses))[:5])
    return {"metrics": metrics, "files": files, "text": (blocking + "\n" if blocking else "") + examples}


BLOCKING = (0, 3, 4)  # the n-gram blocking that no_repeat_ngram: auto chooses among


def choose_blocking(job: TranslateJob, run_dir: Path) -> str | None:
    """With ``no_repeat_ngram: auto``: decode the validation sources (``data.eval_size`` of them)
    with each of :data:`BLOCKING` and keep the best by the validation metric (a tie: the smaller
    n), in the config and in the run's config.yaml; returns what was chosen and why."""
    config = job.config
    if config.no_repeat_ngram != "auto":
        return None
    part, metric = job.parts["val"], metric_of(config)
    subset = part.subset(np.arange(min(len(part), config.data.eval_size)))
    scores = {}
    for n in BLOCKING:
        config.no_repeat_ngram = n
        values = score(metric, subset, decode(job.model, job.sides, subset.sources, config))
        scores[n] = values["bleu"] if metric == "bleu" else -values["per"]
    chosen = max(BLOCKING, key=lambda n: (scores[n], -n))
    config.no_repeat_ngram = chosen
    dump_yaml(to_dict(config), run_dir / "config.yaml")
    name = "BLEU" if metric == "bleu" else "PER"
    shown = ", ".join(f"{n or 'off'}: {abs(v):.4g}" for n, v in scores.items())
    return f"no_repeat_ngram: {chosen or 'off'} (auto: validation {name} by n-gram blocking: {shown})"


def load_translator(run_dir: str | Path, allow_unfinished: bool = False) -> tuple[Seq2Seq, Sides, TranslateConfig]:
    """A trained run's model with its two vocabularies (no training data needed). The weights are
    loaded first: they check that neither vocabulary changed."""
    names = ("source_vocab.json", "target_vocab.json")
    config = run.load_finished_run(run_dir, "translate", "translate (sequence to sequence)", names, allow_unfinished)
    weights = trained_weights(run_dir)
    source, target = (Vocabulary.load(Path(run_dir) / name) for name in names)
    sides = Sides(source, target, len(target) - 2, len(target) - 1)
    model = Seq2Seq(len(sides.source), len(sides.target), config.model)
    run.load_weights(model, weights, run_dir)
    model.eval()
    return model, sides, config


def translate_texts(model: Seq2Seq, sides: Sides, config: TranslateConfig, texts: Sequence[str],
                    beam: int | None = None, attention_png: str | Path | None = None) -> list[str]:
    """Outputs for ``texts`` (beam search, the config's width unless ``beam``); with ``attention_png``,
    the attention heat map of the first text."""
    outputs = decode(model, sides, texts, config, beam)
    if attention_png is not None:
        weights, source, output = attention_map(model, sides, texts[0], config)
        plot_attention(weights, source, output, attention_png)
    return outputs


def translate_run(run_dir: str | Path, texts: Sequence[str], beam: int | None = None,
                  attention_png: str | Path | None = None, allow_unfinished: bool = False) -> list[str]:
    """``rnnkit translate``: :func:`translate_texts` with the model of a trained run."""
    return translate_texts(*load_translator(run_dir, allow_unfinished), texts, beam, attention_png)


SAME_SCRIPT = 0.8  # the share of the targets' characters that occur in the sources, for copying to make sense


def shared_characters(pairs: Pairs) -> float:
    """The share of the target side's characters (counted with repeats, spaces left out) that
    occur somewhere on the source side: near 1 for paraphrase or spelling modernization in one
    script, near 0 between scripts."""
    seen = set("".join(pairs.sources))
    characters = [c for text in pairs.targets for c in text if not c.isspace()]
    return sum(c in seen for c in characters) / max(len(characters), 1)


def translation_memory(train: Pairs, sources: Sequence[str]) -> list[str]:
    """The target of the most similar training source (cosine of character 1-3-gram TF-IDF), for
    each of ``sources``: a translation memory, the cheapest standard system."""
    text_features = require("sklearn.feature_extraction.text", "the translation-memory baseline", extra="text")
    vectorizer = text_features.TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
    memory = vectorizer.fit_transform(train.sources)
    nearest = []
    for start in range(0, len(sources), 512):  # (512, N) similarities at a time
        similarity = vectorizer.transform(list(sources[start : start + 512])) @ memory.T
        nearest += np.asarray(similarity.argmax(axis=1)).ravel().tolist()
    return [train.targets[i] for i in nearest]


def baselines(job: TranslateJob) -> Candidates:
    """Copying the source (when both sides are in one script) and a translation memory over the
    training pairs, scored on the test pairs like the model; for G2P also Phonetisaurus, the
    standard tool, trained on the same training pairs (where its package is installed)."""
    test, metric = job.split.test.open(), metric_of(job.config)

    def scored(outputs: Callable[[], Sequence[str]]) -> Callable[[], dict[str, float]]:
        return lambda: {f"test_{k}": v for k, v in score(metric, test, outputs()).items()}

    candidates = Candidates({"translation memory (nearest training source)":
                             scored(lambda: translation_memory(job.parts["train"], test.sources))})
    if metric == "g2p":
        why_not = phonetisaurus.environment()
        name = "Phonetisaurus (joint n-gram WFST)"
        if isinstance(why_not, str):
            candidates.skipped[name] = why_not
        else:
            candidates.run[name] = scored(lambda: phonetisaurus.train_and_apply(job.parts["train"], test.sources))
    shared = shared_characters(job.parts["train"])
    if shared >= SAME_SCRIPT:
        candidates.run["copy the source"] = scored(lambda: list(test.sources))
    else:
        candidates.skipped["copy the source"] = (f"the sides use different scripts ({shared:.0%} of the target "
                                                 f"characters occur in the sources)")
    return candidates


def export_spec(job: TranslateJob, streaming: bool) -> ExportSpec:
    """``rnnkit export``: the encoder (source ids of ``source_vocab.json`` and lengths -> the memory
    and the decoder's first state) or, with ``streaming``, one decoder step (the previous token of
    ``target_vocab.json`` -> the next one's logits): a search calls it once per output token."""
    V = job.model.source_embedding.num_embeddings

    def source(b: int, t: int) -> Tensor:
        return torch.randint(0, V, (t, b), generator=example_generator(b, t))

    spec = seq2seq_spec(job.model, streaming, source, {0: "time", 1: "batch"}, "source", "target_vocab.json")
    spec.extra = {"bos": job.sides.bos, "end": job.sides.end, "beam": job.config.beam,
                  "max_output": job.config.max_output}
    return spec


TASK = Task(TranslateConfig, build, report, prepare=prepare, baselines=baselines, export=export_spec)
