"""Every command of the CLI with each of its options, run on small trained runs of each task.

:data:`CALLS` is the table of command lines; one test runs each, and one checks that the
table uses every option that the parser defines, so a new option without a test fails here.
"""

from __future__ import annotations

import io
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from rnnkit.cli.main import build_parser, main
from rnnkit.tasks.core import run
from tests.tiny import CONFIGS

TRAIN = {"steps": 6, "batch_size": 4, "eval_every": 3, "progress": False, "device": "cpu"}

# (name, argv): {placeholders} are filled from the runs and files the fixture makes
CALLS = [
    ("demo", ["demo", "--only", "gradients", "--quick", "--no-progress", "--seed", "3", "--out", "{tmp}/demo",
              "--debug"]),
    ("demo --list", ["demo", "--list"]),
    ("presets", ["presets", "--debug"]),
    ("train", ["train", "adding", "--set", "train.steps=2", "--set", "train.progress=false", "--set",
               "model.recurrent.hidden_size=4", "--run-dir", "{tmp}/adding"]),
    ("resume", ["resume", "{adding}", "--no-baselines", "--debug"]),  # the test first raises train.steps: an unfinished run
    ("evaluate", ["evaluate", "{adding}", "--unfinished", "--debug"]),
    ("train --overwrite", ["train", "adding", "--set", "train.steps=2", "--set", "train.progress=false", "--set",
                           "model.recurrent.hidden_size=4", "--run-dir", "{tmp}/adding", "--overwrite", "--no-baselines",
                           "--debug"]),
    ("train --no-test", ["train", "adding", "--set", "train.steps=2", "--set", "train.progress=false", "--set",
                         "model.recurrent.hidden_size=4", "--run-dir", "{tmp}/held", "--no-test"]),
    ("evaluate --no-test run", ["evaluate", "{tmp}/held"]),
    ("report", ["report", "{tmp}/held", "--no-baselines", "--debug"]),
    ("forecast --csv", ["forecast", "{forecast}", "--horizon", "3", "--csv", "{newer_csv}", "--out", "{tmp}/newer",
                        "--unfinished", "--debug"]),
    ("forecast --future", ["forecast", "{forecast_covariate}", "--horizon", "3", "--future", "{future_csv}"]),
    ("ensemble", ["ensemble", "{forecast_covariate}", "--no-baselines", "--out", "{tmp}/ens", "--debug"]),
    ("generate text", ["generate", "{language}", "--prompt", "the\\n", "--escapes", "--length", "6", "--temperature",
                       "0.7", "--top-k", "3", "--top-p", "0.9", "--seed", "1", "--unfinished", "--debug"]),
    ("generate music", ["generate", "{music}", "--length", "4", "--temperature", "0.9", "--seed", "1", "--out",
                        "{tmp}/sample.mid", "--prime", "{prime_mid}", "--prime-frames", "2"]),
    ("predict FILE", ["predict", "{sentiment}", "{texts_file}", "--unfinished", "--debug"]),
    ("predict --text", ["predict", "{sentiment}", "--text", "a good fine film", "--text", "bad"]),
    ("predict stdin", ["predict", "{sentiment}"]),
    ("translate FILE", ["translate", "{translate}", "{sources_file}", "--beam", "2", "--attention", "{tmp}/att.png"]),
    ("translate --text", ["translate", "{translate}", "--text", "ah", "--unfinished", "--debug"]),
    ("combine", ["combine", "{translate}", "--nbest", "3", "--order", "3", "--no-test", "--debug"]),  # needs Phonetisaurus
    ("translate --combined", ["translate", "{translate}", "--text", "ag", "--text", "a_h", "--combined"]),
    ("transcribe", ["transcribe", "{speech}", "{wav}", "--beam", "2", "--unfinished", "--debug"]),
    ("generate video", ["generate", "{video_prediction}", "--length", "5", "--prime", "{video_clip}", "--out",
                        "{tmp}/rollout.gif"]),
    ("predict --clip", ["predict", "{video_action}", "--clip", "{action_clip_a}", "--clip", "{action_clip_b}"]),
    ("caption", ["caption", "{video_caption}", "--clip", "{caption_clip}", "--beam", "2", "--unfinished", "--debug"]),
    ("export", ["export", "{language}", "--format", "onnx", "--streaming", "--out", "{tmp}/lm/step.onnx", "--steps", "8",
                "--unfinished", "--debug"]),
    ("export --format", ["export", "{sentiment}", "--format", "exported-program", "--steps", "6"]),
    ("bench speed", ["bench", "speed", "--quick", "--shape", "6,2,4,8,1", "--threads", "1", "--rounds", "1", "--device",
                     "cpu", "--out", "{tmp}/bench.json", "--debug"]),
    ("tune", ["tune", "{tune_config}", "--set", "train.steps=4", "--budget", "5m", "--trials", "2", "--jobs", "1",
              "--metric", "val_loss", "--mode", "min", "--space", "{tune_space}", "--storage",
              "sqlite:///{tmp}/tune/study.db", "--run-dir", "{tmp}/tune", "--debug"]),
]

