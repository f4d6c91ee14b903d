"""Language modelling: vocabularies, contiguous splits, the model's step == its forward,
sampling filters by hand, and the task end to end on generated text (train, generate)."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.models import RecurrentConfig
from rnnkit.cli.main import main as cli
from rnnkit.config import from_dict
from rnnkit.data.text import UNK, Vocabulary, read_text, split_contiguous, tokenize
from rnnkit.models.language import LanguageModel, LanguageModelConfig
from rnnkit.tasks import language
from rnnkit.tasks.core import run


def test_char_and_word_vocabularies_and_unknowns(tmp_path):
    vocab = Vocabulary.build("abracadabra", "char")
    assert vocab.tokens == [UNK, "a", "b", "r", "c", "d"]  # by frequency, ties by token
    assert vocab.encode("abz") == [1, 2, 0] and vocab.decode([1, 2, 3]) == "abr"
    words = Vocabulary.build("the cat\nthe dog\n", "word")
    assert tokenize("the cat\nthe dog\n", "word") == ["the", "cat", "<eos>", "the", "dog", "<eos>"]
    assert words.decode(words.encode("the dog\nthe cat")) == "the dog\nthe cat"
    assert words.encode("the bird") == [words.index["the"], 0]  # no newline, no <eos>: a prompt stays mid-line
    rare = Vocabulary.build("aaab", "char", min_count=2)
    assert rare.tokens == [UNK, "a"]
    vocab.save(tmp_path / "v.json")
    assert Vocabulary.load(tmp_path / "v.json").tokens == vocab.tokens
    with pytest.raises(ValueError, match="level: expected 'char', 'word' or 'bpe'"):
        tokenize("x", "byte")


def test_contiguous_split_and_reading_folders(tmp_path):
    train, validation, test = split_contiguous(100, 0.1, 0.05)
    assert (train, validation, test) == (slice(0, 85), slice(85, 95), slice(95, 100))
    with pytest.raises(ValueError, match="sum < 1"):
        split_contiguous(100, 0.6, 0.5)
    (tmp_path / "b.txt").write_text("second")
    (tmp_path / "a.txt").write_text("first")
    assert read_text(tmp_path) == "first\nsecond"
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_text(tmp_path / "missing.txt")


@pytest.mark.parametrize("cell,tie", [("lstm", True), ("gru", False), ("rnn", True)])
def test_streaming_steps_equal_the_forward_pass(cell, tie):
    torch.manual_seed(0)
    config = LanguageModelConfig(RecurrentConfig(cell=cell, hidden_size=12, num_layers=2), embedding_size=8, tie_weights=tie)
    model = LanguageModel(11, config).double().eval()
    ids = torch.randint(0, 11, (9, 3))
    logits, final = model(ids)
    state = None
    for t in range(9):
        step_logits, state = model.step(ids[t], state)
        torch.testing.assert_close(step_logits, logits[t], rtol=0, atol=1e-12)
    torch.testing.assert_close(state, final, rtol=0, atol=1e-12)
    if tie:
        assert model.decoder.weight is model.embedding.weight


def test_sampling_filters_by_hand():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = language.filter_logits(logits, top_k=2)
    assert torch.isinf(kept[0, 2:]).all() and torch.isfinite(kept[0, :2]).all()
    nucleus = language.filter_logits(logits, top_p=0.7)  # 0.5 < 0.7 <= 0.5 + 0.3: keep two
    assert torch.isfinite(nucleus[0, :2]).all() and torch.isinf(nucleus[0, 2:]).all()
    assert torch.isfinite(language.filter_logits(logits, top_p=0.4)[0, 0])  # the top token always stays
    shuffled = logits[:, [2, 0, 3, 1]]
    assert torch.isinf(language.filter_logits(shuffled, top_p=0.7)[0, [0, 2]]).all()


def write_corpus(path):
    """A text with short-range structure: a model that learns it beats the unigram entropy."""
    lines = [f"{name} says {word}." for name in ("ann", "bob", "cy") for word in ("yes", "no", "maybe")] * 30
    path.write_text("\n".join(lines) + "\n")
    return path


def tiny_config(path, level="char"):
    return from_dict(language.LanguageConfig, {
        "task": "language",
        "data": {"name": None, "path": str(path), "level": level, "bptt": 20, "eval_batch_size": 4,
                 "validation_fraction": 0.1, "test_fraction": 0.1},
        "model": {"recurrent": {"cell": "lstm", "hidden_size": 32, "num_layers": 1}, "embedding_size": 32,
                  "tie_weights": True,
                  "input_dropout": 0.1, "activation_regularization": 1e-3,
                  "temporal_activation_regularization": 1e-3},
        "train": {"steps": 150, "batch_size": 8, "eval_every": 50, "progress": False,
                  "optimizer": {"name": "adam", "lr": 0.01},
                  "early_stopping": {"metric": "val_bpc" if level == "char" else "val_loss", "restore_best": True}},
        "sample_prompt": "ann", "sample_length": 40,
    })


@pytest.mark.slow
def test_language_task_end_to_end(tmp_path, capsys):
    path = write_corpus(tmp_path / "corpus.txt")
    run_dir, result = run.train(tiny_config(path), tmp_path / "run")
    metrics = result.report["metrics"]
    text = path.read_text()
    counts = torch.tensor([text.count(c) for c in set(text)], dtype=torch.float64)
    unigram_bits = float(-(counts / counts.sum() * torch.log2(counts / counts.sum())).sum())
    assert metrics["test_bpc"] < 0.6 * unigram_bits
    assert metrics["test_ppl"] == pytest.approx(math.exp(metrics["test_loss"]))
    assert (run_dir / "vocab.json").exists() and (run_dir / "sample.txt").read_text().startswith("ann")
    first = language.generate_run(run_dir, "bob", 30, temperature=0.8, seed=3)
    assert first == language.generate_run(run_dir, "bob", 30, temperature=0.8, seed=3)  # seeded: repeatable
    assert len(first) == 30
    assert cli(["generate", str(run_dir), "--prompt", "cy", "--length", "20", "--top-k", "3", "--seed", "1"]) == 0
    assert capsys.readouterr().out.startswith("cy")


@pytest.mark.slow
def test_word_level_task_runs(tmp_path):
    config = tiny_config(write_corpus(tmp_path / "corpus.txt"), level="word")
    config.train.steps = 20
    run_dir, result = run.train(config, tmp_path / "run")
    assert "test_bpc" not in result.report["metrics"] and math.isfinite(result.report["metrics"]["test_ppl"])
    text = language.generate_run(run_dir, "ann says", 5, seed=0)
    vocab = Vocabulary.load(run_dir / "vocab.json")
    assert vocab.level == "word" and len(vocab.encode(text)) == 5  # five word tokens, newlines as <eos>


@pytest.mark.slow
def test_bpe_vocabulary_round_trips_and_runs(tmp_path):
    pytest.importorskip("tokenizers")
    path = write_corpus(tmp_path / "corpus.txt")
    text = path.read_text()
    vocab = Vocabulary.build(text, "bpe", max_size=300)  # the 256 bytes, <unk>, and merges up to 300
    assert 257 < len(vocab) <= 300 and vocab.tokens[0] == UNK
    sample = "ann says: Zebra\n  twice, é\n"  # unseen letters too: byte-level BPE has no unknowns
    ids = vocab.encode(sample)
    assert vocab.decode(ids) == sample and 0 not in ids
    assert len(vocab.encode(text)) < 0.7 * len(text)  # merges: fewer tokens than characters
    vocab.save(tmp_path / "v.json")
    again = Vocabulary.load(tmp_path / "v.json")
    assert again.encode(sample) == ids and again.level == "bpe"
    config = tiny_config(path, level="bpe")
    config.data.max_vocab = 300
    config.train.steps = 20
    run_dir, result = run.train(config, tmp_path / "run")
    metrics = result.report["metrics"]
    test_part = split_contiguous(len(text), 0.1, 0.1)[2]
    per_char = len(text[test_part]) / len(vocab.encode(text[test_part]))
    assert metrics["test_bpc"] == pytest.approx(metrics["test_loss"] / per_char / math.log(2))
    generated = language.generate_run(run_dir, "ann", 10, seed=0)
    assert len(Vocabulary.load(run_dir / "vocab.json").encode(generated)) >= 5  # decoded text re-encodes


def test_generate_checks_its_arguments(tmp_path):
    vocab = Vocabulary.build("abc", "char")
    model = LanguageModel(len(vocab), LanguageModelConfig(RecurrentConfig(hidden_size=4), embedding_size=4))
    with pytest.raises(ValueError, match="temperature > 0"):
        language.generate(model, vocab, "a", 5, temperature=0)
    with pytest.raises(ValueError, match="at least one token"):
        language.generate(model, vocab, "", 5)
    with pytest.raises(ValueError, match="bidirectional"):
        LanguageModelConfig(RecurrentConfig(bidirectional=True))
