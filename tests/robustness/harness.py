"""Run one bad-input case through the command line and say which class its outcome falls in.

A :class:`Case` is a command line with ``{placeholders}`` (the trained runs and files of
:mod:`tests.robustness.world`, and ``{dir}``, the case's own folder), the files it needs
written first, what should happen (``"error"``: a non-zero exit whose message names what is
wrong; ``"ok"``: success) and, where success or a refusal can still lose or corrupt something,
a ``check``. Every run folder a case names is a fresh copy, so a case may tamper with it.

Cases run in this process (:func:`run_in_process`, fast: the tests) or as a command in a
child process with a time and memory limit (:func:`run_in_subprocess`: the benchmark, and
the cases marked ``isolate`` that could hang or exhaust memory if rnnkit regressed).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import signal
import string
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

# The outcome classes of issue 15's table (and one for a valid input refused).
CLEAR = "clear error, no traceback"
MISLEADING = "no traceback, but a misleading message or no file named"
TRACEBACK = "Python traceback"
SILENT = "silently wrong, or garbage accepted as success"
LOST = "data lost"
HANG = "hang or unbounded memory"
CORRECT = "handled correctly"
REFUSED = "a valid input refused"
CLASSES = (CLEAR, MISLEADING, TRACEBACK, SILENT, LOST, HANG, CORRECT, REFUSED)
GOOD = (CLEAR, CORRECT)

MEMORY_LIMIT = 8 << 30  # address space of a child process: torch alone reserves ~2-3 GiB


class Places(dict):
    """Placeholder -> path (``str``), and ``dir``: the case's folder."""

    @property
    def dir(self) -> Path:
        return Path(self["dir"])

    def fill(self, text: str) -> str:
        """``{name}`` replaced by its path where ``name`` is a placeholder (other braces are kept:
        a YAML flow mapping is not a placeholder)."""
        return re.sub(r"\{(\w+)\}", lambda m: self.get(m.group(1), m.group(0)), text)

    def path(self, name: str) -> Path:
        return Path(self[name])


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False


@dataclass(frozen=True)
class Case:
    id: str
    covers: str  # the item of issue 15 it covers
    argv: tuple[str, ...]
    expect: Literal["error", "ok"]
    names: tuple[str, ...] = ()  # what a clear error names (the path, the option, the value)
    files: dict[str, bytes | str] = field(default_factory=dict)  # written into {dir} first
    prepare: Callable[[Places], Callable[[], None] | None] | None = None  # may return a clean-up
    stdin: bytes | None = None
    check: Callable[[Places, Result, dict[str, dict[str, str]]], str | None] | None = None  # a problem, or None
    loss: bool = False  # a problem the check finds is lost data
    isolate: bool = False  # run only as a child process (time and memory limits)
    parallel: int = 1  # start the command this many times at once (child processes)
    timeout: float = 180.0
    needs: tuple[str, ...] = ()  # placeholders that prepare or check use beyond the command line

    def runs(self, world: dict[str, str]) -> list[str]:
        """The trained runs this case names (each gets a fresh copy)."""
        named = set(self.needs)
        for text in (*self.argv, *self.names):
            named |= {f for _, f, _, _ in string.Formatter().parse(text) if f}
        return sorted(n for n in named if n in world and Path(world[n], "config.yaml").exists())


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative name -> SHA-256), but the lock file, which each
    process that holds the folder rewrites."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink() and p.name != ".lock"}


@contextlib.contextmanager
def set_up(case: Case, world: dict[str, str], folder: Path) -> Iterator[tuple[Places, dict[str, dict[str, str]]]]:
    """The case's folder with its files, fresh copies of its runs and its ``prepare`` done; yields
    the places and the runs' snapshots (taken after ``prepare``), then undoes ``prepare``'s hold."""
    folder.mkdir(parents=True, exist_ok=True)
    places = Places(world, dir=str(folder))
    for name in case.runs(world):
        copy = folder / "runs" / name
        shutil.copytree(world[name], copy, symlinks=True)
        places[name] = str(copy)
    for name, content in case.files.items():
        path = folder / places.fill(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else places.fill(content).encode())
    release = case.prepare(places) if case.prepare is not None else None
    try:
        yield places, {name: snapshot(Path(places[name])) for name in case.runs(world)}
    finally:
        if callable(release):
            release()


