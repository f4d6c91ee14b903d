"""Phonetisaurus as the G2P baseline: the tool's own binaries (PyPI ``phonetisaurus``) trained on
generated pairs whose pronunciation is a fixed rule, then asked for words it never saw."""

from __future__ import annotations

import builtins
import random

import pytest

from rnnkit.data.pairs import Pairs
from rnnkit.tasks.translate import phonetisaurus

PHONES = {"a": "AE", "b": "B", "c": "K", "d": "D", "e": "EH", "g": "G", "i": "IH", "l": "L", "m": "M",
          "n": "N", "o": "AA", "p": "P", "r": "R", "s": "S", "t": "T", "u": "AH"}
needs_tool = pytest.mark.skipif(isinstance(phonetisaurus.environment(), str),
                                reason="the phonetisaurus package (Linux binaries) is not installed")


def rule(word: str) -> str:
    """One phoneme per letter, and "ck" -> K (two letters, one phoneme: an alignment to learn)."""
    phones, i = [], 0
    while i < len(word):
        if word[i:i + 2] == "ck":
            phones.append("K")
            i += 2
        else:
            phones.append(PHONES[word[i]])
            i += 1
    return " ".join(phones)


def made_up_words(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    words: set[str] = set()
    while len(words) < n:
        word = "".join(rng.choice(list(PHONES)) for _ in range(rng.randint(2, 6)))
        words.add(word + ("ck" if rng.random() < 0.3 else ""))
    return sorted(words)


@needs_tool
def test_it_learns_a_rule_and_applies_it_to_unseen_words(tmp_path) -> None:  # noqa: ANN001
    words = made_up_words(500)
    train = Pairs(words[:400], [rule(w) for w in words[:400]])
    unseen = words[400:] + ["a_b"]  # "_" is the tool's reserved character: no answer, not a crash
    out = phonetisaurus.train_and_apply(train, unseen, folder=tmp_path)
    assert len(out) == len(unseen) and out[-1] == ""
    right = sum(o == rule(w) for o, w in zip(out, unseen[:-1]))
    assert right >= 95, list(zip(unseen, out))[:10]  # of 100
    assert (tmp_path / "train" / "model.fst").exists()  # the folder keeps the model


@needs_tool
def test_order_and_empty_lexicon_are_checked() -> None:
    with pytest.raises(ValueError, match="n-gram order"):
        phonetisaurus.train_and_apply(Pairs(["ab"], ["AE B"]), ["ab"], order=0)
    with pytest.raises(ValueError, match="reserved character"):
        phonetisaurus.train_and_apply(Pairs(["a_b", "c|d"], ["AE B", "K D"]), ["ab"])


def test_lexicon_lines_keep_each_pronunciation_once_and_drop_what_the_tool_cannot_read() -> None:
    train = Pairs(["read", "read", "read", "a_b", "two words", "x"], ["R IY D", "R EH D", "R IY  D", "AE B", "T",
                                                                      "EH K S"])
    assert phonetisaurus.lexicon_lines(train) == ["read\tR IY D", "read\tR EH D", "x\tEH K S"]


def test_without_the_package_it_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_phonetisaurus(name, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if name == "phonetisaurus":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_phonetisaurus)
    assert "pip install phonetisaurus" in phonetisaurus.environment()
    with pytest.raises(RuntimeError, match="pip install phonetisaurus"):
        phonetisaurus.train_and_apply(Pairs(["ab"], ["AE B"]), ["ab"])
