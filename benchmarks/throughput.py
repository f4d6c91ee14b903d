"""Training throughput of the applications: rnnkit's loop against the plain PyTorch loop a user
would write, on each preset's own model, batches and optimizer.

    python benchmarks/throughput.py [--presets forecast-airline lm-shakespeare ...] [--seconds 2] [--threads 2]

For each preset, the task builds its job once (model, batches, the step's loss), then, from the
same initial weights and the same batches, in alternating rounds, each for N and 3N steps (the
difference is the time per step; the rest is paid once per run):

- ``rnnkit fit``: :func:`rnnkit.training.fit` as ``rnnkit train`` runs it (its logging every
  ``log_every`` steps, the progress bar, checkpoints at the preset's interval and at the end,
  gradient clipping and the schedule), without the evaluations (a plain loop would evaluate too);
- ``plain loop``: ``zero_grad``, ``backward``, ``clip_grad_norm_`` if the preset clips,
  ``step``, the scheduler, the loss printed every ``log_every`` steps, the weights saved at the
  end: the same model (rnnkit's layers), the same optimizer;
- ``plain loop, torch.nn layers``: the same with each rk.LSTM/GRU/RNN swapped for its exact
  ``to_torch()`` twin, where the model's code runs on torch.nn's layers (else "n/a", and why).

Steps per second (median of the rounds) and samples per second; the loop's overhead is rnnkit
fit's time per step over the plain loop's, on the same layers, and what each pays once.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from common import RESULTS, command_line, header, machine_info, publish
from torch import nn

from rnnkit.config import load_source
from rnnkit.tasks.core import registry, run
from rnnkit.training import detach_state, fit
from rnnkit.training.optim import build_optimizer, build_schedule

PRESETS = ["forecast-airline", "anomaly-yahoo", "classify-basicmotions", "lm-shakespeare", "sentiment-polarity",
           "g2p-cmudict", "music-chorales"]


def plain_loop(model: nn.Module, job: Any, config: Any, steps: int, folder: Path) -> float:
    """The loop a user writes; returns its seconds."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, config.optimizer)
    schedule = build_schedule(optimizer, config.schedule, steps)
    log = io.StringIO()
    carry = None
    started = time.perf_counter()
    model.train()
    for step in range(1, steps + 1):
        output = job.step_fn(model, job.batches.next(), carry)
        optimizer.zero_grad(set_to_none=True)
        output.loss.backward()
        if config.clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(params, config.clip_grad_norm)
        optimizer.step()
        schedule.after_step()
        carry = detach_state(output.carry)
        if step % config.log_every == 0:
            print(f"step {step} loss {output.loss.item():.4f}", file=log)
    torch.save(model.state_dict(), folder / "plain.pt")
    return time.perf_counter() - started


