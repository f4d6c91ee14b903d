"""``rnnkit bench speed``: the targets judged from ratios as the issue states them, the
interleaved timer's order, and a smoke run that measures every candidate (no time asserted)."""

from __future__ import annotations

import json

import pytest
import torch

from rnnkit.functional import kernels

from rnnkit.tasks import bench
from rnnkit.tasks.bench import speed
from rnnkit.tasks.bench.machine import cpu_vendor_and_isa


def rows_with(ratios: dict[str, list[float]]) -> list[dict]:
    """Rows at the four standard shapes, in order, with the ratios given per candidate."""
    keys = [",".join(map(str, s)) for s in speed.SHAPES]
    return [{"shape": key, "name": name, "ratio": r} for name, values in ratios.items() for key, r in zip(keys, values)]


def test_targets_take_the_worst_ratio_of_their_shapes():
    rows = rows_with({
        "rk.LSTM (auto)": [1.00, 1.04, 1.06, 0.90],  # 1.06 > 1.05 on the long shape
        "rk.LSTM zoneout=0.1": [1.10, 1.20, 1.40, 1.45],  # wide: 1.20 > 1.15; others: 1.45 <= 1.5
        "rk.LSTM layer_norm": [1.30, 1.49, 1.50, 1.20],  # 1.50 holds (at most)
        "rk.GRU (auto)": [0.50, 0.60, 0.70, 0.40],  # 0.70 > 2/3
    })
    rows.append({"shape": "7,7,7,7,1", "name": "rk.LSTM layer_norm", "ratio": 9.0})  # not a standard shape: ignored
    found = {t.name: (t.worst, t.bound, t.holds) for t in bench.check_targets(rows)}
    assert found == {
        "rk.LSTM (auto), every shape": (1.06, 1.05, False),
        "rk.LSTM zoneout=0.1, wide shapes": (1.20, 1.15, False),
        "rk.LSTM zoneout=0.1, long and batch-1 shapes": (1.45, 1.5, True),
        "rk.LSTM layer_norm, every shape": (1.50, 1.5, True),
        "rk.GRU (auto) / torch.nn.GRU, every shape (1.5x faster)": (0.70, 1 / 1.5, False),
    }


def test_the_timer_rotates_the_order_and_takes_the_median(monkeypatch):
    """A fake clock: each call lasts the next of its durations (three fast warm-up calls, then one
    per round); the rounds rotate who goes first, and the median of the rounds is kept."""
    durations = {"a": iter([0.1, 0.1, 0.1, 5.0, 1.0, 3.0]), "b": iter([0.1, 0.1, 0.1, 2.0, 2.0, 2.0])}
    clock, calls = [0.0], []

    def candidate(name: str):
        def call() -> None:
            calls.append(name)
            clock[0] += next(durations[name])
        return call

    monkeypatch.setattr(bench.machine.time, "perf_counter", lambda: clock[0])
    medians = bench.time_interleaved({"a": candidate("a"), "b": candidate("b")}, rounds=3, min_seconds=1e-9)
    assert calls[6:] == ["a", "b", "b", "a", "a", "b"]
    assert medians == {"a": 3.0, "b": 2.0}


def test_a_quick_check_times_every_candidate_and_restores_the_threads():
    before = torch.get_num_threads()
    lines: list[str] = []
    check = bench.speed_check([(5, 2, 3, 4, 1)], threads=1, quick=True, report=lines.append)
    assert torch.get_num_threads() == before
    names = [r["name"] for r in check.rows]
    assert names == ["torch.nn.LSTM", "rk.LSTM (auto)", *(f"rk.LSTM {v}" for v in speed.VARIANTS), "torch.nn.GRU",
                     "rk.GRU (auto)"]
    assert all(r["ms"] > 0 for r in check.rows) and len(lines) == 2
    assert {r["ratio"] for r in check.rows if r["name"].startswith("torch.nn.")} == {1.0}
    assert {r["path"] for r in check.rows if "(auto)" in r["name"]} <= {"torch", "rnnkit", "loop"}
    assert check.machine["vendor"] == cpu_vendor_and_isa()[0] and check.targets == []
    assert json.loads(json.dumps(check.to_json()))["rows"] == check.rows
    assert "not judged" in check.markdown()
    if kernels.available():  # one thread: the kernels' small steps ran on it, and the table says so
        assert {c["way"] for c in check.step_splits["chosen"] if (c["batch"], c["hidden"], c["threads"]) == (2, 4, 1)} \
            == {"none"}
        assert "lstm B=2 H=4 on 1: one thread" in check.markdown()
    else:
        assert check.step_splits["chosen"] == []


@pytest.mark.parametrize("kwargs,message", [
    ({"device": "tpu"}, "device: expected 'cpu' or 'cuda', got 'tpu'"),
    ({"threads": 0}, "threads: expected a positive number, got 0"),
    ({"shapes": [(5, 2, 3, 4)]}, "shapes: expected (T, B, I, H, layers) of positive ints, got (5, 2, 3, 4)"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError) as error:
        bench.speed_check(**kwargs)
    assert str(error.value) == message
