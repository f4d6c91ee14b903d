"""Every case of :mod:`tests.robustness.cases` ends as a clear error or is handled correctly.

A clear error: a non-zero exit, no traceback, and a message that names the offending file,
option or value. Handled correctly: a valid input that worked and passed its check (a run not
overwritten, a user's file not deleted, ...). Cases that could hang or exhaust memory if
rnnkit regressed (``isolate``), and those that start several processes at once, run as child
processes with a time and memory limit; the others run in this process (fast).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.robustness import world
from tests.robustness.cases import CASES
from tests.robustness.harness import GOOD, outcome, run_in_process, run_in_subprocess, set_up


@pytest.fixture(scope="session")
def places(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return world.build(tmp_path_factory.mktemp("world"))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case, places, tmp_path):
    runner = run_in_subprocess if case.isolate or case.parallel > 1 else run_in_process
    with set_up(case, places, tmp_path / "case") as (case_places, before):
        result = runner(case, case_places)
        kind, detail = outcome(case, case_places, result, before)
    assert kind in GOOD, (f"{case.id} ({case.covers}): {kind}: {detail}\n--- stdout\n{result.stdout[-2000:]}\n"
                          f"--- stderr\n{result.stderr[-3000:]}")


def test_every_case_says_what_it_covers():
    areas = {"lost", "bounds", "traceback", "silent", "tamper", "verbs", "unfinished"}
    assert {c.covers for c in CASES} == areas
    assert all(c.names or c.expect == "ok" for c in CASES), "an error case must say what its message names"


def test_the_harness_tells_a_traceback_from_a_clear_error(places, tmp_path):
    """The classes themselves: an exception escaping the command is a traceback, an error exit
    that does not name the file is misleading, exit 0 where an error was due is silent."""
    from tests.robustness.harness import MISLEADING, SILENT, TRACEBACK, Case, Result

    case = Case("probe", "verbs", ("evaluate", "{dir}/none"), "error", ("{dir}/none",))
    with set_up(case, places, tmp_path / "probe") as (case_places, before):
        result = run_in_process(case, case_places)
    assert outcome(case, case_places, Result(2, "", "Traceback (most recent call last):\n  x\nKeyError: 1", 0.1),
                   before)[0] == TRACEBACK
    assert outcome(case, case_places, Result(2, "", "rnnkit evaluate: error: something", 0.1), before)[0] == MISLEADING
    assert outcome(case, case_places, Result(0, "fine", "", 0.1), before)[0] == SILENT
    assert outcome(case, case_places, result, before)[0] == GOOD[0] and str(Path(case_places["dir"], "none")) in \
        result.stderr
