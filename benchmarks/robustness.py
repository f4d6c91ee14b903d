"""Robustness table: every bad-input and fault case of the suite, run through the command line.

Each case of ``tests/robustness/cases.py`` runs as its own ``rnnkit`` process in a fresh
folder, against small trained runs of every task (built first, ~20 s), with a time limit and
an 8 GiB address-space limit. Its outcome falls in one class of issue 15's table:

- clear error, no traceback: a non-zero exit whose message names the file, option or value
- no traceback, but a misleading message or no file named
- Python traceback
- silently wrong, or garbage accepted as success
- data lost: a run or a user's file changed or removed
- hang or unbounded memory: killed by the time or memory limit
- handled correctly: a valid input that worked (and passed its check)
- a valid input refused

    python benchmarks/robustness.py [--only ID ...] [--jobs 2] [--out benchmarks/results]

Writes ``robustness.md`` and ``robustness.json`` (every case with its class and last line).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the case list lives with the tests

from common import RESULTS, header, machine_info, write_results

from tests.robustness import world
from tests.robustness.cases import CASES
from tests.robustness.harness import CLASSES, GOOD, Case, outcome, run_in_subprocess, set_up


def run_case(case: Case, places: dict[str, str], folder: Path) -> dict:
    row = {"id": case.id, "covers": case.covers, "expect": case.expect}
    try:
        with set_up(case, places, folder / case.id) as (case_places, before):
            result = run_in_subprocess(case, case_places)
            kind, detail = outcome(case, case_places, result, before)
    except Exception as error:  # noqa: BLE001 - a case this version cannot even prepare
        return {**row, "class": "not prepared", "detail": f"{type(error).__name__}: {error}", "exit": None,
                "seconds": 0.0}
    return {**row, "class": kind, "detail": detail, "exit": result.returncode, "seconds": round(result.seconds, 2)}


def render(rows: list[dict], info: dict, seconds: float) -> str:
    counts = Counter(r["class"] for r in rows)
    lines = ["# Robustness: bad input and faults through the command line", "", header(info), "",
             f"{len(rows)} cases of `tests/robustness/cases.py`, each an `rnnkit` process in a fresh folder "
             f"(time limit per case, 8 GiB address space), in {seconds / 60:.1f} min. The classes are issue 15's; "
             "'clear error' means a non-zero exit whose message names the offending file, option or value.", "",
             "| outcome | cases |", "|---|---:|"]
    lines += [f"| {name} | {counts.get(name, 0)} |" for name in CLASSES]
    lines += ["", "By area (the issue's items):", "", "| area | cases | clear error | handled correctly | other |",
              "|---|---:|---:|---:|---:|"]
    for area in sorted({r["covers"] for r in rows}):
        group = [r for r in rows if r["covers"] == area]
        c = Counter(r["class"] for r in group)
        lines.append(f"| {area} | {len(group)} | {c[GOOD[0]]} | {c[GOOD[1]]} | "
                     f"{len(group) - c[GOOD[0]] - c[GOOD[1]]} |")
    bad = [r for r in rows if r["class"] not in GOOD]
    lines += ["", "Cases outside the two good classes:" if bad else "Every case is a clear error or handled correctly.",
              ""]
    lines += [f"- `{r['id']}`: {r['class']}: {r['detail']}" for r in bad]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="case ids to run (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once (default: 2)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results folder (default: {RESULTS})")
    parser.add_argument("--name", default="robustness", help="file name stem (default: robustness)")
    args = parser.parse_args()
    cases = [c for c in CASES if not args.only or c.id in args.only]
    if not cases:
        parser.error(f"--only: no case among {args.only}")
    info = machine_info()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rnnkit-robustness-") as tmp:
        folder = Path(tmp)
        print("training the small runs the cases read ...", flush=True)
        places = world.build(folder / "world")
        with ThreadPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(run_case, case, places, folder / "cases") for case in cases]
            rows = []
            for i, future in enumerate(futures, 1):
                rows.append(future.result())
                print(f"[{i}/{len(cases)}] {rows[-1]['id']}: {rows[-1]['class']}", flush=True)
    seconds = time.perf_counter() - started
    markdown = render(rows, info, seconds)
    paths = write_results(args.name, markdown, {"machine": info, "seconds": round(seconds, 1), "cases": rows},
                          args.out)
    print("\n" + markdown.split("\n\n", 2)[2].split("\n\nBy area")[0])
    print(f"\nwrote {paths[0]} and {paths[1]}")
    return 0 if all(r["class"] in GOOD for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
