"""The command line: help, errors, and the demo end to end for a few steps."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from rnnkit.cli.main import main
from rnnkit.tasks import demo


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "demo" in capsys.readouterr().out


def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "rnnkit.cli.main", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("rnnkit ")


@pytest.mark.slow
def test_demo_on_a_users_csv(tmp_path, capsys):
    csv_path = tmp_path / "series.csv"
    rows = [f"{t},{math.sin(t / 3) + 0.1 * math.cos(t):.6f}" for t in range(120)]
    csv_path.write_text("t,value\n" + "\n".join(rows) + "\n")
    assert main(["demo", "--csv", str(csv_path), "--column", "value", "--steps", "30", "--hidden-size", "8",
                 "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "persistence" in out and "LSTM" in out
    assert (tmp_path / "out" / "demo.png").stat().st_size > 0
    assert (tmp_path / "out" / "lstm" / "curves.png").stat().st_size > 0  # each model's run folder
    assert (tmp_path / "out" / "rnn" / "train.csv").exists()


@pytest.mark.slow
def test_demo_learns_a_sine_better_than_persistence():
    times = [float(t) for t in range(200)]
    series = (times, [math.sin(t / 4) for t in times])
    result = demo.run_demo(series, steps=150, hidden_size=16)
    for model in result.models:
        assert model.test_rmse < 0.5 * result.persistence_rmse, model.name


def test_demo_errors_name_the_problem(tmp_path, capsys):
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text("t,value\n1,abc\n")
    assert main(["demo", "--csv", str(csv_path), "--column", "value"]) == 2
    assert "expected a finite number in column 'value', got 'abc'" in capsys.readouterr().err
    assert main(["demo", "--csv", str(csv_path), "--column", "missing"]) == 2
    assert "expected a column 'missing'" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_on_sunspots_runs():
    pytest.importorskip("statsmodels")
    years, values = demo.load_sunspots()
    assert len(values) == 309 and years[0] == 1700
    result = demo.run_demo((years, values), steps=5, hidden_size=4)
    assert all(math.isfinite(m.test_rmse) for m in result.models)


@pytest.mark.parametrize("command", [
    ["demo"], ["presets"], ["train"], ["resume"], ["evaluate"], ["forecast"], ["generate"], ["predict"], ["translate"],
    ["transcribe"],
])
def test_every_command_explains_itself(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "usage: rnnkit " + " ".join(command) in text and len(text) > 200


def test_forecast_needs_a_forecasting_run(tmp_path, capsys):
    from rnnkit.config import from_dict
    from rnnkit.tasks.core import run
    from rnnkit.tasks.long_term import LongTermConfig

    config = from_dict(LongTermConfig, {"task": "adding", "data": {"length": 5, "test_size": 8},
                                        "model": {"recurrent": {"hidden_size": 4}}, "train": {"steps": 2, "progress": False}})
    run_dir, _ = run.train(config, tmp_path / "adding")
    assert main(["forecast", str(run_dir), "--horizon", "3"]) == 2
    assert "expected a forecasting run, got task 'adding'" in capsys.readouterr().err
    assert main(["forecast", str(tmp_path / "nothing"), "--horizon", "3"]) == 2
    assert "no such folder; expected a run folder" in capsys.readouterr().err
