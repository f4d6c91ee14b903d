"""The command line: help and errors (the tour, ``rnnkit demo``, is tested in tests/tasks/demo)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rnnkit.cli.main import main


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "demo" in capsys.readouterr().out


def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "rnnkit.cli.main", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("rnnkit ")


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
