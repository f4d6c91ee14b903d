"""Language modelling and text generation.

The text (Shakespeare's complete works by default, or your files) is tokenized at the
character, word or subword level and split into three contiguous blocks (train | validation |
test); the vocabulary is built from the training block. Every evaluation during training
reads the validation block; the test block is sealed and scored once, by the report.
Training runs truncated BPTT over the training stream laid out as ``batch_size`` columns
(:func:`~rnnkit.training.bptt.batchify`), carrying the state from chunk to chunk. Metrics:
cross-entropy (nats per token), perplexity, and bits per character for character models.
After training, the run folder has ``vocab.json`` and ``sample.txt``; :func:`generate`
primes the model on a prompt in one pass and then streams one token per step with the
state carried (temperature, top-k and top-p sampling, seeded).

Library use::

    from rnnkit.tasks import language
    text = language.generate_run("runs/lm", prompt="ROMEO:", length=300, temperature=0.8, seed=1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.text import Level, Vocabulary, load_shakespeare, read_text, split_contiguous
from rnnkit.files import write_text
from rnnkit.functional import activation_regularization, temporal_activation_regularization
from rnnkit.models.language import LanguageModel
from rnnkit.tasks.core import run
from rnnkit.tasks.core.baselines import Candidates
from rnnkit.tasks.core.export import ExportSpec, example_generator, recurrent_spec
from rnnkit.tasks.core.parts import Sealed, Split, fingerprint_bytes
from rnnkit.tasks.core.registry import Task
from rnnkit.tasks.language.config import LanguageConfig, LanguageDataConfig
from rnnkit.tasks.language.ngram import KneserNey
from rnnkit.training import StepOutput, StreamBatches, batchify, detach_state, model_device


def load_corpus(config: LanguageDataConfig) -> str:
    text = load_shakespeare() if config.name == "shakespeare" else read_text(config.path)
    if len(text) < 100:
        raise ValueError(f"data: expected at least 100 characters of text, got {len(text)}")
    return text


@dataclass
class TestBlock:
    ids: Tensor  # (N,) token ids
    characters_per_token: float  # for bits per character


@dataclass
class LanguageJob:
    model: LanguageModel
    step_fn: Any
    batches: StreamBatches
    evaluate: Any
    split: Split  # the test block, sealed: a TestBlock
    vocab: Vocabulary
    parts: dict[str, Tensor]  # token ids of the training and validation blocks
    config: LanguageConfig

    @property
    def train_size(self) -> int:
        """Training segments of ``data.bptt`` tokens: what ``train.epochs`` counts passes over."""
        return math.ceil(len(self.parts["train"]) / self.config.data.bptt)

    @property
    def artifacts(self) -> dict[str, bytes]:
        """Written beside the weights before training and bound to them: the vocabulary."""
        return {"vocab.json": self.vocab.to_json().encode()}


def build(config: LanguageConfig, rank: int = 0, vocab: Vocabulary | None = None) -> LanguageJob:
    """Corpus, vocabulary (from the training block; or ``vocab``, e.g. a run's saved one), model, batches."""
    data = config.data
    text = load_corpus(data)
    train_part, validation_part, test_part = split_contiguous(len(text), data.validation_fraction, data.test_fraction)
    if vocab is None and data.vocabulary is not None:
        vocab = Vocabulary.load(data.vocabulary)
        if vocab.level != data.level:
            raise ValueError(f"data.vocabulary: {data.vocabulary} is a {vocab.level!r} vocabulary, "
                             f"but data.level is {data.level!r}")
    if vocab is None:
        vocab = Vocabulary.build(text[train_part], data.level, data.min_count, data.max_vocab)
    parts = {name: torch.tensor(vocab.encode(text[part]), dtype=torch.long)
             for name, part in (("train", train_part), ("val", validation_part))}
    characters_per_token = (validation_part.stop - validation_part.start) / max(len(parts["val"]), 1)

    def test_block() -> TestBlock:
        ids = vocab.encode(text[test_part])
        return TestBlock(torch.tensor(ids, dtype=torch.long), (test_part.stop - test_part.start) / max(len(ids), 1))

    split = Split({"characters": len(text), "text before test": fingerprint_bytes(text[: test_part.start].encode()),
                   "vocabulary": len(vocab),
                   **{name: {"characters": [part.start, part.stop]} for name, part in
                      (("train", train_part), ("validation", validation_part), ("test", test_part))}},
                  Sealed(test_block))
    model = LanguageModel(len(vocab), config.model)
    batches = StreamBatches(batchify(parts["train"], config.train.batch_size), data.bptt, data.random_length,
                            seed=config.train.seed + 1000 * rank)
    alpha, beta = config.model.activation_regularization, config.model.temporal_activation_regularization

    def step_fn(m: nn.Module, batch: Any, carry: Any) -> StepOutput:
        language_model = m.module if isinstance(m, nn.parallel.DistributedDataParallel) else m
        hidden, state = language_model.hidden(batch.x, None if batch.reset else carry)
        loss = F.cross_entropy(language_model.logits(hidden).flatten(0, 1), batch.y.flatten())
        if alpha:
            loss = loss + activation_regularization(hidden, alpha)
        if beta:
            loss = loss + temporal_activation_regularization(hidden, beta)
        return StepOutput(loss, state)

    def evaluate(m: nn.Module) -> dict[str, float]:
        ids = parts["val"] if data.eval_tokens is None else parts["val"][: data.eval_tokens]
        return _named("val", cross_entropy(m, ids, data.eval_batch_size, data.bptt), vocab.level, characters_per_token)

    return LanguageJob(model, step_fn, batches, evaluate, split, vocab, parts, config)


def cross_entropy(model: LanguageModel, ids: Tensor, batch_size: int, bptt: int) -> float:
    """Mean next-token cross-entropy (nats) over a stream, read as ``batch_size`` columns in
    chunks of ``bptt`` with the state carried (every token but each column's first is scored)."""
    device = model_device(model)
    was_training = model.training
    model.eval()
    columns = batchify(ids, min(batch_size, max(1, len(ids) // 2))).to(device)  # (N, B)
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for start in range(0, columns.shape[0] - 1, bptt):
            x = columns[start : start + bptt]
            y = columns[start + 1 : start + 1 + bptt]
            logits, state = model(x[: len(y)], state)
            total += F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
            count += y.numel()
            state = detach_state(state)
    model.train(was_training)
    return total / max(count, 1)


def _named(part: str, nats: float, level: Level, characters_per_token: float = 1.0) -> dict[str, float]:
    """Loss (nats per token) and perplexity; bits per character for character and BPE tokens
    (BPE: nats per token over the block's characters per token, the text being exact)."""
    scores = {f"{part}_loss": nats, f"{part}_ppl": math.exp(min(nats, 50.0))}
    if level in ("char", "bpe"):
        scores[f"{part}_bpc"] = nats / characters_per_token / math.log(2)
    return scores


def filter_logits(logits: Tensor, top_k: int = 0, top_p: float = 1.0) -> Tensor:
    """Keep the ``top_k`` most likely tokens and the smallest set whose probability reaches
    ``top_p`` (nucleus sampling, Holtzman et al. 2020); the rest get ``-inf``. ``logits`` ``(B, V)``."""
    if top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        ordered, order = logits.sort(dim=-1, descending=True)
        cumulative = ordered.softmax(-1).cumsum(-1)
        drop = cumulative - ordered.softmax(-1) >= top_p  # the mass before a token already reaches top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


def generate(model: LanguageModel, vocab: Vocabulary, prompt: str, length: int, temperature: float = 1.0,
             top_k: int = 0, top_p: float = 1.0, seed: int | None = None) -> str:
    """``length`` tokens after ``prompt``: one pass over the prompt, then one step per token."""
    if length < 0 or not 0 < temperature < math.inf or not 0 < top_p <= 1 or top_k < 0:  # NaN fails too
        raise ValueError(f"generate: expected length >= 0, temperature > 0, 0 < top_p <= 1, top_k >= 0; got "
                         f"{length}, {temperature}, {top_p}, {top_k}")
    ids = vocab.encode(prompt)
    if not ids:
        raise ValueError("generate: expected a prompt of at least one token")
    device = model_device(model)
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()  # a fresh random seed, for this generator only
    else:
        generator.manual_seed(seed)
    was_training = model.training
    model.eval()
    out: list[int] = []
    with torch.no_grad():
        logits, state = model(torch.tensor(ids, device=device).unsqueeze(1))  # prime: (T, 1, V)
        last = logits[-1]  # (1, V)
        for _ in range(length):
            filtered = filter_logits(last / temperature, top_k, top_p)
            token = torch.multinomial(filtered.softmax(-1), 1, generator=generator)[:, 0]  # (1,)
            out.append(int(token))
            last, state = model.step(token, state)
    model.train(was_training)
    return vocab.decode(out)


def report(job: LanguageJob, run_dir: Path) -> dict[str, Any]:
    """After training: the test block's metrics (its one read) and a generated sample (the
    vocabulary is beside the weights already)."""
    data = job.config.data
    test = job.split.test.open()
    metrics = _named("test", cross_entropy(job.model, test.ids, data.eval_batch_size, data.bptt), job.vocab.level,
                     test.characters_per_token)
    sample = generate(job.model, job.vocab, job.config.sample_prompt, job.config.sample_length, temperature=0.8,
                      seed=0)
    path = write_text(run_dir / "sample.txt", job.config.sample_prompt + sample)
    return {"metrics": metrics, "text": "sample (temperature 0.8):\n" + job.config.sample_prompt + sample,
            "files": [str(run_dir / "vocab.json"), str(path)]}


def load_generator(run_dir: str | Path, allow_unfinished: bool = False) -> tuple[LanguageModel, Vocabulary]:
    """A trained run's model (in eval mode) and the vocabulary saved beside it."""
    _, job = run.load_trained(run_dir, "language", "language-model", allow_unfinished)
    vocab_path = Path(run_dir) / "vocab.json"
    vocab = Vocabulary.load(vocab_path) if vocab_path.exists() else job.vocab
    if len(vocab) != job.model.embedding.num_embeddings:
        raise ValueError(f"{vocab_path}: {len(vocab)} tokens, but the model has {job.model.embedding.num_embeddings}")
    return job.model.eval(), vocab


def generate_run(run_dir: str | Path, prompt: str, length: int, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, seed: int | None = None, allow_unfinished: bool = False) -> str:
    """``rnnkit generate``: text from a trained run, with the vocabulary saved beside it."""
    model, vocab = load_generator(run_dir, allow_unfinished)
    return generate(model, vocab, prompt, length, temperature, top_k, top_p, seed)


NGRAM_ORDERS = (2, 3, 4, 5, 6)


def baselines(job: LanguageJob) -> Candidates:
    """Interpolated Kneser-Ney n-grams fitted on the training block, the order chosen on the
    validation block (the orders whose codes fit in 64 bits), scored on the test block."""
    test = job.split.test.open()
    train, val, V = job.parts["train"].numpy(), job.parts["val"].numpy(), len(job.vocab)

    def score() -> dict[str, float]:
        best = None
        for order in (k for k in NGRAM_ORDERS if V**k < 2**62):
            model = KneserNey(order, V).fit(train)
            nats = float(-model.log_probs(val).mean())
            if best is None or nats < best[0]:
                best = (nats, model)
        nats = float(-best[1].log_probs(test.ids.numpy()).mean())
        return _named("test", nats, job.vocab.level, test.characters_per_token)

    return Candidates({"Kneser-Ney n-gram (order chosen on validation)": score})


def export_spec(job: LanguageJob, streaming: bool) -> ExportSpec:
    """``rnnkit export``: the model over token ids with its state in and out (a token per call when
    ``streaming``); the ids are those of ``vocab.json``."""
    model = job.model
    V = model.embedding.num_embeddings

    def ids(b: int, t: int) -> Tensor:
        return torch.randint(0, V, (b,) if streaming else (t, b), generator=example_generator(b, t))

    if streaming:
        return recurrent_spec(model, model.recurrent, model.step, ids, "ids", {0: "batch"}, "logits", 1,
                              {"ids": "one token id per stream (batch,), int64, of vocab.json",
                               "logits": "the next token's logits (batch, vocab)"})
    return recurrent_spec(model, model.recurrent, model.forward, ids, "ids", {0: "time", 1: "batch"}, "logits", 16,
                          {"ids": "token ids (time, batch), int64, of vocab.json",
                           "logits": "after each token, the next one's logits (time, batch, vocab)"})


TASK = Task(LanguageConfig, build, report, baselines=baselines, export=export_spec)
