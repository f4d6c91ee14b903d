"""The sequence-to-sequence task: error rates by hand, and grapheme-to-phoneme and word
translation end to end on generated pairs, with `rnnkit translate` and the attention plot."""

from __future__ import annotations

import io
import random
import sys
from pathlib import Path

import pytest

from rnnkit.cli.main import main
from rnnkit.tasks import translate
from rnnkit.tasks.core import run
from rnnkit.tasks.translate import phonetisaurus

pytest.importorskip("jiwer")
PHONES = {"a": "AH", "b": "B", "c": "K", "d": "D", "e": "EH", "f": "F", "g": "G", "h": "HH"}


def test_g2p_error_rates_by_hand() -> None:
    sources = ["ab", "ab", "cd"]  # "ab" has two pronunciations
    references = ["AH B", "EY B", "K D"]
    hypotheses = ["EY B", "EY B", "K"]  # "ab" matches its second; "cd" loses one of two phonemes
    scores = translate.g2p_scores(sources, references, hypotheses)
    assert scores["wer"] == pytest.approx(1 / 2)
    assert scores["per"] == pytest.approx((0 + 1) / (2 + 2))
    assert translate.g2p_scores(["x"], ["AH B C"], [""])["per"] == pytest.approx(1.0)  # nothing said: all deleted


def test_bleu_and_chrf_come_from_sacrebleu() -> None:
    import sacrebleu

    refs, hyps = ["the cat sat on the mat", "a dog"], ["the cat sat on a mat", "a dog"]
    scores = translate.bleu_scores(refs, hyps)
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    assert 0 < scores["chrf"] <= 100


