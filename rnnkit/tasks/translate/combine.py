"""The attention model and Phonetisaurus combined: N-best rescoring for grapheme to phoneme.

A neural G2P model and a joint n-gram model make different mistakes: Rao et al. (2015) had a
bidirectional LSTM at 25.8% WER on CMUdict alone and at 21.3% combined with a joint n-gram
model. Here the two are combined per word over a shared list of candidates: Phonetisaurus's
``n`` best pronunciations and the attention model's beam-search output. Each candidate ``c`` of
a word ``x`` gets

    score(c) = w * log p_model(c | x) - (1 - w) * cost(c)

with ``log p_model`` the attention model's log-probability of ``c`` (teacher-forced, ``</s>``
included) and ``cost`` Phonetisaurus's negative log-probability of it; a candidate that
Phonetisaurus did not list costs its worst listed cost plus :data:`UNLISTED` nats. The highest
score wins. ``w`` is chosen on the validation words from :data:`WEIGHTS` (0 is Phonetisaurus's
own ranking of the list, 1 the model's); the test words are then scored once, with that ``w``.
The choice is kept in the run folder (``combination.json``, beside Phonetisaurus's model), so
new words can be converted by the combined system:

    rnnkit combine runs/g2p-cmudict-...                   # or combine_run(run_dir)
    echo "rnnkit" | rnnkit translate runs/g2p-cmudict-... --combined   # or translate_combined(run_dir, words)
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.data.pairs import Pairs
from rnnkit.files import read_text, write_json
from rnnkit.models.seq2seq import Seq2Seq
from rnnkit.tasks.core import run
from rnnkit.tasks.translate import phonetisaurus
from rnnkit.tasks.translate.config import TranslateConfig
from rnnkit.tasks.translate.task import Sides, decode, g2p_scores, load_translator, metric_of
from rnnkit.training import model_device

WEIGHTS = tuple(i / 20 for i in range(21))  # the model's weight w, chosen on validation
UNLISTED = 1.0  # nats above Phonetisaurus's worst listed cost, for a candidate it did not list
NBEST = 20  # Phonetisaurus's pronunciations per word
COMBINATION = "combination.json"  # in the run folder: the chosen weight and where Phonetisaurus's model is


@torch.no_grad()
def sequence_log_probs(model: Seq2Seq, sides: Sides, sources: Sequence[str], targets: Sequence[str],
                       lowercase: bool = False, batch_size: int = 256) -> Tensor:
    """``log p(target | source)`` under ``model`` for each pair, ``</s>`` included: ``(N,)``
    float64. Teacher-forced in batches, eval mode; equal to summing :meth:`Seq2Seq.step`'s
    log-probabilities along the target (a test holds them so)."""
    if len(sources) != len(targets):
        raise ValueError(f"sources and targets: expected as many of each, got {len(sources)} and {len(targets)}")
    device = model_device(model)
    was_training = model.training
    model.eval()
    pad = nn.utils.rnn.pad_sequence
    out: list[Tensor] = []
    for start in range(0, len(sources), batch_size):
        source = [torch.tensor(sides.encode_source(s, lowercase)) for s in sources[start : start + batch_size]]
        target = [torch.tensor(sides.target.encode(t) + [sides.end]) for t in targets[start : start + batch_size]]
        inputs = [torch.cat([torch.tensor([sides.bos]), t[:-1]]) for t in target]
        logits = model(pad(source).to(device), torch.tensor([len(s) for s in source]), pad(inputs).to(device))
        logp = torch.log_softmax(logits.double(), dim=-1).gather(-1, pad(target).to(device).unsqueeze(-1)).squeeze(-1)
        valid = torch.arange(logp.shape[0], device=device).unsqueeze(1) < torch.tensor([len(t) for t in target],
                                                                                       device=device)
        out.append((logp * valid).sum(0).cpu())  # (B,)
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)


@dataclass
class NBestLists:
    """Per word: the candidate pronunciations, the model's log-probability of each, and
    Phonetisaurus's cost of each (``None`` where it did not list it)."""

    candidates: dict[str, list[str]]
    model_scores: dict[str, list[float]]
    tool_costs: dict[str, list[float | None]]

    def pick(self, weight: float, unlisted: float = UNLISTED) -> dict[str, str]:
        """Each word's highest-scoring candidate at the model's weight ``weight`` in [0, 1]."""
        if not 0 <= weight <= 1:
            raise ValueError(f"weight: expected the model's weight in [0, 1], got {weight}")
        chosen: dict[str, str] = {}
        for word, options in self.candidates.items():
            listed = [c for c in self.tool_costs[word] if c is not None]
            floor = (max(listed) if listed else 0.0) + unlisted
            scores = [weight * m - (1 - weight) * (floor if c is None else c)
                      for m, c in zip(self.model_scores[word], self.tool_costs[word])]
            chosen[word] = options[max(range(len(options)), key=scores.__getitem__)] if options else ""
        return chosen


def nbest_lists(model: Seq2Seq, sides: Sides, config: TranslateConfig, tool_model: str | Path,
                words: Sequence[str], n: int = NBEST, beam: int | None = None) -> NBestLists:
    """The candidates of each of ``words`` (Phonetisaurus's ``n`` best from ``tool_model`` and the
    model's beam-search output, ``beam`` wide: default the config's), scored by both."""
    words = list(dict.fromkeys(words))
    listed = phonetisaurus.nbest(tool_model, words, n)
    beamed = decode(model, sides, words, config, beam)
    candidates: dict[str, list[str]] = {}
    costs: dict[str, list[float | None]] = {}
    for word, own in zip(words, beamed):
        tool = dict(listed.get(word, []))
        options = [c for c in dict.fromkeys([*tool, own]) if c.strip()]
        candidates[word], costs[word] = options, [tool.get(c) for c in options]
    flat = [(word, c) for word in words for c in candidates[word]]
    scores = sequence_log_probs(model, sides, [w for w, _ in flat], [c for _, c in flat], config.data.lowercase)
    model_scores: dict[str, list[float]] = {word: [] for word in words}
    for (word, _), score in zip(flat, scores.tolist()):
        model_scores[word].append(score)
    return NBestLists(candidates, model_scores, costs)


