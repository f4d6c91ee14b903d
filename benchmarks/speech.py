"""The speech benchmark: CTC on spoken digit strings, unseen voices, clean and noisy.

Trains the preset ``speech-digits`` (or evaluates a trained run of it with ``--run-dir``),
then decodes the test part (voice variants never heard in training, every sentence clean, at
20 dB and at 10 dB SNR) greedily and with prefix beam search, and reports the word (digit)
error rate and the sentence error rate per condition with jiwer's alignments. Writes
``speech.md``/``.json`` and ``speech.png`` (a test utterance's features and label posteriors).

    python benchmarks/speech.py [--run-dir RUN] [--beam 8] [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from common import RESULTS, header, machine_info, write_results
from rnnkit.config import load_source
from rnnkit.tasks import speech
from rnnkit.tasks.core import run

CONFIG = "speech-digits"
GOAL = 0.02  # word error rate, clean and 20 dB


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="a few training steps on a small set, for a smoke run")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--name", default="speech", help="file name stem (default: speech)")
    parser.add_argument("--config", default=CONFIG, help="a preset name or YAML file: preset to train")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override the preset, e.g. --set model.recurrent.cell=gru")
    parser.add_argument("--run-dir", type=Path, help="evaluate this trained run instead of training one")
    parser.add_argument("--beam", type=int, default=8, help="prefix beam width (default: 8)")


def decode_all(job: speech.SpeechJob, features: list[torch.Tensor], beam: int) -> tuple[list[str], float]:
    started = time.perf_counter()
    texts = speech.transcribe_features(job.model, job.labels, features, beam)
    return texts, time.perf_counter() - started


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    info = machine_info()
    started = time.perf_counter()
    if args.run_dir is None:
        overrides = ["train.progress=false"] + list(args.set)
        if args.quick:
            overrides += ["train.steps=20", "train.eval_every=10", "data.digits.train=64", "data.digits.validation=8",
                          "data.digits.test=16"]
        config = run.resolve_config(load_source(args.config), overrides)
        run_dir, result = run.train(config, args.out / "runs" / "speech")
        steps = result.step
    else:
        run_dir = args.run_dir
        config = run.load_run_config(run_dir)
        steps = None
    train_seconds = time.perf_counter() - started
    _, job = run.load_trained(run_dir)
    test, utterances = job.split.test.open()  # a trained run: both decoders are compared, neither chosen, on test
    conditions = sorted(set(test.conditions or ["all"]), key=speech.condition_order)
    decodes = {"greedy": decode_all(job, utterances.features, 1),
               f"beam {args.beam}": decode_all(job, utterances.features, args.beam)}
    rows = []
    for condition in conditions:
        chosen = [i for i in range(len(test)) if test.conditions is None or test.conditions[i] == condition]
        row: dict[str, Any] = {"condition": condition, "utterances": len(chosen),
                               "words": sum(len(test.texts[i].split()) for i in chosen)}
        for name, (texts, _) in decodes.items():
            scores = speech.error_rates([test.texts[i] for i in chosen], [texts[i] for i in chosen])
            row[name] = scores
        rows.append(row)
    seconds = time.perf_counter() - started
    parameters = sum(p.numel() for p in job.model.parameters())
    markdown = render(rows, decodes, config, info, seconds, train_seconds, steps, parameters, args, job, test)
    payload = {"machine": info, "seconds": round(seconds, 1), "train_seconds": round(train_seconds, 1), "steps": steps,
               "parameters": parameters, "config": Path(args.config).stem, "overrides": args.set, "run_dir": str(run_dir),
               "decode_seconds": {k: round(v[1], 1) for k, v in decodes.items()}, "results": rows, "goal_wer": GOAL,
               "parts": {**{k: len(v) for k, v in job.parts.items()}, "test": len(test)},
               "test_speakers": sorted(set(test.speakers or []))}
    md, js = write_results(args.name, markdown, payload, args.out)
    if (Path(run_dir) / "posteriors.png").exists():
        shutil.copyfile(Path(run_dir) / "posteriors.png", args.out / f"{args.name}.png")
    print(markdown)
    print(f"\nWrote {md} and {js}")


def render(rows: list[dict[str, Any]], decodes: dict[str, Any], config: Any, info: dict[str, Any], seconds: float,
           train_seconds: float, steps: int | None, parameters: int, args: argparse.Namespace,
           job: speech.SpeechJob, test: Any) -> str:
    m, f = config.model, config.features
    names = list(decodes)
    speakers = sorted(set(test.speakers or []))
    lines = [
        "# Speech recognition with CTC: spoken digits, unseen voices", "", header(info), "",
        f"Total time {seconds / 60:.1f} min" + (f" (training {train_seconds / 60:.1f} min, {steps} steps)"
                                                 if steps is not None else f" (evaluating {args.run_dir})")
        + f". Preset `{Path(args.config).stem}`" + (f" with {', '.join(args.set)}" if args.set else "")
        + f": {f.n_mels} log-mels every {f.hop_ms:g} ms, {m.subsample} frames stacked per step, "
        f"{m.recurrent.num_layers} x {m.recurrent.hidden_size} bidirectional {m.recurrent.cell.upper()}, {parameters:,} parameters, "
        f"{len(job.labels) - 2} {config.data.level}s + <unk> + blank as labels. Utterances: "
        f"{len(job.parts['train'])} train / "
        f"{len(job.parts['val'])} validation / {len(test)} test; the {len(speakers)} test voice "
        f"variants ({', '.join(speakers)}) are never heard in training (each in 7 accents).", "",
        "| condition | utterances | words | " + " | ".join(f"WER {n}" for n in names) + " | "
        + " | ".join(f"SER {n}" for n in names) + " |",
        "|---|---:|---:|" + "---:|" * (2 * len(names)),
    ]
    for row in rows:
        label = row["condition"] if row["condition"] in ("clean", "all") else f"{row['condition']} dB SNR"
        lines.append(f"| {label} | {row['utterances']} | {row['words']} | "
                     + " | ".join(f"{100 * row[n]['wer']:.2f}%" for n in names) + " | "
                     + " | ".join(f"{100 * row[n]['ser']:.2f}%" for n in names) + " |")
    met = [r["condition"] for r in rows if r["condition"] in ("clean", "20") and r[names[-1]]["wer"] < GOAL]
    lines += ["", f"Goal: below {100 * GOAL:.0f}% WER on unseen voices, clean and at 20 dB: "
              + ("met" if len(met) == 2 else f"not met ({', '.join(met) or 'neither'} below)")
              + f" with {names[-1]}. Decoding the {len(test)} test utterances took "
              + ", ".join(f"{decodes[n][1]:.1f} s ({n})" for n in names) + "."]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    main(parser.parse_args())