def with_torch_layers(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every rk.LSTM/GRU/RNN replaced by its ``to_torch()`` twin."""
    from rnnkit.layers.torch_layers import TorchCompatibleLayer

    twin = copy.deepcopy(model)
    for name, module in list(twin.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, TorchCompatibleLayer):
                setattr(module, child_name, child.to_torch())
    return twin


def run_fit(job: Any, train: Any, steps: int, folder: Path) -> float:
    config = copy.deepcopy(train)
    config.steps, config.max_seconds, config.early_stopping.metric = steps, None, ""
    config.checkpoint_every = min(train.checkpoint_every, steps)
    started = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):  # the progress bar is drawn, into nothing
        fit(job.model, job.step_fn, job.batches, config, run_dir=folder / "run")
    return time.perf_counter() - started


def measure(preset: str, seconds: float, rounds: int) -> dict[str, Any]:
    """Each variant at N and 3N steps, N chosen so that N plain steps take about ``seconds``: the
    difference gives the time per step, the rest is paid once per run (setting up; the final
    checkpoint and curves.png for fit). A short run of each comes first, unmeasured (imports,
    first allocations)."""
    config = run.resolve_config(load_source(preset), ["train.progress=true"])
    entry = registry.get(config.task)
    if entry.prepare is not None:
        entry.prepare(config)
    torch.manual_seed(0)
    job = entry.build(config)
    train = config.train
    initial = copy.deepcopy(job.model.state_dict())
    batches_state = job.batches.state_dict()
    try:
        twin = with_torch_layers(job.model)
        twin_note = ""
    except ValueError as error:  # a layer torch.nn has no twin for (peepholes, zoneout, ...)
        twin, twin_note = None, str(error).split(";")[0]
    with tempfile.TemporaryDirectory() as scratch:  # warm up, and how long a step takes
        run_fit(job, train, 3, Path(scratch))
        job.model.load_state_dict(initial)
        job.batches.load_state_dict(batches_state)
        estimate = plain_loop(job.model, job, train, 5, Path(scratch)) / 5
    steps = int(min(300, max(10, seconds / estimate)))
    names = ["rnnkit fit", "plain loop", "plain loop, torch.nn layers"]
    times: dict[tuple[str, int], list[float]] = {(n, k): [] for n in names for k in (steps, 3 * steps)}
    for _ in range(rounds):
        for k in (steps, 3 * steps):
            with tempfile.TemporaryDirectory() as scratch:
                folder = Path(scratch)
                job.model.load_state_dict(initial)
                job.batches.load_state_dict(batches_state)
                times["rnnkit fit", k].append(run_fit(job, train, k, folder))
                job.model.load_state_dict(initial)
                job.batches.load_state_dict(batches_state)
                times["plain loop", k].append(plain_loop(job.model, job, train, k, folder))
                if twin is None:
                    continue
                twin.load_state_dict(initial)
                job.batches.load_state_dict(batches_state)
                try:
                    times["plain loop, torch.nn layers", k].append(plain_loop(twin, job, train, k, folder))
                except (TypeError, RuntimeError, ValueError) as error:  # the model's code needs rk's layers
                    twin, twin_note = None, f"{type(error).__name__}: {str(error).splitlines()[0][:80]}"
    per_step, once = {}, {}
    for name in names:
        if not times[name, steps] or len(times[name, 3 * steps]) != len(times[name, steps]):
            continue
        short, long = statistics.median(times[name, steps]), statistics.median(times[name, 3 * steps])
        per_step[name] = (long - short) / (2 * steps)
        once[name] = short - steps * per_step[name]
    return {"preset": preset, "task": config.task, "batch_size": train.batch_size, "steps": [steps, 3 * steps],
            "seconds_per_step": per_step, "seconds_once": once,
            "steps_per_second": {k: 1 / v for k, v in per_step.items()},
            "samples_per_second": {k: train.batch_size / v for k, v in per_step.items()},
            "overhead_per_step": per_step["rnnkit fit"] / per_step["plain loop"] - 1, "torch_layers_note": twin_note,
            "seconds": {f"{n} x {k}": v for (n, k), v in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=PRESETS, help=f"(default: {' '.join(PRESETS)})")
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="N: each variant runs N and 3N steps, N plain steps taking about this long (default: 2)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median counts (default: 3)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results folder (default: {RESULTS})")
    parser.add_argument("--name", default="throughput")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    info = machine_info()
    rows = []
    for preset in args.presets:
        print(f"{preset} ...", file=sys.stderr, flush=True)
        rows.append(measure(preset, args.seconds, args.rounds))
    lines = ["# Training throughput: rnnkit's loop against a plain PyTorch loop", "", header(info), "",
             command_line("throughput.py"), "",
             (f"Each variant ran N and 3N steps (N: about {args.seconds:g} s of the plain loop, in the table), the "
              f"median of {args.rounds} alternating rounds; the difference gives the time per step, the rest is paid once per run (for fit: setting up, "
              "the last checkpoint and curves.png). The same initial weights, batches and optimizer in every column; "
              "no evaluations. Overhead: rnnkit fit's time per step over the plain loop's on the same (rnnkit) "
              "layers."), "",
             ("| preset | batch | N | rnnkit fit, steps/s | plain loop, steps/s | plain loop, torch.nn layers, steps/s "
              "| rnnkit fit, samples/s | overhead per step | once per run: fit, plain (s) |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        sps, once = r["steps_per_second"], r["seconds_once"]
        twin = f"{sps['plain loop, torch.nn layers']:.1f}" if "plain loop, torch.nn layers" in sps else \
            f"n/a ({r['torch_layers_note']})"
        lines.append(f"| {r['preset']} | {r['batch_size']} | {r['steps'][0]} | {sps['rnnkit fit']:.1f} | {sps['plain loop']:.1f} | "
                     f"{twin} | {r['samples_per_second']['rnnkit fit']:.0f} | {100 * r['overhead_per_step']:+.1f}% | "
                     f"{once['rnnkit fit']:.2f}, {once['plain loop']:.2f} |")
    publish(args.name, lines, info, rows, args.out)


if __name__ == "__main__":
    main()