def scores_of(part: Pairs, chosen: Mapping[str, str]) -> dict[str, float]:
    """PER and WER of each word's chosen pronunciation (:func:`g2p_scores`)."""
    return g2p_scores(part.sources, part.targets, [chosen.get(word, "") for word in part.sources])


def choose_weight(lists: NBestLists, part: Pairs, weights: Sequence[float] = WEIGHTS,
                  unlisted: float = UNLISTED) -> tuple[float, dict[float, dict[str, float]]]:
    """The weight with the lowest WER on ``part`` (then the lowest PER, then the nearest to 0.5),
    and every weight's scores."""
    if not weights:
        raise ValueError("weights: expected at least one weight to choose from")
    table = {w: scores_of(part, lists.pick(w, unlisted)) for w in weights}
    best = min(weights, key=lambda w: (table[w]["wer"], table[w]["per"], abs(w - 0.5)))
    return best, table


def combine_run(run_dir: str | Path, n: int = NBEST, folder: str | Path | None = None, test: bool = True,
                order: int = phonetisaurus.DEFAULT_ORDER) -> dict[str, Any]:
    """Combine a trained G2P run with Phonetisaurus (a joint ``order``-gram model) trained on the
    run's own training words (kept in ``folder``, default ``run_dir/phonetisaurus``): the weight
    chosen on its validation words, then (``test``) its test words read once. Writes ``run_dir/combination.json`` (what
    :func:`translate_combined` uses) and returns it: the chosen weight, every weight's validation
    scores, the test scores (without ``test``: none, the test part unread), and the seconds each
    stage took."""
    if n < 1:
        raise ValueError(f"n: expected a number of Phonetisaurus pronunciations >= 1, got {n}")
    config, job = run.load_trained(run_dir, "translate", "translate (sequence to sequence)")
    if metric_of(config) != "g2p":
        raise ValueError(f"{run_dir}: expected a grapheme-to-phoneme run (metric g2p, as data.name cmudict gives), "
                         f"got a run scored by {metric_of(config)}")
    model, sides, run_dir = job.model, job.sides, Path(run_dir)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    tool_model = phonetisaurus.train_model(job.parts["train"], Path(folder or run_dir / "phonetisaurus"), order)
    seconds["phonetisaurus training"] = time.perf_counter() - started
    started = time.perf_counter()
    validation = job.parts["val"]
    weight, table = choose_weight(nbest_lists(model, sides, config, tool_model, validation.sources, n), validation)
    seconds["validation"] = time.perf_counter() - started
    result: dict[str, Any] = {"weight": weight, "nbest": n, "order": order, "unlisted": UNLISTED,
                              "validation": {f"{w:g}": s for w, s in table.items()}}
    if test:
        started = time.perf_counter()
        part = job.split.test.open()
        scores = scores_of(part, nbest_lists(model, sides, config, tool_model, part.sources, n).pick(weight))
        result.update(test_per=scores["per"], test_wer=scores["wer"])
        seconds["test"] = time.perf_counter() - started
    else:
        result["test"] = "unread"
    result["seconds"] = {k: round(v, 1) for k, v in seconds.items()}
    inside = tool_model.resolve().is_relative_to(run_dir.resolve())
    result["phonetisaurus_model"] = str(tool_model.resolve().relative_to(run_dir.resolve()) if inside
                                        else tool_model.resolve())
    write_json(run_dir / COMBINATION, result)
    return result


def load_combination(run_dir: str | Path) -> dict[str, Any]:
    """The combination :func:`combine_run` kept in ``run_dir`` (``combination.json``)."""
    path = Path(run_dir) / COMBINATION
    if not path.exists():
        raise FileNotFoundError(f"{run_dir}: no {COMBINATION}; combine the run with Phonetisaurus first: "
                                f"rnnkit combine {run_dir}")
    combination = json.loads(read_text(path, "the combination"))
    model = Path(combination["phonetisaurus_model"])
    combination["phonetisaurus_model"] = model if model.is_absolute() else Path(run_dir) / model
    if not combination["phonetisaurus_model"].exists():
        raise FileNotFoundError(f"{run_dir}: Phonetisaurus's model {combination['phonetisaurus_model']} is gone; "
                                f"combine again: rnnkit combine {run_dir}")
    return combination


def translate_combined(run_dir: str | Path, words: Sequence[str], beam: int | None = None,
                       allow_unfinished: bool = False,
                       translator: tuple[Seq2Seq, Sides, TranslateConfig] | None = None) -> list[str]:
    """Pronunciations of ``words`` by the combined system of ``run_dir`` (:func:`combine_run`
    made it): the candidates rescored with the weight chosen on validation. ``translator``: the
    run's :func:`load_translator`, if the caller has it loaded already."""
    model, sides, config = translator or load_translator(run_dir, allow_unfinished)
    combination = load_combination(run_dir)
    lists = nbest_lists(model, sides, config, combination["phonetisaurus_model"], words, combination["nbest"], beam)
    chosen = lists.pick(combination["weight"], combination["unlisted"])
    return [chosen.get(word, "") for word in words]
