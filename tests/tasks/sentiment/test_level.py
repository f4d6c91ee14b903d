"""Texts that white space does not split into words (a language written without spaces) are
seen before training: ``auto`` picks characters, ``word`` asked for is an error that says why."""

from __future__ import annotations

import csv
import json

import pytest

from rnnkit.data.text import word_level_problem
from rnnkit.tasks.core import run
from rnnkit.tasks.sentiment.data import choose_level

UNSPACED = ["この映画はとても良かった", "最悪の映画だった", "本当に素晴らしい作品", "つまらない話で退屈"] * 10
SPACED = ["a good film", "a bad film", "good acting and a good story", "bad acting"] * 10


def test_the_two_signs_by_hand():
    assert word_level_problem(SPACED) is None
    assert word_level_problem(UNSPACED) == "the texts average 1.00 whitespace-separated tokens (a language " \
                                           "written without spaces?)"
    unique = [f"w{i} x{i} y{i}" for i in range(10)]  # 3 tokens a text, every one seen once
    assert word_level_problem(unique) == "100% of the whitespace-separated tokens occur only once in all the texts"
    assert word_level_problem([]) is None


def test_auto_chooses_and_word_is_refused_with_the_reason():
    assert choose_level("auto", SPACED)[0] == "word"
    level, note = choose_level("auto", UNSPACED)
    assert level == "char" and note.startswith("data.level: characters (auto: the texts average 1.00")
    with pytest.raises(ValueError, match=r"data.level word: the texts average 1.00 .* use --set data.level=char"):
        choose_level("word", UNSPACED)
    assert choose_level("char", UNSPACED) == ("char", "data.level: char (as set)")


@pytest.mark.slow
def test_a_run_on_unspaced_texts_trains_on_characters_and_says_so(tmp_path):
    with open(tmp_path / "texts.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i, text in enumerate(UNSPACED * 2):
            writer.writerow([text, "pos" if i % 4 in (0, 2) else "neg"])
    config = run.resolve_config({"task": "sentiment", "data": {"name": None, "path": str(tmp_path / "texts.csv")},
                                 "model": {"recurrent": {"hidden_size": 8}, "embedding_size": 8},
                                 "train": {"steps": 2, "batch_size": 4, "eval_every": 2, "progress": False,
                                           "device": "cpu"}})
    run_dir, result = run.train(config, tmp_path / "run", baselines=False)
    assert any(line.startswith("data.level: characters (auto") for line in result.report["data_report"])
    assert json.loads((run_dir / "vocab.json").read_text())["level"] == "char"
