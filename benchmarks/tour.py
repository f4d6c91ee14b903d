"""The tour (`rnnkit demo`) as a table: each part's model beside its strongest comparison, and the time.

Runs the whole tour (what `make demo` runs) into OUT/tour and writes `tour.md` and `tour.json` with
the machine and the date; `--from-tour DIR` writes the table from a tour already run there
(its `tour.json`), training nothing. The budgets are the tour's (a minute or less per part): the
numbers say what a minute of training gives, not what the presets reach.

    python benchmarks/tour.py                 # about 5 minutes on 2 cores
    python benchmarks/tour.py --only gradients video
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from benchmarks.common import RESULTS, command_line, header, machine_info, publish
from rnnkit.tasks import demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=demo.part_names(), help="some parts (default: all)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results folder (default: {RESULTS})")
    parser.add_argument("--runs", type=Path, default=Path("runs/tour-benchmark"),
                        help="where the tour runs (default: runs/tour-benchmark)")
    parser.add_argument("--from-tour", type=Path, help="write the table from the tour.json of a tour run there")
    parser.add_argument("--name", default="tour", help="file name stem (default: tour)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    info = machine_info()
    if args.from_tour:
        saved = json.loads((args.from_tour / "tour.json").read_text())
    else:
        tour = demo.run_tour(args.runs, only=args.only, progress=sys.stderr.isatty(),
                             on_part=lambda result: print(result.line(), flush=True))
        saved = demo.as_dict(tour)
    lines = [header(info), "",
             command_line("tour.py") + (f" (the table of the tour run in {args.from_tour})" if args.from_tour else "")
             + f". The whole tour: {saved['seconds'] / 60:.1f} min.", "",
             "| part | model | test metric | model | best comparison | comparison | better | seconds |",
             "|---|---|---|---:|---|---:|---|---:|"]
    for part in saved["parts"]:
        if part["error"]:
            lines.append(f"| {part['name']} | failed: {part['error'].splitlines()[-1]} | | | | | | {part['seconds']:.0f} |")
            continue
        metric = part["metric"]
        mine = part["runs"][0]["metrics"].get(metric)
        best = part["best_comparison"] or ("-", None)  # as the tour judged it (rnnkit.tasks.demo.PartResult)
        verdict = {True: "model", False: "baseline", None: "-"}[part["model_wins"]]
        lines.append(f"| {part['name']} | {part['runs'][0]['label']} | {metric.removeprefix('test_')} | "
                     f"{_number(mine)} | {best[0]} | {_number(best[1])} | {verdict} | {part['seconds']:.0f} |")
    publish(args.name, lines, info, saved["parts"], folder=args.out, seconds=saved["seconds"], quick=saved["quick"])
    return 0


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


if __name__ == "__main__":
    sys.exit(main())
