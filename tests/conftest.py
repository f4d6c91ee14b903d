"""Fixtures for every test: the device parameter and a fixed seed; the fused kernels built once
before the test workers start (with ``RNNKIT_REQUIRE_KERNEL=1``, as CI sets it, a kernel that
does not build fails the session at once instead of letting its tests skip); the baselines that
every report runs (ETS, ARIMA, DTW, ...) run only in the tests marked ``baselines``, so that the
many small runs of the other tests stay small; ``trained(task)``: a tiny trained run of a task."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import DEVICES


def pytest_sessionstart(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller has built them
        return
    from rnnkit.functional import kernels

    try:
        kernels.available()
    except RuntimeError as error:
        raise pytest.UsageError(str(error)) from None


TINY_TRAIN = {"steps": 6, "batch_size": 4, "eval_every": 3, "progress": False, "device": "cpu"}


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """``trained(task, changes=None)`` -> the folder of a tiny run of ``task`` on the generated data
    of :mod:`tests.tiny` (``changes``: config sections merged over it, e.g. ``{"model": {...}}``),
    trained once per test session and worker."""
    import json

    import rnnkit as rk
    from tests.tiny import CONFIGS

    runs: dict[str, object] = {}

    def get(task: str, changes: dict | None = None):
        key = task + json.dumps(changes or {}, sort_keys=True)
        if key not in runs:
            folder = tmp_path_factory.mktemp(task)
            data = {"task": task, **CONFIGS[task](folder), "train": TINY_TRAIN}
            for section, values in (changes or {}).items():
                data[section] = {**data.get(section, {}), **values}
            runs[key] = rk.fit_task(data, run_dir=folder / "run", baselines=False).run_dir
        return runs[key]

    return get


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(1234)


def _baselines_not_run(candidates) -> dict:
    names = [*candidates.run, *candidates.skipped]
    return {"metrics": {}, "seconds": {}, "skipped": {n: "not run in this test (tests/conftest.py)" for n in names}}


@pytest.fixture(autouse=True)
def _baselines_where_tested(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("baselines") is None:
        from rnnkit.tasks.core import run

        monkeypatch.setattr(run, "run_baselines", _baselines_not_run)
