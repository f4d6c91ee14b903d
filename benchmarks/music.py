"""The music benchmark: test negative log-likelihood per frame of the tanh RNN, the LSTM and the
GRU on Bach chorales, each with the independent-notes output and with the NADE output (RNN-NADE),
beside the published JSB Chorales numbers.

Each cell and output trains with the one preset ``music-chorales`` (only ``model.recurrent.cell``
and ``model.output`` change) for several seeds on the same split by piece; the test NLL (nats per frame, summed
over the 88 pitches) is of the weights with the best validation NLL. The published anchors
are on the JSB Chorales set of Boulanger-Lewandowski et al. (2012): 382 chorales split
229/76/77, a different selection and split from music21's 371; both are one frame per
quarter note, transposed to C major / minor. Writes ``music.md``/``.json`` and ``music.png``
(a sampled chorale of the best model).

    python benchmarks/music.py [--cells rnn lstm gru] [--outputs independent nade] [--seeds 2] [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from common import add_quality_arguments, header, run_cases, write_results
from rnnkit.config import load_source
from rnnkit.models.music import MusicModel
from rnnkit.tasks import music
from rnnkit.tasks.core import run

CONFIG = "music-chorales"
CELLS = {"rnn": "tanh RNN", "lstm": "LSTM", "gru": "GRU"}
# Published test NLL per frame on JSB Chorales (their split and encoding, not ours).
ANCHORS = {"rnn": "8.91 (Bai et al. 2018)", "lstm": "8.45 (Bai et al. 2018)",
           "gru": "8.43 (Bai et al. 2018); 8.54 (Chung et al. 2014)",
           "nade": "RNN-NADE 5.56, RNN-RBM 7.27 (Boulanger-Lewandowski et al. 2012)"}
OUTPUTS = {"independent": "", "nade": " + NADE"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_quality_arguments(parser, "music", seeds=2)
    parser.add_argument("--cells", nargs="+", choices=list(CELLS), default=list(CELLS), help="which cells")
    parser.add_argument("--outputs", nargs="+", choices=list(OUTPUTS), default=list(OUTPUTS),
                        help="which output layers: independent notes, NADE (default: both)")
    parser.add_argument("--config", default=CONFIG, help="a preset name or YAML file: preset every cell trains with")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override the preset, e.g. --set model.recurrent.hidden_size=128")


def run_cell(case: str, args: argparse.Namespace) -> dict[str, Any]:
    cell, output = case.split(":")
    overrides = ["train.progress=false", f"model.recurrent.cell={cell}", f"model.output={output}"] + list(args.set)
    if args.quick:
        overrides += ["train.steps=20", "train.eval_every=10"]
    runs = []
    for seed in range(args.seeds):
        config = run.resolve_config(load_source(args.config), overrides + [f"train.seed={seed}"])
        started = time.perf_counter()
        run_dir, result = run.train(config, args.out / "runs" / f"music-{cell}-{output}-seed{seed}")
        metrics = {**(result.best or result.last_eval), **result.report["metrics"]}  # the kept weights' validation
        runs.append({"seed": seed, "test_nll": metrics["test_nll"], "val_nll": metrics["val_nll"],
                     "steps": result.step, "seconds": round(time.perf_counter() - started, 1),
                     "run_dir": str(run_dir)})
        print(f"  {case} seed {seed}: test NLL {metrics['test_nll']:.3f} (val {metrics['val_nll']:.3f}, "
              f"{runs[-1]['seconds']:.0f}s)", flush=True)
    tests = [r["test_nll"] for r in runs]
    parameters = sum(p.numel() for p in MusicModel(config.data.high - config.data.low + 1,
                                                         config.model).parameters())
    return {"cell": cell, "output": output, "runs": runs, "parameters": parameters, "test_nll": statistics.fmean(tests),
            "test_nll_sd": statistics.stdev(tests) if len(tests) > 1 else 0.0,
            "val_nll": statistics.fmean(r["val_nll"] for r in runs),
            "seconds": statistics.fmean(r["seconds"] for r in runs)}


def render(results: list[dict[str, Any]], parts: dict[str, Any], info: dict[str, Any], seconds: float,
           args: argparse.Namespace, model: str) -> str:
    lines = [
        "# Polyphonic music: Bach chorales, NLL per frame", "", header(info), "",
        f"Total time {seconds / 60:.1f} min. music21's {sum(p['pieces'] for p in parts.values())} chorales, one "
        f"frame per quarter note, 88 pitches, moved to C major / minor, split by piece (seeded): "
        + ", ".join(f"{k} {v['pieces']} pieces / {v['frames']} frames" for k, v in parts.items())
        + f". One preset for all cells ({model}; `{Path(args.config).stem}` with only model.recurrent.cell and "
        "model.output changed); "
        + (f"mean (sd) over {args.seeds} seeds" if args.seeds > 1 else "one seed")
        + ", test NLL of the best-validation weights, in nats per frame summed over pitches.",
        "",
        "| cell and output | parameters | test NLL | validation NLL | seconds per seed | published on JSB Chorales |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        spread = f" ({r['test_nll_sd']:.3f})" if len(r["runs"]) > 1 else ""
        output = r.get("output", "independent")
        lines.append(f"| {CELLS[r['cell']]}{OUTPUTS[output]} | {r['parameters']:,} | {r['test_nll']:.3f}{spread} | "
                     f"{r['val_nll']:.3f} | {r['seconds']:.0f} | {ANCHORS['nade' if output == 'nade' else r['cell']]} |")
    lines += ["", "The published numbers are on JSB Chorales (Boulanger-Lewandowski et al. 2012: 382 chorales, "
              "229/76/77 pieces); ours are on a different selection (music21's corpus) and split, so they are "
              "anchors, not a like-for-like comparison."]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> None:
    cases = [f"{cell}:{output}" for cell in args.cells for output in args.outputs]
    results, info, seconds = run_cases(cases, lambda case: run_cell(case, args), args.threads)
    config = run.resolve_config(load_source(args.config), list(args.set))
    job = music.build(config)
    parts = {k: {"pieces": v["size"], "frames": v["frames"]} for k, v in job.split.record.items()}  # test: its size only
    m = config.model
    model = (f"{m.recurrent.num_layers} layer x {m.recurrent.hidden_size} units, input dropout {m.input_dropout}, output dropout "
             f"{m.output_dropout}, up to {config.train.steps} steps")
    markdown = render(results, parts, info, seconds, args, model)
    payload = {"machine": info, "seconds": round(seconds, 1), "seeds": args.seeds, "model": model, "parts": parts,
               "anchors": ANCHORS, "results": results}
    md, js = write_results(args.name, markdown, payload, args.out)
    best = min((r for result in results for r in result["runs"]), key=lambda r: r["val_nll"])
    sample = Path(best["run_dir"]) / "sample.png"
    if sample.exists():
        shutil.copyfile(sample, args.out / f"{args.name}.png")
    print(markdown)
    print(f"\nWrote {md} and {js}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    main(parser.parse_args())