# rnnkit serve runs until it is stopped: test_serve_with_every_option starts it as a process
SERVE = ["serve", "{language}", "--host", "127.0.0.1", "--port", "{port}", "--sessions", "memory", "--max-sessions", "2",
         "--idle-seconds", "30", "--max-batch", "4", "--max-wait-ms", "1", "--log-level", "warning", "--unfinished",
         "--debug"]


def train_tiny(task: str, folder: Path, **extra: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = {"task": task, **CONFIGS[task](folder), "train": TRAIN, **extra}
    run_dir, _ = run.train(run.resolve_config(data), folder / "run")
    return run_dir


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("cli")
    t = np.arange(60)
    forecast = train_tiny("forecast", tmp / "forecast")
    pd.DataFrame({"y": 10 + np.sin(2 * np.pi * np.arange(130) / 12)}).to_csv(tmp / "newer.csv", index=False)
    covariate = tmp / "covariate"
    covariate.mkdir()
    pd.DataFrame({"y": 10 + np.sin(t / 2) + (t % 5 == 0), "promo": (t % 5 == 0).astype(float)}).to_csv(
        covariate / "series.csv", index=False)
    run_dir, _ = run.train(run.resolve_config({
        "task": "forecast", "train": TRAIN, "model": {"recurrent": {"hidden_size": 8}},
        "data": {"name": None, "path": str(covariate / "series.csv"), "covariate_columns": ["promo"], "window": 12,
                 "horizon": 3, "test_size": 9, "validation_size": 6, "stride": 3}}), covariate / "run")
    pd.DataFrame({"promo": [1.0, 0.0, 0.0]}).to_csv(tmp / "future.csv", index=False)
    music = train_tiny("music", tmp / "music")
    (tmp / "texts.txt").write_text("a good film\nbad awful\n")
    (tmp / "sources.txt").write_text("ag\nbh\n")
    speech = train_tiny("speech", tmp / "speech")
    (tmp / "tune-data").mkdir()
    tune_config = {"task": "classify", **CONFIGS["classify"](tmp / "tune-data"),
                   "train": {**TRAIN, "early_stopping": {"metric": "val_loss"}}}
    (tmp / "tune.yaml").write_text(yaml.safe_dump(tune_config))
    (tmp / "space.yaml").write_text(yaml.safe_dump({"model.recurrent.hidden_size": {"low": 4, "high": 8, "int": True},
                                                    "model.recurrent.num_layers": None}))
    return {"tmp": str(tmp), "adding": str(tmp / "adding"),
            "forecast": str(forecast), "newer_csv": str(tmp / "newer.csv"), "forecast_covariate": str(run_dir),
            "future_csv": str(tmp / "future.csv"), "language": str(train_tiny("language", tmp / "language")),
            "music": str(music), "prime_mid": str(tmp / "music" / "midi" / "p0.mid"),
            "sentiment": str(train_tiny("sentiment", tmp / "sentiment")), "texts_file": str(tmp / "texts.txt"),
            "translate": str(train_tiny("translate", tmp / "translate")), "sources_file": str(tmp / "sources.txt"),
            "speech": str(speech), "wav": str(tmp / "speech" / "s0u0.wav"), "tune_config": str(tmp / "tune.yaml"),
            "tune_space": str(tmp / "space.yaml"),
            "video_prediction": str(train_tiny("video_prediction", tmp / "video_prediction")),
            "video_clip": str(tmp / "video_prediction" / "clips" / "c0"),
            "video_action": str(train_tiny("video_action", tmp / "video_action")),
            "action_clip_a": str(tmp / "video_action" / "clips" / "c0"),
            "action_clip_b": str(tmp / "video_action" / "clips" / "c1"),
            "video_caption": str(train_tiny("video_caption", tmp / "video_caption")),
            "caption_clip": str(tmp / "video_caption" / "clips" / "c1")}


@pytest.mark.slow
def test_every_call_runs(places, capsys, monkeypatch):
    """In table order: ``train`` makes the run that ``resume`` and ``evaluate`` use."""
    from rnnkit.tasks.translate import phonetisaurus

    for name, argv in CALLS:
        if name in ("combine", "translate --combined") and isinstance(phonetisaurus.environment(), str):
            continue  # the tool's binaries are Linux-only: tests/tasks/translate/test_combine.py says so
        if name == "predict stdin":
            monkeypatch.setattr(sys, "stdin", io.StringIO("a good film\n\nawful\n"))
        if name == "resume":  # a finished run has nothing to resume: ask for more steps, as its error says
            config = Path(places["adding"]) / "config.yaml"
            config.write_text(config.read_text().replace("steps: 2\n", "steps: 4\n"))
        filled = [a.format(**places) for a in argv]
        code = main(filled)
        out, err = capsys.readouterr()
        assert code == 0, (name, err)
        check_output(name, out, places)
    # the direct head reads all its horizon's covariates, even to give fewer steps: say so
    short = Path(places["tmp"]) / "short.csv"
    pd.DataFrame({"promo": [1.0, 0.0]}).to_csv(short, index=False)
    assert main(["forecast", places["forecast_covariate"], "--horizon", "2", "--future", str(short)]) == 2
    assert "reads the covariates of all 3 steps it forecasts at once (even to give 2): expected 3 rows, got 2" in \
        capsys.readouterr().err


def check_output(name: str, out: str, places: dict[str, str]) -> None:
    tmp = Path(places["tmp"])
    if name == "demo":
        assert "gradients: LSTM mse" in out and (tmp / "demo" / "index.html").exists()
    elif name == "demo --list":
        assert out.split()[:1] == ["forecast"] and "video" in out
    elif name == "presets":
        assert out.splitlines()[0].startswith("adding ") and "forecast-airline" in out
    elif name == "train":
        assert "finished at step 2" in out and (tmp / "adding" / "split.json").exists()
    elif name == "resume":  # the shorter run's report is kept beside the new one
        assert "finished at step 4" in out and (tmp / "adding" / "summary-step2.json").exists()
    elif name == "train --overwrite":  # the earlier run is moved aside, not deleted
        assert "finished at step 2" in out and len(list(tmp.glob("adding.replaced-*/checkpoint.json"))) == 1
    elif name == "evaluate":
        assert "val_mse:" in out and "test_mse:" in out
    elif name == "train --no-test":  # trained, its test part left for the report
        assert "finished at step 2" in out and "the test part is unread" in out and "test (read once" not in out
        assert json.loads((tmp / "held" / "summary.json").read_text())["test_unread"] is True
    elif name == "evaluate --no-test run":
        assert "val_mse:" in out and "`rnnkit report " in out and "test_mse" not in out
    elif name == "report":
        assert out.startswith("test (read once, ") and "test_mse " in out
        assert "report" in json.loads((tmp / "held" / "summary.json").read_text())
    elif name == "forecast --csv":  # newer data: the forecast starts after its 130 rows
        table = pd.read_csv(tmp / "newer" / "forecast.csv")
        assert len(table) == 3 and float(table["time"].iloc[0]) == 130.0
    elif name == "forecast --future":
        assert "forecast.csv" in out
    elif name == "ensemble":  # one run, no baselines: the run alone, chosen on validation, scored on test
        assert "chosen: rnnkit alone" in out and "test (read once)" in out and (tmp / "ens" / "ensemble.json").exists()
    elif name == "generate text":
        assert out.startswith("the\n") and len(out) >= len("the\n") + 1
    elif name == "generate music":
        assert (tmp / "sample.mid").exists() and (tmp / "sample.png").exists()
    elif name == "generate video":
        assert (tmp / "rollout.gif").exists() and (tmp / "rollout.png").exists()
    elif name == "caption":
        clip, text = out.strip().split("\t")
        assert clip == places["caption_clip"] and set(text.split()) <= {"a", "bar", "moves", "left", "right"}
    elif name.startswith("predict"):
        lines = out.strip().splitlines()
        assert lines[0].startswith("predicted\t") and len(lines) == 3
        assert all(math.isclose(sum(float(p) for p in line.split("\t")[1:-1]), 1.0, abs_tol=1e-3) for line in lines[1:])
    elif name == "translate FILE":
        assert [line.split("\t")[0] for line in out.strip().splitlines()] == ["ag", "bh"] and (tmp / "att.png").exists()
    elif name == "translate --text":
        assert out.startswith("ah\t")
    elif name == "combine":
        assert "chosen on validation: w = " in out and "test part unread" in out
        assert (Path(places["translate"]) / "combination.json").exists()
    elif name == "translate --combined":  # "a_h" has the tool's reserved "_": the network's answer alone
        assert [line.split("\t")[0] for line in out.strip().splitlines()] == ["ag", "a_h"]
    elif name == "tune":
        assert "2 trials finished of 2; best val_loss" in out and (tmp / "tune" / "best.yaml").exists()
    elif name == "transcribe":
        assert out.startswith(places["wav"] + "\t")
    elif name == "export":
        assert (tmp / "lm" / "step.onnx").exists() and (tmp / "lm" / "step.json").exists()
        assert "(one step per call, the state in and out)" in out and "max |diff|" in out
    elif name == "bench speed":  # the shape asked for, every candidate, and no targets judged at it
        result = json.loads((tmp / "bench.json").read_text())
        assert result["shapes"] == ["6,2,4,8,1"] and len(result["rows"]) == 8 and result["targets"] == []
        assert "| rk.LSTM layer_norm |" in out and "not judged" in out
    elif name == "export --format":
        assert Path(places["sentiment"], "model-sequence.pt2").exists() and "(any length)" in out


def test_the_table_uses_every_option_of_every_command():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    used: dict[str, set[str]] = {}
    for _, argv in [*CALLS, ("serve", SERVE)]:
        verb = " ".join(argv[:2]) if argv[0] == "bench" else argv[0]
        used.setdefault(verb, set()).update(a for a in argv if a.startswith("--"))
    missing = []
    bench = next(a for a in commands["bench"]._actions if a.dest == "bench").choices
    for verb, sub in [*((v, p) for v, p in commands.items() if v != "bench"),
                      *((f"bench {v}", p) for v, p in bench.items())]:
        options = {s for action in sub._actions for s in action.option_strings if s.startswith("--") and s != "--help"}
        missing += [f"{verb} {option}" for option in sorted(options - used.get(verb, set()))]
        if verb not in used:
            missing.append(verb)
    assert not missing, f"commands or options no test runs: {missing}"


@pytest.mark.slow
def test_serve_with_every_option(places):
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    import signal
    import subprocess
    import time

    from tests.serve.conftest import free_port

    port = free_port()
    argv = [a.format(port=port, **places) for a in SERVE]
    process = subprocess.Popen([sys.executable, "-m", "rnnkit", *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.stdout.read()
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "rnnkit serve did not answer in 90 s"
                time.sleep(0.1)
        assert httpx.get(url + "/info").json()["max_batch"] == 4
        assert [httpx.post(url + "/sessions").status_code for _ in range(3)] == [200, 200, 429]  # --max-sessions 2
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) in (0, -signal.SIGTERM)
