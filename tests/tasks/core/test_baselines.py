"""Baselines beside every result: the table's arithmetic, the runner's wiring, and each task's
baselines against an independent computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnkit.data.pairs import Pairs
from rnnkit.data.sequences import SequenceSet
from rnnkit.tasks.classify.baselines import SUMMARY_POINTS, linear_summary, summary_features
from rnnkit.tasks.core import registry, run
from rnnkit.tasks.core.baselines import Candidates, better, compare, render, run_all
from rnnkit.tasks.music.task import pitch_frequency_nll
from rnnkit.tasks.translate.task import shared_characters, translation_memory
from tests.tiny import CONFIGS

pytestmark = pytest.mark.baselines

TRAIN = {"steps": 4, "batch_size": 4, "eval_every": 2, "progress": False, "device": "cpu"}
WITHOUT = {"adding", "copy", "speech"}  # synthetic tasks, and speech: no standard cheap recognizer


def test_directions_by_metric_name():
    assert [better(m) for m in ("test_accuracy", "test_macro_f1", "val_roc_auc", "test_bleu", "test_chrf")] == \
        ["higher"] * 5
    assert [better(m) for m in ("test_mase", "test_smape", "test_rmse", "test_nll", "test_bpc", "test_ppl",
                                "test_wer", "test_per", "test_loss")] == ["lower"] * 9
    assert better("test_coverage") is None and better("test_something") is None


def test_compare_and_render_by_hand():
    model = {"test_accuracy": 0.80, "test_mase": 1.2}
    results = run_all(Candidates(
        {"a": lambda: {"test_accuracy": 0.85, "test_mase": 1.5}, "b": lambda: {"test_accuracy": 0.80},
         "broken": lambda: 1 / 0},
        {"slow": "too slow"}))
    assert set(results["metrics"]) == {"a", "b"} and results["skipped"]["slow"] == "too slow"
    assert results["skipped"]["broken"].startswith("failed: ZeroDivisionError")
    comparison = compare(model, results)
    assert comparison["beaten_by"] == [{"baseline": "a", "metric": "test_accuracy", "baseline_value": 0.85,
                                        "model_value": 0.80}]  # b ties: not a win; a's MASE is worse
    table = render(model, comparison, 12.0).splitlines()
    assert table[0] == "| method | accuracy | mase | seconds |"
    assert table[2] == "| rnnkit | 0.8 | 1.2 | 12 |"
    assert table[3].startswith("| a | 0.85 | 1.5 |") and table[4].startswith("| b | 0.8 | - |")
    assert "a beats the model: accuracy 0.85 vs 0.8" in table
    assert "slow: skipped (too slow)" in table and any(line.startswith("broken: skipped (failed") for line in table)


def test_every_real_task_has_baselines():
    assert {name for name in registry.names() if registry.get(name).baselines is None} == WITHOUT


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(set(CONFIGS) - WITHOUT))
def test_the_report_puts_the_baselines_beside_the_model(task, tmp_path):
    data = {"task": task, **CONFIGS[task](tmp_path), "train": TRAIN}
    _, result = run.train(run.resolve_config(data), tmp_path / "run")
    report = result.report
    assert report["baselines"]["metrics"], report["baselines"]
    for name, metrics in report["baselines"]["metrics"].items():
        assert set(metrics) & set(report["metrics"]), name  # scored on the model's metrics
        assert all(math.isfinite(v) for v in metrics.values()), name
    assert "beside the baselines (the same test part):\n| method |" in report["text"]
    _, quiet = run.train(run.resolve_config(data), tmp_path / "quiet", baselines=False)
    assert "baselines" not in quiet.report


def test_pitch_frequencies_by_hand():
    class Piece:
        def __init__(self, roll):
            self.roll = np.array(roll, dtype=np.uint8)

    train = [Piece([[1, 0], [1, 0], [0, 0]])]  # pitch 0 on in 2 of 3 frames, pitch 1 never
    p0, p1 = (2 + 1) / (3 + 2), (0 + 1) / (3 + 2)
    test = [Piece([[1, 1], [0, 0]])]
    expected = -(math.log(p0) + math.log(p1) + math.log(1 - p0) + math.log(1 - p1)) / 2
    assert pitch_frequency_nll(train, test) == pytest.approx(expected)


def test_copying_needs_one_script_and_the_memory_finds_the_nearest_source():
    same = Pairs(["thou art", "thee"], ["you are", "you"])
    assert shared_characters(same) == pytest.approx(sum(c in set("thou artthee") for c in "youareyou") / 9)
    assert shared_characters(Pairs(["cat"], ["кот"])) == 0.0
    memory = Pairs(["the cat sat", "a dog ran", "birds fly high"], ["A", "B", "C"])
    assert translation_memory(memory, ["a dog runs", "the cats sat", "bird flies"]) == ["B", "A", "C"]


def test_summary_features_by_hand_and_the_linear_model_separates_slopes():
    x = np.stack([np.arange(5.0), 2 * np.ones(5)], axis=1)  # (T=5, C=2): a ramp and a constant
    f = summary_features([x])[0]
    C = 2
    assert f[:C].tolist() == [2.0, 2.0]  # means
    assert f[6 * C : 7 * C].tolist() == pytest.approx([1.0 * 4, 0.0])  # slope per unit of normalized time
    assert len(f) == 7 * C + SUMMARY_POINTS * C + 1 and f[-1] == pytest.approx(math.log(5))
    rng = np.random.default_rng(0)
    up = [np.cumsum(rng.normal(0.5, 0.1, (int(rng.integers(6, 20)), 1)), 0) for _ in range(20)]
    down = [-s for s in up]
    train = SequenceSet(up[:15] + down[:15], np.array(["up"] * 15 + ["down"] * 15))
    assert linear_summary(train, up[15:] + down[15:]).tolist() == ["up"] * 5 + ["down"] * 5
