"""The long-term dependency benchmark: why gated cells exist, measured.

For each task (adding, copy) and length T, and each cell (tanh RNN, LSTM, GRU): train with
Adam, gradient clipping and the cell's recommended initialization (orthogonal recurrent
weights for the tanh RNN, chrono initialization for T for the LSTM and GRU) until solved
(adding: test MSE < 0.01; copy: >= 99% of recalled symbols right) or out of budget. Writes
``long_term.md``/``.json`` (cell x task x T -> final test metric, steps to solve, wall time)
and two plots: loss curves, and the gradient-flow probe ``||dLoss/dh_t||`` at init and after
training.

    python benchmarks/long_term.py [--quick] [--max-steps N] [--max-seconds S] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from common import RESULTS, header, machine_info, write_results
from rnnkit.config import from_dict
from rnnkit.tasks import long_term
from rnnkit.tasks.long_term import SOLVED, LongTermConfig, build, probe
from rnnkit.tasks.core.plotting import pyplot, save_figure
from rnnkit.training import fit, seed_everything

CELLS = {"rnn": "tanh RNN", "lstm": "LSTM", "gru": "GRU", "mingru": "minGRU", "minlstm": "minLSTM",
         "exprnn": "ExpRNN (orthogonal)"}
DEFAULT_CELLS = ["rnn", "lstm", "gru"]
FULL = {"adding": [100, 200, 400, 750], "copy": [100, 200, 500]}
QUICK = {"adding": [20], "copy": [10]}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="tiny lengths and budgets, for a smoke run")
    parser.add_argument("--tasks", nargs="+", choices=sorted(FULL), default=sorted(FULL), help="which tasks")
    parser.add_argument("--cells", nargs="+", choices=list(CELLS), default=DEFAULT_CELLS,
                        help="which cells (default: rnn lstm gru; mingru, minlstm and exprnn also run)")
    parser.add_argument("--lengths", nargs="+", type=int, help="override the lengths T of every task")
    parser.add_argument("--hidden-size", type=int, default=128, help="hidden units (default: 128)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default: 32)")
    parser.add_argument("--lr-adding", type=float, default=1e-2, help="Adam learning rate on adding (default: 1e-2)")
    parser.add_argument("--lr-copy", type=float, default=3e-3, help="Adam learning rate on copy (default: 3e-3)")
    parser.add_argument("--max-steps", type=int, default=4000, help="step budget per run (default: 4000)")
    parser.add_argument("--max-seconds", type=float, default=240.0, help="time budget per run (default: 240)")
    parser.add_argument("--eval-every", type=int, default=100, help="evaluate every N steps (default: 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every run (default: 0)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--name", default="long_term", help="file name stem (default: long_term)")
    parser.add_argument("--replot", type=Path, metavar="JSON", help="only redraw the plots from a saved results file")


def run_one(task: str, length: int, cell: str, args: argparse.Namespace) -> dict[str, Any]:
    metric, mode, target = SOLVED[task]
    config = from_dict(LongTermConfig, {
        "task": task,
        "data": {"length": length, "validation_size": 500, "test_size": 500},
        "model": {"recurrent": {"cell": cell, "hidden_size": args.hidden_size, "init": "recommended",
                                "chrono_max_length": length}},
        "train": {
            "steps": args.max_steps, "max_seconds": args.max_seconds, "batch_size": args.batch_size,
            "eval_every": args.eval_every, "log_every": 10, "seed": args.seed, "progress": False,
            "clip_grad_norm": 1.0, "optimizer": {"name": "adam", "lr": args.lr_adding if task == "adding" else args.lr_copy},
            "early_stopping": {"metric": metric, "mode": mode, "target": target},
        },
    })
    seed_everything(args.seed)
    job = build(config)
    flow_init = probe(job)
    evals: list[tuple[int, float]] = []  # (step, metric) of every evaluation
    steps_done = 0

    def step_fn(model, batch, carry):  # noqa: ANN001 -- counts steps for the evaluation log
        nonlocal steps_done
        steps_done += 1
        return job.step_fn(model, batch, carry)

    def evaluate(model: torch.nn.Module) -> dict[str, float]:
        metrics = job.evaluate(model)
        evals.append((steps_done, metrics[metric]))
        return metrics

    result = fit(job.model, step_fn, job.batches, config.train, evaluate=evaluate)
    flow_trained = probe(job)
    final = result.last_eval[metric]
    solved = long_term.solved(config, result.last_eval)  # decided on validation
    test = long_term.report(job, args.out)["metrics"]  # then the test set, read once
    return {
        "task": task, "T": length, "cell": cell, "metric": metric, "final": final, "solved": solved,
        "test": test[metric.replace("val_", "test_")],
        "steps_to_solve": result.step if solved else None, "steps": result.step,
        "seconds": round(result.seconds, 1), "losses": result.losses[:: max(1, len(result.losses) // 400)],
        "loss_stride": max(1, len(result.losses) // 400), "evals": evals,
        "flow_init": flow_init.tolist(), "flow_trained": flow_trained.tolist(),
    }


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace, info: dict, seconds: float) -> str:
    lines = [
        "# Long-term dependencies: " + " vs ".join(dict.fromkeys(CELLS[r["cell"]] for r in rows)),
        "",
        header(info) + f"; whole benchmark {seconds / 60:.1f} min",
        "",
        f"Adam (lr {args.lr_adding} on adding, {args.lr_copy} on copy), batch {args.batch_size}, "
        f"hidden {args.hidden_size}, gradient clipping at norm 1.0, recommended init "
        f"(orthogonal for the tanh RNN, chrono(T) for LSTM/GRU, Henaff's rotations for ExpRNN); budget per run {args.max_steps} steps or "
        f"{args.max_seconds:.0f} s; seed {args.seed}. Validation and test sets of 500 each, generated with fixed "
        "seeds: every evaluation reads validation, which stops training and decides 'solved'; the test set is "
        "scored once, after training. Solved: adding MSE < 0.01 (predicting 1 gives ~0.167); copy >= 99% of "
        "recalled symbols right (chance 12.5%).",
        "",
        "| task | T | cell | validation | solved (on validation) | steps to solve | test | steps run | "
        "wall time (s) |",
        "|---|---:|---|---|---|---:|---|---:|---:|",
    ]

    def shown(metric: str, value: float) -> str:
        return f"MSE {value:.4f}" if metric.endswith("mse") else f"recall {100 * value:.1f}%"

    for r in rows:
        solved_steps = r["steps_to_solve"] if r["steps_to_solve"] is not None else "-"
        lines.append(f"| {r['task']} | {r['T']} | {CELLS[r['cell']]} | {shown(r['metric'], r['final'])} | "
                     f"{'yes' if r['solved'] else 'no'} | {solved_steps} | {shown(r['metric'], r['test'])} | "
                     f"{r['steps']} | {r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], out: Path, name: str) -> list[Path]:
    plt = pyplot()
    if plt is None:
        return []
    colors = {"rnn": "tab:red", "lstm": "tab:blue", "gru": "tab:green", "mingru": "tab:olive", "minlstm": "tab:cyan",
              "exprnn": "tab:purple"}
    paths = []
    tasks = sorted({r["task"] for r in rows})
    lengths = {task: sorted({r["T"] for r in rows if r["task"] == task}) for task in tasks}
    columns = max(len(v) for v in lengths.values())
    figure, axes = plt.subplots(len(tasks), columns, figsize=(4.2 * columns, 3.4 * len(tasks)), squeeze=False)
    for row, task in enumerate(tasks):  # one row of panels per task, one panel per length
        for axis in axes[row][len(lengths[task]):]:
            axis.set_visible(False)
    for row, task in enumerate(tasks):
        for axis, length in zip(axes[row], lengths[task]):
            for r in rows:
                if (r["task"], r["T"]) == (task, length):
                    steps = [i * r["loss_stride"] + 1 for i in range(len(r["losses"]))]
                    axis.plot(steps, r["losses"], color=colors[r["cell"]], linewidth=0.8, label=CELLS[r["cell"]])
            axis.set_yscale("log")
            axis.set_title(f"{task}, T={length}")
            axis.set_xlabel("step")
            axis.set_ylabel("training loss")
            axis.legend(fontsize=7)
    paths.append(save_figure(figure, out / f"{name}_loss.png", dpi=90))
    figure, axes = plt.subplots(1, 2 * len(tasks), figsize=(4.2 * 2 * len(tasks), 3.4), squeeze=False)
    for index, task in enumerate(tasks):
        longest = max(r["T"] for r in rows if r["task"] == task)
        for column, when in enumerate(("flow_init", "flow_trained")):
            axis = axes[0][2 * index + column]
            for r in rows:
                if r["task"] == task and r["T"] == longest:
                    values = torch.tensor(r[when]).clamp_min(1e-30)
                    axis.plot(values.tolist(), color=colors[r["cell"]], label=CELLS[r["cell"]])
            axis.set_yscale("log")
            axis.set_title(f"{task} T={longest}: ||dL/dh_t|| {'at init' if column == 0 else 'trained'}")
            axis.set_xlabel("time step t")
            axis.legend(fontsize=7)
    figure.suptitle("values below 1e-30 are drawn at 1e-30 (the tanh RNN's reach exactly 0 in float32)", fontsize=9)
    paths.append(save_figure(figure, out / f"{name}_gradient_flow.png", dpi=90))
    return paths


def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.replot is not None:
        rows = json.loads(args.replot.read_text())["rows"]
        for path in plot(rows, args.out, args.name):
            print(f"plot: {path}")
        return rows
    if args.threads:
        torch.set_num_threads(args.threads)
    lengths = QUICK if args.quick else FULL
    if args.quick:
        args.max_steps, args.max_seconds, args.eval_every = min(args.max_steps, 60), min(args.max_seconds, 30), 20
    started = time.perf_counter()
    rows = []
    for task in args.tasks:
        for length in args.lengths or lengths[task]:
            for cell in args.cells:
                row = run_one(task, length, cell, args)
                rows.append(row)
                print(f"{task:7s} T={length:4d} {CELLS[cell]:9s} {row['metric']} {row['final']:.4f} "
                      f"solved={row['solved']} steps={row['steps']} {row['seconds']:.0f}s", flush=True)
    seconds = time.perf_counter() - started
    info = machine_info()
    text = markdown(rows, args, info, seconds)
    write_results(args.name, text, {"machine": info, "seconds": seconds, "args": {k: str(v) for k, v in vars(args).items()
                                                                                 if k not in ("handler",)}, "rows": rows}, args.out)
    plots = plot(rows, args.out, args.name)
    print(text)
    for path in plots:
        print(f"plot: {path}")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    main(parser.parse_args())