def write_g2p(path: Path, n: int) -> Path:
    """Made-up words and their 'phonemes': one per letter, read backwards after a 'g'."""
    rng = random.Random(0)
    lines = []
    for _ in range(n):
        word = "".join(rng.choice("abcdefh") for _ in range(rng.randint(2, 6)))
        phones = [PHONES[c] for c in word]
        lines.append(f"{word}\t{' '.join(phones)}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
@pytest.mark.baselines
def test_g2p_task_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    config = run.resolve_config({
        "task": "translate",
        "data": {"name": None, "path": str(write_g2p(tmp_path / "words.tsv", 600)), "source_level": "char",
                 "target_level": "word", "validation_fraction": 0.1, "test_fraction": 0.1, "eval_size": 60},
        "model": {"recurrent": {"cell": "gru", "hidden_size": 32, "num_layers": 1}, "embedding_size": 16,
                  "attention": "additive"},
        "train": {"steps": 250, "batch_size": 32, "eval_every": 125, "progress": False,
                  "optimizer": {"name": "adam", "lr": 0.01}},
        "metric": "g2p", "beam": 3, "label_smoothing": 0.1, "sampling": 0.1,
    })
    run_dir, result = run.train(config, tmp_path / "run")
    metrics = result.report["metrics"]
    assert metrics["test_per"] < 0.1 and metrics["test_wer"] < 0.3, metrics  # a letter-by-letter mapping
    tool = "Phonetisaurus (joint n-gram WFST)"
    if isinstance(phonetisaurus.environment(), str):
        assert tool in result.report["baselines"]["skipped"]
    else:  # the standard tool beside the model, on the same test words
        assert result.report["baselines"]["metrics"][tool]["test_wer"] < 0.1, result.report["baselines"]
    for name in ("predictions.tsv", "attention.png", "source_vocab.json", "target_vocab.json"):
        assert (run_dir / name).exists(), name
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdin", io.StringIO("bead\n\ncafe\n"))
    assert main(["translate", str(run_dir), "--attention", str(tmp_path / "a.png")]) == 0
    lines = capsys.readouterr().out.strip().split("\n")
    assert [line.split("\t")[0] for line in lines] == ["bead", "cafe"]
    assert lines[0].split("\t")[1] == "B EH AH D" and (tmp_path / "a.png").exists()
    greedy = translate.translate_run(run_dir, ["bead", "cafe"], beam=1)
    assert greedy[0] == "B EH AH D"
    assert main(["translate", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


@pytest.mark.slow
def test_word_translation_with_bleu(tmp_path: Path) -> None:
    numbers = ["zero", "one", "two", "three", "four", "five"]
    spanish = ["cero", "uno", "dos", "tres", "cuatro", "cinco"]
    rng = random.Random(1)
    sources, targets = [], []
    for _ in range(400):
        picks = [rng.randrange(6) for _ in range(rng.randint(1, 4))]
        sources.append(" ".join(numbers[p] for p in picks))
        targets.append(" ".join(spanish[p] for p in picks))
    (tmp_path / "en.txt").write_text("\n".join(sources))
    (tmp_path / "es.txt").write_text("\n".join(targets))
    config = run.resolve_config({
        "task": "translate",
        "data": {"name": None, "path": str(tmp_path / "en.txt"), "target_path": str(tmp_path / "es.txt"),
                 "source_level": "word", "target_level": "word", "validation_fraction": 0.1,
                 "test_fraction": 0.1, "eval_size": 40},
        "model": {"recurrent": {"cell": "lstm", "hidden_size": 32, "num_layers": 1}, "embedding_size": 16,
                  "attention": "general"},
        "train": {"steps": 200, "batch_size": 32, "eval_every": 100, "progress": False,
                  "optimizer": {"name": "adam", "lr": 0.01}},
        "beam": 2,
    })
    _, result = run.train(config, tmp_path / "run")
    assert result.report["metrics"]["test_bleu"] > 80, result.report["metrics"]


def test_attention_map_rows_match_the_output_tokens() -> None:
    import torch

    from rnnkit.data.pairs import Pairs
    from rnnkit.models.seq2seq import Seq2Seq

    torch.manual_seed(0)
    data = translate.TranslateDataConfig(name=None, path="pairs.tsv")
    sides = translate.Sides.build(Pairs(["abc", "cab"], ["AH B K", "K AH B"]), data)
    config = translate.TranslateConfig(data=data, max_output=2)
    model = Seq2Seq(len(sides.source), len(sides.target), config.model)
    weights, source, output = translate.attention_map(model, sides, "abca", config)
    assert source == ["a", "b", "c", "a"] and weights.shape == (len(output), 4)
    assert 1 <= len(output) <= 2  # cut at max_output: no end token row beyond the weights


def test_bleu_by_source_length() -> None:
    pytest.importorskip("sacrebleu")
    short = "uno dos tres cuatro cinco"
    long_source = " ".join(["word"] * 25)
    buckets = translate.bleu_by_length(["one two", long_source], [short, "el perro come la comida roja"],
                                       [short, "gato"])  # exact: 100 BLEU in the 0-9 bucket; 0 in the 20-29
    assert [(b["low"], b["high"]) for b in buckets] == list(translate.LENGTH_BUCKETS)
    counts = {b["low"]: b["count"] for b in buckets}
    assert counts == {0: 1, 10: 0, 20: 1, 30: 0, 40: 0, 50: 0}
    assert buckets[0]["bleu"] == pytest.approx(100.0) and buckets[2]["bleu"] == pytest.approx(0.0)


def test_attention_axis_labels_decode_bpe_pieces() -> None:
    pytest.importorskip("tokenizers")
    from rnnkit.data.text import Vocabulary

    bpe = Vocabulary.build("los días de los días\nen el principio", "bpe", 1, 300)
    ids = bpe.encode("los días")
    assert "".join(bpe.tokens[i] for i in ids) != "los días"  # the raw byte-level pieces ("Ġd", "Ã")
    assert "".join(translate.token_labels(bpe, ids)) == "losdías"  # each piece as text, spaces stripped
    chars = Vocabulary.build("ab c", "char")
    assert translate.token_labels(chars, chars.encode("a c")) == ["a", "␣", "c"]


def test_the_report_chooses_the_ngram_blocking_on_validation(tmp_path: Path) -> None:
    from tests.tiny import CONFIGS

    data = {"task": "translate", **CONFIGS["translate"](tmp_path),
            "train": {"steps": 4, "batch_size": 4, "eval_every": 2, "progress": False, "device": "cpu"}}
    run_dir, result = run.train(run.resolve_config(data), tmp_path / "run")
    chosen = run.load_run_config(run_dir).no_repeat_ngram
    assert chosen in (0, 3, 4)  # recorded, so `rnnkit translate` decodes as the report did
    assert result.report["text"].startswith(f"no_repeat_ngram: {chosen or 'off'} (auto: validation ")
    fixed = run.resolve_config({**data, "no_repeat_ngram": 0})
    _, result = run.train(fixed, tmp_path / "fixed")
    assert "no_repeat_ngram" not in result.report["text"]


def test_pairs_in_one_script_share_a_vocabulary_and_copy(tmp_path: Path) -> None:
    pairs = [("thou art good", "you are good"), ("thee and the lord", "you and the lord"), ("he hath it", "he has it")]
    (tmp_path / "pairs.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in pairs * 20))
    # of the 10 target words, good, and, the, lord, he and it occur in the sources
    assert translate.task.shared_tokens(translate.task.Pairs(*zip(*pairs)), "word") == 6 / 10
    data = {"task": "translate", "data": {"name": None, "path": str(tmp_path / "pairs.tsv"), "validation_fraction": 0.2,
                                          "test_fraction": 0.2},
            "model": {"recurrent": {"hidden_size": 8, "num_layers": 1}, "embedding_size": 8},
            "train": {"steps": 2, "batch_size": 4, "eval_every": 2, "progress": False, "device": "cpu"}}
    run_dir, result = run.train(run.resolve_config(data), tmp_path / "run")
    saved = run.load_run_config(run_dir)
    assert saved.data.shared_vocabulary is True and saved.model.copy and saved.model.tie_embeddings
    assert any(line.startswith("vocabularies: one for both sides at the word level, tied embeddings, copying")
               for line in result.report["data_report"])
    assert len(translate.translate_run(run_dir, ["thou art"])) == 1  # loads as it was trained
    separate = run.resolve_config({**data, "data": {**data["data"], "shared_vocabulary": False}})
    _, result = run.train(separate, tmp_path / "separate")
    assert not any(line.startswith("vocabularies: one for both") for line in result.report["data_report"])
