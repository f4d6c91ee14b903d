"""rnnkit tune on tiny generated data: the space, a search end to end (the best config trained
again and reported once), two processes on one SQLite study, and a killed search resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import yaml

from rnnkit.cli.main import main
from rnnkit.config import ConfigError
from rnnkit.tasks.core import run, tune
from tests.tiny import CONFIGS

optuna = pytest.importorskip("optuna")

SPACE = {"model.recurrent.hidden_size": {"low": 4, "high": 12, "int": True}, "train.batch_size": {"choices": [4, 8]},
         "model.recurrent.num_layers": None, "model.recurrent.bidirectional": None, "model.head_dropout": None}


def base(folder: Path) -> dict:
    return {"task": "classify", **CONFIGS["classify"](folder),
            "train": {"steps": 6, "batch_size": 4, "eval_every": 2, "progress": False, "device": "cpu",
                      "early_stopping": {"metric": "val_loss", "mode": "min"}}}


def finished(folder: Path) -> list:
    try:
        study = optuna.load_study(study_name=tune.STUDY, storage=f"sqlite:///{folder / tune.DB}")
    except KeyError:  # the database is there, the study not yet (a search starting up)
        return []
    return [t for t in study.trials if t.state.is_finished() and t.state.name in ("COMPLETE", "PRUNED")]


def test_the_space_is_the_common_one_plus_the_tasks_with_changes():
    space = tune.search_space("classify", {"train.optimizer.lr": {"low": 1e-3, "high": 1e-1, "log": True},
                                           "model.recurrent.cell": None})
    assert space["train.optimizer.lr"] == {"low": 1e-3, "high": 1e-1, "log": True}
    assert "model.recurrent.cell" not in space and "model.recurrent.bidirectional" in space  # the task's own
    assert tune.search_space("adding").keys() == tune.COMMON.keys()
    for bad, message in (({"low": 2, "high": 1}, "finite low < high"), ({"low": 0, "high": 1, "log": True}, "low > 0"),
                         ({"choices": []}, "non-empty list"), ({"min": 1}, r"expected \{low, high")):
        with pytest.raises(ConfigError, match=message):
            tune.search_space("classify", {"x.y": bad})


def test_budgets_and_refusals(tmp_path):
    assert [tune.parse_budget(t) for t in ("90s", "30m", "2h", "15")] == [90, 1800, 7200, 15]
    for text in ("", "soon", "-5m", "0"):
        with pytest.raises(ValueError, match="--budget: expected a positive duration"):
            tune.parse_budget(text)
    data = base(tmp_path)
    with pytest.raises(ValueError, match="give a --budget, a number of --trials"):
        tune.tune(data, tmp_path / "t")
    with pytest.raises(ConfigError, match="expected a validation metric"):
        tune.tune(data, tmp_path / "t", trials=1, metric="test_accuracy")
    data["train"]["early_stopping"] = {"metric": ""}
    with pytest.raises(ConfigError, match="no validation metric to optimize"):
        tune.tune(data, tmp_path / "t", trials=1)


@pytest.mark.slow
@pytest.mark.baselines
def test_a_search_end_to_end_from_the_command_line(tmp_path, capsys):
    config, space = tmp_path / "config.yaml", tmp_path / "space.yaml"
    config.write_text(yaml.safe_dump(base(tmp_path)))
    space.write_text(yaml.safe_dump(SPACE))
    folder = tmp_path / "tune"
    assert main(["tune", str(config), "--trials", "3", "--space", str(space), "--run-dir", str(folder),
                 "--metric", "val_loss", "--mode", "min", "--budget", "10m", "--set", "train.steps=4",
                 "--jobs", "1", "--storage", f"sqlite:///{folder / 'study.db'}"]) == 0
    out = capsys.readouterr().out
    assert "3 trials finished of 3; best val_loss" in out and "beside the baselines" in out
    trials = finished(folder)
    assert len(trials) == 3 and set(trials[0].params) == {"train.optimizer.lr", "model.recurrent.hidden_size",
                                                          "model.recurrent.cell", "train.batch_size"}
    best = min(trials, key=lambda t: t.value)
    chosen = run.resolve_config(yaml.safe_load((folder / "best.yaml").read_text()))
    assert chosen.model.recurrent.hidden_size == best.params["model.recurrent.hidden_size"]
    assert chosen.train.steps == 4  # --set reaches every trial and the best config
    summary = yaml.safe_load((folder / "best" / "summary.json").read_text())
    assert summary["report"]["metrics"]["test_accuracy"] >= 0 and summary["report"]["baselines"]["metrics"]
    for trial in trials:  # the trials never read test data: no report, the test part left unread
        if trial.state.name == "COMPLETE":
            trial_summary = yaml.safe_load((folder / "trials" / f"{trial.number:04d}" / "summary.json").read_text())
            assert trial_summary["test_unread"] is True and "report" not in trial_summary
    assert (folder / "optimization_history.png").exists()


def test_processes_opening_a_new_database_at_once_all_get_it(tmp_path):
    # each creates the tables; the losers of that race open the winner's (CI once lost a search to it)
    for attempt in range(3):
        url, errors = f"sqlite:///{tmp_path / f'{attempt}.db'}", []

        def open_it(url=url, errors=errors):
            try:
                tune._storage(url)
            except Exception as error:  # noqa: BLE001 - the test reports whatever escaped
                errors.append(error)

        threads = [threading.Thread(target=open_it) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        assert optuna.study.get_all_study_names(url) == []  # one working database, no study yet


@pytest.mark.slow
def test_two_processes_share_one_sqlite_study(tmp_path):
    result = tune.tune(base(tmp_path), tmp_path / "tune", trials=6, jobs=2, space=SPACE)
    trials = finished(tmp_path / "tune")
    assert len(trials) >= 6 and len({t.user_attrs["pid"] for t in trials}) == 2
    assert result["best_value"] == min(t.value for t in trials if t.state.name == "COMPLETE")


SEARCH = textwrap.dedent("""
    import sys, yaml
    from rnnkit.tasks.core import tune
    if __name__ == "__main__":
        tune.tune(yaml.safe_load(open(sys.argv[1])), sys.argv[2], trials=50, space=yaml.safe_load(open(sys.argv[3])))
""")


@pytest.mark.slow
def test_a_killed_search_resumes(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(base(tmp_path)))
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(SPACE))
    folder = tmp_path / "tune"
    log = open(tmp_path / "search.log", "w")  # noqa: SIM115 - the child writes it until killed
    child = subprocess.Popen([sys.executable, "-c", SEARCH, str(tmp_path / "config.yaml"), str(folder),
                              str(tmp_path / "space.yaml")], env={**os.environ, "PYTHONPATH": os.getcwd()},
                             stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 420  # a loaded CI machine: trials of a few seconds can take a minute
        while time.time() < deadline and child.poll() is None and \
                not ((folder / "trials").exists() and len(finished(folder)) >= 2):  # the child made the study
            time.sleep(0.5)
        assert len(finished(folder)) >= 2, (f"the search did not get going (exit {child.poll()}): "
                                            f"{(tmp_path / 'search.log').read_text()[-2000:]}")
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait()
        log.close()
    before = {t.number: t.value for t in finished(folder)}
    result = tune.tune(base(tmp_path), folder, trials=len(before) + 2, space=SPACE)
    after = {t.number: t.value for t in finished(folder)}
    assert len(after) >= len(before) + 2 and all(after[n] == v for n, v in before.items())  # kept, continued
    assert result["finished"] >= len(after) and (folder / "best.yaml").exists()