class CaseTimeout(BaseException):
    """Raised by the alarm inside an in-process case (a BaseException: no handler swallows it)."""


def run_in_process(case: Case, places: Places) -> Result:
    """``rnnkit.cli.main.main`` on the filled command line, in ``{dir}``, with the case's stdin;
    an exception that escapes ``main`` is printed as the traceback it would be."""
    from rnnkit.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    stdin = io.TextIOWrapper(io.BytesIO(case.stdin or b""), encoding="utf-8")
    argv = [places.fill(a) for a in case.argv]

    def alarm(signum: int, frame: Any) -> None:
        raise CaseTimeout

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, case.timeout)
    started, timed_out, code = time.perf_counter(), False, 0
    try:
        with _inside(places.dir), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _stdin(stdin):
            try:
                code = main(argv)
            except SystemExit as exit_:  # argparse
                code = exit_.code if isinstance(exit_.code, int) else 1
            except CaseTimeout:
                timed_out, code = True, -1
            except Exception:  # noqa: BLE001 - what a user would see as a traceback
                traceback.print_exc(file=err)
                code = 1
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return Result(code, out.getvalue(), err.getvalue(), time.perf_counter() - started, timed_out)


@contextlib.contextmanager
def _inside(folder: Path):
    saved = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(saved)


@contextlib.contextmanager
def _stdin(stream: io.TextIOWrapper):
    saved = sys.stdin
    sys.stdin = stream
    try:
        yield
    finally:
        sys.stdin = saved


# The child limits its own address space before it imports anything (a preexec_fn would do it
# between fork and exec, which is unsafe in a process with threads: the benchmark's pool).
LAUNCH = (f"import resource, sys; resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT})); "
          "from rnnkit.cli.main import main; raise SystemExit(main(sys.argv[1:]))")


def command(argv: list[str]) -> list[str]:
    return [sys.executable, "-c", LAUNCH, *argv]


def run_in_subprocess(case: Case, places: Places) -> Result:
    """The command as a child process (``case.parallel`` of them at once), each with a time limit
    and an address-space limit; a child killed by either counts as timed out."""
    argv = [places.fill(a) for a in case.argv]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    started = time.perf_counter()
    children = [subprocess.Popen(command(argv), cwd=places.dir, env=env, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for _ in range(case.parallel)]
    results = []
    for child in children:
        try:
            out, err = child.communicate(case.stdin or b"", timeout=max(1.0, case.timeout - (time.perf_counter()
                                                                                               - started)))
            timed_out = child.returncode < 0  # killed by a signal (the kernel's OOM killer, a limit)
        except subprocess.TimeoutExpired:
            child.kill()
            out, err = child.communicate()
            timed_out = True
        results.append(Result(child.returncode, out.decode(errors="replace"), err.decode(errors="replace"),
                              time.perf_counter() - started, timed_out))
    if len(results) == 1:
        return results[0]
    return Result(max(r.returncode for r in results), "\n".join(r.stdout for r in results),
                  "\n".join(r.stderr for r in results), time.perf_counter() - started,
                  any(r.timed_out for r in results))


TRACEBACK_SIGNS = ("Traceback (most recent call last)", "internal error")


def outcome(case: Case, places: Places, result: Result, before: dict[str, dict[str, str]]) -> tuple[str, str]:
    """The class of ``result`` and why."""
    if result.timed_out or "MemoryError" in result.stderr:
        return HANG, f"no answer within {case.timeout:.0f} s or out of memory (exit {result.returncode})"
    problem = case.check(places, result, before) if case.check is not None else None
    if problem and case.loss:
        return LOST, problem
    if any(sign in result.stderr for sign in TRACEBACK_SIGNS):
        return TRACEBACK, _last_line(result.stderr)
    if case.expect == "error":
        if result.returncode == 0:
            return SILENT, problem or "exit 0 where an error was expected"
        if problem:
            return SILENT, problem
        missing = [n for n in (places.fill(n) for n in case.names) if n not in result.stderr]
        if missing or not result.stderr.strip():
            return MISLEADING, f"the message does not name {missing}: {_last_line(result.stderr)!r}"
        return CLEAR, _last_line(result.stderr)
    if result.returncode != 0:
        return REFUSED, _last_line(result.stderr)
    if problem:
        return SILENT, problem
    return CORRECT, ""


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return re.sub(r"\s+", " ", lines[-1])[:300] if lines else ""
