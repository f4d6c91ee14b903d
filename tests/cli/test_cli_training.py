"""`rnnkit train / resume / evaluate` end to end, including a run killed mid-way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from rnnkit.cli.main import main
from rnnkit.training.logger import read_csv

CONFIG = {
    "task": "adding",
    "data": {"length": 30, "test_size": 64},
    "model": {"recurrent": {"cell": "gru", "hidden_size": 16}},
    "train": {"steps": 600, "batch_size": 16, "log_every": 1, "eval_every": 200, "checkpoint_every": 50,
              "progress": False, "optimizer": {"lr": 0.01}},
}


def rnnkit(*args, **kwargs):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "rnnkit.cli.main", *args], env=env, **kwargs)


@pytest.mark.slow
def test_train_resume_evaluate(tmp_path, capsys):
    config = tmp_path / "adding.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    run_dir = tmp_path / "run"
    assert main(["train", str(config), "--run-dir", str(run_dir), "--set", "train.steps=40",
                 "--set", "train.eval_every=20"]) == 0
    assert "finished at step 40" in capsys.readouterr().out
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["train"]["steps"] == 40 and saved["train"]["optimizer"]["name"] == "adam"  # resolved, defaults in
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["step"] == 40 and "val_mse" in summary["last_eval"]
    assert "test_mse" in summary["report"]["metrics"] and "step 40" in summary["report"]["weights"]
    assert main(["evaluate", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert f"val_mse: {summary['last_eval']['val_mse']:.6g}" in out  # recomputed on validation
    assert f"test_mse: {summary['report']['metrics']['test_mse']:.6g}" in out  # the report's, not recomputed


def test_config_errors_are_reported(tmp_path, capsys):
    config = tmp_path / "adding.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    assert main(["train", str(config), "--set", "train.optimizer.lr=-1"]) == 2
    assert "optimizer.lr: expected a positive finite number, got -1" in capsys.readouterr().err
    assert main(["train", str(config), "--set", "model.cel=gru"]) == 2
    assert "--set model.cel: unknown key; expected one of" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"task": "telepathy"}))
    assert main(["train", str(bad)]) == 2
    assert ("task: expected one of ['adding', 'anomaly', 'classify', 'copy', 'forecast', 'language', 'music', "
            "'sentiment', 'speech', 'translate', 'video_action', 'video_caption', 'video_prediction'], got 'telepathy'") in capsys.readouterr().err
    assert main(["resume", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_curve(tmp_path):
    config = tmp_path / "adding.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert rnnkit("train", str(config), "--run-dir", str(full)).wait(timeout=300) == 0

    process = rnnkit("train", str(config), "--run-dir", str(cut))
    deadline = time.time() + 120
    while time.time() < deadline:
        index = cut / "checkpoint.json"
        if index.exists() and json.loads(index.read_text())["step"] >= 100:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    killed_at = max(r["step"] for r in read_csv(cut / "train.csv"))
    assert killed_at < 600 and not (cut / "summary.json").exists()  # it really died mid-run

    assert rnnkit("resume", str(cut)).wait(timeout=300) == 0
    expected, got = read_csv(full / "train.csv"), read_csv(cut / "train.csv")
    assert [r["step"] for r in got] == list(range(1, 601))
    assert [r["loss"] for r in got] == pytest.approx([r["loss"] for r in expected], rel=1e-6)
    expected_eval, got_eval = read_csv(full / "eval.csv"), read_csv(cut / "eval.csv")
    assert [r["step"] for r in got_eval] == [r["step"] for r in expected_eval] == [200, 400, 600]
    assert [r["val_mse"] for r in got_eval] == pytest.approx([r["val_mse"] for r in expected_eval], rel=1e-6)
