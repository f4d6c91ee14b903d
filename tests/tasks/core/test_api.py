"""rk.fit_task: what the command line gives, from Python, on data in memory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import rnnkit as rk
from rnnkit.tasks.core import run

TRAIN = {"steps": 4, "batch_size": 4, "eval_every": 2, "progress": False, "device": "cpu"}


@pytest.mark.slow
@pytest.mark.baselines
def test_classify_arrays_in_memory_with_baselines_and_a_data_report(tmp_path):
    rng = np.random.default_rng(0)
    sequences = [rng.normal(size=(int(rng.integers(5, 9)), 2)) + (i % 2) for i in range(40)]
    labels = ["even", "odd"] * 20
    result = rk.fit_task({"task": "classify", "model": {"recurrent": {"hidden_size": 8}}, "train": TRAIN,
                          "data": {"name": None, "validation_fraction": 0.25, "test_fraction": 0.25}},
                         data=(sequences, labels), run_dir=tmp_path / "run")
    assert set(result.metrics) == {"test_accuracy", "test_macro_f1"}
    assert {"linear (summary features)", "1-NN DTW"} <= set(result.baselines["metrics"])
    frame = result.baselines_frame()
    assert frame.index[0] == "rnnkit" and frame.loc["rnnkit", "test_accuracy"] == result.metrics["test_accuracy"]
    assert result.table.startswith("| method | accuracy | macro_f1 | seconds |")
    assert result.data_report[:3] == ["parts: train 22, validation 8, test 10", "channels: 2",
                                      "classes (training part): 2: odd 11, even 11"]
    assert (tmp_path / "run" / "sequences.npz").exists() and not list(tmp_path.glob(".run.incoming-*"))
    assert run.load_run_config(tmp_path / "run").data.path == str((tmp_path / "run" / "sequences.npz").resolve())


@pytest.mark.slow
def test_texts_and_series_in_memory(tmp_path):
    texts = [f"{'good fine' if i % 2 else 'bad awful'} film {i}" for i in range(60)]
    labels = ["pos" if i % 2 else "neg" for i in range(60)]
    result = rk.fit_task({"task": "sentiment", "data": {"name": None}, "train": TRAIN,
                          "model": {"recurrent": {"hidden_size": 8}, "embedding_size": 8}},
                         data=pd.DataFrame({"text": texts, "label": labels}), run_dir=tmp_path / "texts",
                         baselines=False)
    assert "test_accuracy" in result.metrics and result.baselines is None and result.table == ""
    assert any(line.startswith("data.level: words (auto") for line in result.data_report)
    t = np.arange(120)
    series = pd.Series(10 + np.sin(2 * np.pi * t / 12), index=t, name="y")
    result = rk.fit_task({"task": "forecast", "model": {"recurrent": {"hidden_size": 8}}, "train": TRAIN,
                          "data": {"name": None, "window": 12, "horizon": 3, "test_size": 12, "validation_size": 9,
                                   "stride": 3}}, data=series, run_dir=tmp_path / "series", baselines=False)
    assert "test_mase" in result.metrics


def test_bad_data_in_memory_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="data: 3 sequences but 2 labels"):
        rk.fit_task({"task": "classify", "data": {"name": None}}, data=([np.zeros((4, 1))] * 3, ["a", "b"]),
                    run_dir=tmp_path / "a")
    with pytest.raises(TypeError, match=r"expected \(sequences, labels\)"):
        rk.fit_task({"task": "classify", "data": {"name": None}}, data=np.zeros((3, 4, 1)), run_dir=tmp_path / "b")
    with pytest.raises(ValueError, match="task 'adding' takes a path"):
        rk.fit_task({"task": "adding"}, data=[1, 2], run_dir=tmp_path / "c")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "config.yaml").write_text("task: classify\n")  # a run is there: refused, nothing left behind
    with pytest.raises(RuntimeError, match="holds an unfinished run"):
        rk.fit_task({"task": "classify", "data": {"name": None}}, data=([np.zeros((4, 1))] * 4, ["a", "b"] * 2),
                    run_dir=tmp_path / "d")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"] and sorted(p.name for p in (tmp_path / "d").iterdir()) \
        == [".lock", "config.yaml"]
