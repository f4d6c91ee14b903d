"""The benchmark scripts: each explains itself, and the long-term one runs end to end in quick mode.

They live outside the package (``benchmarks/``) and import it; they are run here as a user
runs them, ``python benchmarks/<name>.py``.
"""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if p.stem not in ("common", "seq2seq", "keras_speed"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_every_script_explains_itself(script, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    monkeypatch.setattr(sys, "argv", [str(script), "--help"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(script), run_name="__main__")
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage:") and len(text) > 200


@pytest.mark.slow
def test_long_term_benchmark_quick(tmp_path):
    done = subprocess.run([sys.executable, str(BENCHMARKS / "long_term.py"), "--quick", "--tasks", "adding",
                           "--cells", "rnn", "lstm", "--out", str(tmp_path)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "long_term.md").read_text()
    assert "| adding | 20 | tanh RNN |" in text and "| adding | 20 | LSTM |" in text
    assert (tmp_path / "long_term_gradient_flow.png").stat().st_size > 0
    rows = json.loads((tmp_path / "long_term.json").read_text())["rows"]
    assert len(rows[0]["flow_init"]) == 20


def test_seq2seq_bleu_by_length_reads_a_runs_predictions(tmp_path, monkeypatch):
    """The Bible table's buckets come from a run's predictions.tsv (the translation report's columns)."""
    pytest.importorskip("sacrebleu")
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import seq2seq
    from rnnkit.tasks import translate

    rows = [("a b", "the cat sat on the mat", "the cat sat on the mat"),  # exact, 4-grams and all: BLEU 100
            ("a b c d e f g h i j k l", "a dog ran far", "a dog ran")]
    path = tmp_path / "predictions.tsv"
    path.write_text("source\treference\toutput\n" + "".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    buckets = seq2seq.bleu_by_length(path)
    assert buckets == translate.bleu_by_length(*zip(*rows))
    assert [(b["low"], b["count"]) for b in buckets[:2]] == [(0, 1), (10, 1)]  # 2 and 12 source words
    assert buckets[0]["bleu"] == pytest.approx(100.0) and buckets[1]["bleu"] < 100


def test_reuse_and_variant_helpers(monkeypatch):
    """A finished run is reused only for the same settings ("auto" matches what it chose; the run
    folder and the progress bar do not count); a video variant is NAME:KEY=VALUE;KEY=VALUE."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import common
    import video

    wanted = {"data": {"shared_vocabulary": "auto", "seed": 0}, "no_repeat_ngram": "auto", "beam": 5,
              "run_dir": "/b", "train": {"progress": False, "steps": 5}}
    held = {"data": {"shared_vocabulary": False, "seed": 0}, "no_repeat_ngram": 4, "beam": 5, "run_dir": "/a",
            "train": {"progress": True, "steps": 5}}
    assert common.same_settings(held, wanted)
    assert not common.same_settings({**held, "data": {"shared_vocabulary": False, "seed": 1}}, wanted)
    assert not common.same_settings({**held, "train": {"progress": True, "steps": 6}}, wanted)
    assert not common.same_settings({k: v for k, v in held.items() if k != "beam"}, wanted)
    assert video.parse_variant("w64:model.hidden_channels=[64,64];train.steps=10") == (
        "w64", ["model.hidden_channels=[64,64]", "train.steps=10"])
    for bad in ("w64", "w64:", ":a=1", "w64:a=1;b"):
        with pytest.raises(SystemExit, match="NAME:KEY=VALUE"):
            video.parse_variant(bad)


def test_video_budget_sentence_names_each_models_steps(monkeypatch):
    """Prediction runs trained by separate calls may have different step budgets (the same time
    on one core each): the table's sentence then names each model's, never the first row's alone."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import video

    row = {"model": "convlstm", "max_steps": 8000, "max_seconds": 6000, "batch_size": 16}
    same = video.budget_sentence([row, {**row, "model": "fclstm"}])
    assert same == "Each model trained for up to 8000 steps of 16 clips, capped at 6000 seconds of training each"
    mixed = video.budget_sentence([row, {**row, "model": "fclstm", "max_steps": 3200}])
    assert mixed == ("Each model trained for up to its own number of steps (ConvLSTM encoder-forecaster 8000, "
                     "FC-LSTM 3200) of 16 clips, capped at 6000 seconds of training each")
    uncapped = video.budget_sentence([row, {**row, "max_seconds": None}])
    assert uncapped == "Each model trained for up to 8000 steps of 16 clips"
