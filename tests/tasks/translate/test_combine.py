"""The attention model and Phonetisaurus combined by N-best rescoring: the model's sequence
log-probabilities against its own step-by-step decoder, the choice by hand, the weight chosen on
validation, and a G2P run combined end to end (weight 0 must be Phonetisaurus's own best)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rnnkit.data.pairs import Pairs
from rnnkit.models.seq2seq import Seq2Seq
from rnnkit.tasks import translate
from rnnkit.tasks.core import run
from rnnkit.tasks.translate import combine, phonetisaurus

pytest.importorskip("jiwer")
needs_tool = pytest.mark.skipif(isinstance(phonetisaurus.environment(), str),
                                reason="the phonetisaurus package (Linux binaries) is not installed")


def tiny_model() -> tuple[Seq2Seq, translate.Sides]:
    torch.manual_seed(0)
    data = translate.TranslateDataConfig(name=None, path="pairs.tsv")
    sides = translate.Sides.build(Pairs(["abc", "cab", "bad"], ["AH B K", "K AH B", "B AH D"]), data)
    config = translate.TranslateConfig(data=data)
    return Seq2Seq(len(sides.source), len(sides.target), config.model).eval(), sides


def test_sequence_log_probs_equal_the_decoder_stepped_by_hand() -> None:
    model, sides = tiny_model()
    sources, targets = ["abc", "ba", "cabd"], ["AH B K", "D", "K AH B AH D"]
    got = combine.sequence_log_probs(model, sides, sources, targets, batch_size=2)  # two batches, padded
    for i, (source, target) in enumerate(zip(sources, targets)):
        ids = torch.tensor(sides.encode_source(source, False)).unsqueeze(1)  # (S, 1)
        with torch.no_grad():
            memory, state = model.encode(ids, torch.tensor([ids.shape[0]]))
            feed = model.initial_feed(1, memory.outputs)
            token, total = torch.tensor([sides.bos]), 0.0
            for nxt in [*sides.target.encode(target), sides.end]:
                logits, state, attentional, _ = model.step(token, state, feed, memory)
                feed = attentional if model.config.input_feeding else None
                total += torch.log_softmax(logits.double(), -1)[0, nxt].item()
                token = torch.tensor([nxt])
        assert got[i].item() == pytest.approx(total, abs=1e-5)
    assert got.dtype == torch.float64 and bool((got < 0).all())
    with pytest.raises(ValueError, match="as many of each"):
        combine.sequence_log_probs(model, sides, ["abc"], [])


def lists() -> combine.NBestLists:
    # word "ab": the tool lists X (cost 1) and Y (cost 3); the model likes Y (-0.5) over X (-4) and adds Z
    return combine.NBestLists(candidates={"ab": ["X", "Y", "Z"], "cd": ["P"]},
                              model_scores={"ab": [-4.0, -0.5, -0.2], "cd": [-1.0]},
                              tool_costs={"ab": [1.0, 3.0, None], "cd": [2.0]})


def test_the_choice_by_hand() -> None:
    nb = lists()
    assert nb.pick(0.0) == {"ab": "X", "cd": "P"}  # the tool's ranking; Z, unlisted, costs 3 + 1
    assert nb.pick(1.0) == {"ab": "Z", "cd": "P"}  # the model's
    # w = 0.5: X 0.5 * -4 - 0.5 * 1 = -2.5; Y -0.25 - 1.5 = -1.75; Z -0.1 - 2.0 = -2.1
    assert nb.pick(0.5)["ab"] == "Y"
    # a larger penalty for unlisted candidates: at w = 0.9, Z -0.18 - 0.1 * (3 + 10) = -1.48 < Y -0.75
    assert nb.pick(0.9, unlisted=1.0)["ab"] == "Z" and nb.pick(0.9, unlisted=10.0)["ab"] == "Y"
    with pytest.raises(ValueError, match=r"weight: expected .* \[0, 1\], got 1.5"):
        nb.pick(1.5)


def test_the_weight_is_the_one_with_the_lowest_validation_wer() -> None:
    part = Pairs(["ab", "cd"], ["Y", "P"])  # Y is right: only middle weights choose it
    weight, table = combine.choose_weight(lists(), part)
    assert table[0.0]["wer"] == table[1.0]["wer"] == pytest.approx(0.5)
    assert table[weight]["wer"] == 0.0 and weight == 0.5  # of the tied weights, the one nearest 0.5
    with pytest.raises(ValueError, match="at least one weight"):
        combine.choose_weight(lists(), part, weights=())


@needs_tool
def test_nbest_lists_the_likeliest_first_and_the_best_is_train_and_apply(tmp_path: Path) -> None:
    train = Pairs(["cat", "bat", "tab", "cab", "act", "tac"],
                  ["K AE T", "B AE T", "T AE B", "K AE B", "AE K T", "T AE K"])
    model = phonetisaurus.train_model(train, tmp_path / "ps", order=3)
    listed = phonetisaurus.nbest(model, ["bac", "a_b"], 4)
    assert "a_b" not in listed and 1 <= len(listed["bac"]) <= 4
    costs = [cost for _, cost in listed["bac"]]
    assert costs == sorted(costs) and len({p for p, _ in listed["bac"]}) == len(costs)
    assert phonetisaurus.train_and_apply(train, ["bac"], order=3) == [listed["bac"][0][0]]
    with pytest.raises(ValueError, match="number of pronunciations"):
        phonetisaurus.nbest(model, ["bac"], 0)


@needs_tool
@pytest.mark.slow
def test_a_g2p_run_combined_end_to_end(tmp_path: Path) -> None:
    from tests.tasks.translate.test_translate import write_g2p

    config = run.resolve_config({
        "task": "translate",
        "data": {"name": None, "path": str(write_g2p(tmp_path / "words.tsv", 400)), "source_level": "char",
                 "target_level": "word", "validation_fraction": 0.15, "test_fraction": 0.15, "eval_size": 40},
        "model": {"recurrent": {"cell": "gru", "hidden_size": 16, "num_layers": 1}, "embedding_size": 8,
                  "attention": "additive"},
        "train": {"steps": 60, "batch_size": 32, "eval_every": 30, "progress": False},
        "metric": "g2p", "beam": 2,
    })
    run_dir, _ = run.train(config, tmp_path / "run", test=False)
    result = combine.combine_run(run_dir, n=3)
    assert set(result["validation"]) == {f"{w:g}" for w in combine.WEIGHTS}
    chosen = result["validation"][f"{result['weight']:g}"]
    assert all(chosen["wer"] <= s["wer"] for s in result["validation"].values())
    assert 0 <= result["test_wer"] <= 1 and (run_dir / "phonetisaurus" / "train" / "model.fst").exists()
    # weight 0 ranks by the tool's costs alone: its validation scores are the tool's own best
    _, job = run.load_trained(run_dir, "translate")
    val = job.parts["val"]
    tool_best = phonetisaurus.train_and_apply(job.parts["train"], val.sources)
    assert result["validation"]["0"] == pytest.approx(translate.g2p_scores(val.sources, val.targets, tool_best))
    # the kept combination converts new words as the chosen weight did on validation
    assert (run_dir / combine.COMBINATION).exists()
    again = combine.translate_combined(run_dir, val.sources)
    assert translate.g2p_scores(val.sources, val.targets, again) == pytest.approx(chosen)
    held = combine.combine_run(run_dir, n=3, folder=tmp_path / "ps", test=False)
    assert held["test"] == "unread" and "test_wer" not in held and held["weight"] == result["weight"]
    assert combine.load_combination(run_dir)["phonetisaurus_model"] == (tmp_path / "ps" / "train" / "model.fst").resolve()


def test_without_a_combination_it_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="rnnkit combine"):
        combine.load_combination(tmp_path)
