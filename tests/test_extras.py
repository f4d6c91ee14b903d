"""Optional dependencies: one message, naming what needs it and the extra that installs it, for
every one of them; from the library and from the command line. And the package's lazy attributes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rnnkit.cli.main import main
from rnnkit.extras import OPTIONAL, MissingDependency, install_hint, require


def block(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    """Make ``import module`` (and its submodules) fail as if it were not installed."""
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)


@pytest.mark.parametrize("module", sorted(OPTIONAL))
def test_every_optional_dependency_names_its_extra(module, monkeypatch):
    distribution, extra = OPTIONAL[module]
    block(monkeypatch, module)
    with pytest.raises(MissingDependency) as error:
        require(f"{module}.something", "this feature")
    assert str(error.value) == f"this feature needs {distribution}: pip install 'rnnkit[{extra}]'"
    assert isinstance(error.value, ImportError)


def test_an_installed_module_is_returned_and_an_extra_can_be_named():
    import json

    assert require("json", "anything") is json
    assert install_hint("sklearn.metrics", extra="text") == "pip install 'rnnkit[text]'"
    assert install_hint("somethingelse") == "pip install somethingelse"


def test_the_command_line_says_which_extra_is_missing(monkeypatch, capsys, tmp_path):
    block(monkeypatch, "pandas")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "forecast-airline", "--set", "train.steps=2"]) == 2
    err = capsys.readouterr().err
    assert "rnnkit train: error:" in err and "needs pandas: pip install 'rnnkit[timeseries]'" in err


def test_without_matplotlib_plots_are_skipped_with_a_warning(monkeypatch):
    from rnnkit.tasks.core.plotting import pyplot

    block(monkeypatch, "matplotlib")
    with pytest.warns(UserWarning, match=r"plots needs matplotlib: pip install 'rnnkit\[demo\]'; skipping"):
        assert pyplot() is None


def test_subpackages_are_attributes_of_the_package():
    code = "import rnnkit as rk; print(rk.training.fit.__name__, rk.tasks.core.run.train.__name__ if False else 'ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.split() == ["fit", "ok"], done.stderr
    import rnnkit as rk

    with pytest.raises(AttributeError, match="has no attribute 'trainning'"):
        rk.trainning  # noqa: B018
