"""The sequence-to-sequence benchmarks: the attentional encoder-decoder against the plain one
(Sutskever et al. 2014: the decoder sees the source only through the encoder's final state).

``python benchmarks/g2p.py``: grapheme to phoneme on the CMU Pronouncing Dictionary with
the preset ``g2p-cmudict`` (split by word), test phoneme and word error rates with beam
search beside Rao et al. (2015)'s 25.8% WER. With ``--combine``, each attention run is also
combined with Phonetisaurus by N-best rescoring (:mod:`rnnkit.tasks.translate.combine`: the
weight chosen on the validation words, the test words read once more, by the combined system).

``python benchmarks/bible.py``: English to Spanish on the aligned Bible with
the preset ``translate-bible`` (whole books held out), test BLEU and chrF, and BLEU by source
length (the comparison of Bahdanau et al. 2015, Figure 2), drawn in ``bible.png``.

Only ``model.attention`` differs between the cases. ``--jobs 2`` trains the cases side by side
in separate processes (on one GPU they share it: their seconds are then not comparable with a
run alone). A run folder that already holds a finished run of the same config is reused (a
stopped benchmark continues; the table says so). Writes ``<name>.md``/``.json`` and the
attention model's heat map ``<name>_attention.png``.

    python benchmarks/g2p.py [--attention additive none] [--seeds 1] [--jobs 1] [--combine] [--quick] [--out DIR]
    python benchmarks/bible.py [...]
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import shutil
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import add_quality_arguments, finished_run, header, machine_info, write_results
from rnnkit.tasks.core.plotting import pyplot, save_figure
from rnnkit.tasks.translate import LENGTH_BUCKETS as BUCKETS

ATTENTION = {"additive": "additive attention (Bahdanau)", "general": "general attention (Luong)",
             "dot": "dot attention (Luong)", "none": "no attention (Sutskever)"}


@dataclass(frozen=True)
class TranslateBench:
    name: str
    config: str  # a preset name
    title: str
    anchor: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_quality_arguments(parser, self.name, seeds=1)
        parser.add_argument("--attention", nargs="+", choices=list(ATTENTION), default=["additive", "none"],
                            help="the cases: model.attention of each (default: additive none)")
        parser.add_argument("--jobs", type=int, default=1, help="cases trained at once, in separate processes")
        parser.add_argument("--config", default=self.config, help="a preset name or YAML file every case "
                            "trains with")
        parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                            help="override the preset, e.g. --set train.steps=2000")
        if self.name == "g2p":
            parser.add_argument("--combine", action="store_true",
                                help="also combine each attention run with Phonetisaurus: N-best rescoring, the "
                                "model's weight chosen on the validation words (rnnkit.tasks.translate.combine)")

    def main(self, args: argparse.Namespace) -> None:
        import torch

        torch.set_num_threads(args.threads)
        info = machine_info()
        started = time.perf_counter()
        cases = [(attention, seed) for attention in args.attention for seed in range(args.seeds)]
        if args.jobs > 1:
            with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
                runs = list(pool.map(run_case, [self.name] * len(cases), cases, [args] * len(cases)))
        else:
            runs = [run_case(self.name, case, args) for case in cases]
        seconds = time.perf_counter() - started
        results = [summarize(attention, [r for r in runs if r["attention"] == attention])
                   for attention in args.attention]
        markdown = self.render(results, info, seconds, args)
        payload = {"machine": info, "seconds": round(seconds, 1), "seeds": args.seeds, "jobs": args.jobs,
                   "config": Path(args.config).stem, "overrides": args.set, "anchor": self.anchor, "results": results}
        md, js = write_results(args.name, markdown, payload, args.out)
        for r in runs:
            if r["attention"] != "none" and (Path(r["run_dir"]) / "attention.png").exists():
                shutil.copyfile(Path(r["run_dir"]) / "attention.png", args.out / f"{args.name}_attention.png")
                break
        if self.name == "bible":
            plot_buckets(results, args.out / f"{args.name}.png")
        print(markdown)
        print(f"\nWrote {md} and {js}")

    def render(self, results: list[dict[str, Any]], info: dict[str, Any], seconds: float,
               args: argparse.Namespace) -> str:
        first = results[0]["runs"][0]
        lines = [f"# {self.title}", "", header(info), "",
                 f"Total time {seconds / 60:.1f} min ({args.jobs} case(s) at a time). Preset `{Path(args.config).stem}`"
                 + (f" with {', '.join(args.set)}" if args.set else "") + f", only model.attention changed; "
                 f"{first['pairs']['train']:,} training / {first['pairs']['val']:,} validation / "
                 f"{first['pairs']['test']:,} test pairs; "
                 + (f"mean (sd) over {args.seeds} seeds; " if args.seeds > 1 else "one seed; ")
                 + f"test scores of the best-validation weights, beam search (width {first['beam']}).", ""]
        spread = (lambda r, k: f" ({r[k + '_sd']:.2f})" if args.seeds > 1 else "")
        if self.name == "g2p":
            lines += ["| model | test PER % | test WER % | steps | seconds |", "|---|---:|---:|---:|---:|"]
            for r in results:
                lines.append(f"| {ATTENTION[r['attention']]} | {100 * r['test_per']:.2f}{spread(r, 'test_per')} | "
                             f"{100 * r['test_wer']:.2f}{spread(r, 'test_wer')} | {r['steps']} | {r['seconds']:.0f} |")
            for r in results:
                if "combined_test_wer" in r:
                    weights = ", ".join(f"{run['combined']['weight']:g}" for run in r["runs"])
                    lines.append(f"| {ATTENTION[r['attention']]} + Phonetisaurus, N-best rescoring (model weight "
                                 f"{weights}, chosen on validation) | {100 * r['combined_test_per']:.2f}"
                                 f"{spread(r, 'combined_test_per')} | {100 * r['combined_test_wer']:.2f}"
                                 f"{spread(r, 'combined_test_wer')} | {r['steps']} | {r['combined_seconds']:.0f} |")
            baselines = first.get("baselines", {})  # the same test words, run by the first case's report
            for tool, scores in baselines.get("metrics", {}).items():
                lines.append(f"| {tool} (baseline) | {100 * scores['test_per']:.2f} | {100 * scores['test_wer']:.2f} "
                             f"| - | {baselines['seconds'].get(tool, 0):.0f} |")
            lines += [f"| {tool} (baseline) | not run: {why} | | | |" for tool, why in baselines.get("skipped", {}).items()]
            lines += ["", f"Anchor: {self.anchor}. A word counts as right when the output equals any of its "
                      "pronunciations; PER is the edit distance to the closest one over its length. The baselines "
                      "are trained on the same training words and read the same test words: Phonetisaurus "
                      "(the standard WFST tool, its defaults: joint 8-gram, `--seq2_del`; g2p-seq2seq's README "
                      "gives it about 34% WER on the current stress-free CMUdict) and a translation memory "
                      "(the pronunciation of the nearest training word by character n-grams)."]
            combined = [run for r in results for run in r["runs"] if "combined" in run]
            if combined:
                c = combined[0]["combined"]
                shown = ", ".join(f"{w}: {100 * s['wer']:.2f}" for w, s in c["validation"].items()
                                  if float(w) in (0.0, 0.25, 0.5, 0.75, 1.0) or float(w) == c["weight"])
                lines += ["", "N-best rescoring: per word, Phonetisaurus's "
                          f"{c['nbest']} best pronunciations and the model's beam output, each scored "
                          "w * log p_model - (1 - w) * cost_Phonetisaurus (an unlisted candidate costs the worst listed "
                          f"cost + {c['unlisted']:g}); w is chosen on the validation words from 0, 0.05, ..., 1, and only "
                          "then are the test words read (a second read of the run's test part, by the combined system). "
                          f"Validation WER % by w (first seed): {shown}. Its seconds: Phonetisaurus's training and both "
                          "parts' lists (" + ", ".join(f"{k} {v:.0f}" for k, v in c["seconds"].items()) + ")."]
            reused = sum(run.get("reused", False) for r in results for run in r["runs"])
            if reused:
                lines += ["", f"{reused} run(s) were trained by an earlier invocation and reused here (their steps and "
                          "seconds as recorded then; the total time above is this invocation's)."]
        else:
            lines += ["| model | test BLEU | test chrF | steps | seconds |", "|---|---:|---:|---:|---:|"]
            for r in results:
                lines.append(f"| {ATTENTION[r['attention']]} | {r['test_bleu']:.2f}{spread(r, 'test_bleu')} | "
                             f"{r['test_chrf']:.2f}{spread(r, 'test_chrf')} | {r['steps']} | {r['seconds']:.0f} |")
            lines += ["", "BLEU by the source verse's length in words (verses in the bucket):", "",
                      "| model | " + " | ".join(bucket_name(b) for b in BUCKETS) + " |",
                      "|---|" + "---:|" * len(BUCKETS)]
            for r in results:
                cells = [f"{b['bleu']:.1f} ({b['count']})" if b["count"] else "-" for b in r["buckets"]]
                lines.append(f"| {ATTENTION[r['attention']]} | " + " | ".join(cells) + " |")
            lines += ["", f"Anchor: {self.anchor}"]
        return "\n".join(lines)


def bucket_name(bucket: tuple[int, int]) -> str:
    return f"{bucket[0]}+" if bucket[1] >= 1000 else f"{bucket[0]}-{bucket[1] - 1}"


def run_case(name: str, case: tuple[str, int], args: argparse.Namespace) -> dict[str, Any]:
    """Train one case of the preset and score its test predictions."""
    import torch

    from rnnkit.config import load_source
    from rnnkit.tasks.core import run

    torch.set_num_threads(args.threads)
    attention, seed = case
    overrides = ["train.progress=false", f"model.attention={attention}", f"train.seed={seed}"] + list(args.set)
    if args.quick:
        overrides += ["train.steps=20", "train.eval_every=10", "data.eval_size=20", "max_output=20"]
    config = run.resolve_config(load_source(args.config), overrides)
    run_dir = args.out / "runs" / f"{name}-{attention}-seed{seed}"
    reused = finished_run(run_dir, config, f"{attention} seed {seed}", reported=True)
    started = time.perf_counter()
    if not reused:
        run.train(config, run_dir)
    seconds = time.perf_counter() - started
    summary = json.loads((run_dir / "summary.json").read_text())
    report = summary["report"]
    metrics, steps = report["metrics"], summary["step"]
    seconds = summary["seconds"] if reused else seconds
    split = json.loads((run_dir / "split.json").read_text())  # the parts as the run saved them
    job_parts = {"train": split["train"]["pairs"], "val": split["validation"]["pairs"], "test": split["test"]["pairs"]}
    baselines = report.get("baselines", {})
    record = {"attention": attention, "seed": seed, "steps": steps, "seconds": round(seconds, 1),
              "run_dir": str(run_dir), "pairs": job_parts, "beam": config.beam, "reused": reused,
              "baselines": {"metrics": baselines.get("metrics", {}), "seconds": baselines.get("seconds", {}),
                            "skipped": baselines.get("skipped", {})},
              **{k: v for k, v in metrics.items() if k.startswith("test_")}}
    if name == "bible":
        record["buckets"] = bleu_by_length(run_dir / "predictions.tsv")
    print(f"  {attention} seed {seed}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
          + f" ({seconds:.0f}s, {steps} steps{', reused' if reused else ''})", flush=True)
    if getattr(args, "combine", False) and attention != "none":
        from rnnkit.tasks.translate.combine import combine_run

        record["combined"] = combine_run(run_dir, n=3 if args.quick else 20)
        print(f"  {attention} seed {seed} + Phonetisaurus: weight {record['combined']['weight']:g}, test WER "
              f"{record['combined']['test_wer']:.4g}, PER {record['combined']['test_per']:.4g}", flush=True)
    return record


def bleu_by_length(predictions: Path) -> list[dict[str, Any]]:
    """BLEU by source length (:func:`rnnkit.tasks.translate.bleu_by_length`) of a run's ``predictions.tsv``."""
    from rnnkit.tasks import translate

    with open(predictions, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return translate.bleu_by_length([r["source"] for r in rows], [r["reference"] for r in rows],
                                    [r["output"] for r in rows])


def summarize(attention: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k in runs[0] if k.startswith("test_")]
    summary: dict[str, Any] = {"attention": attention, "runs": runs, "steps": runs[0]["steps"],
                               "seconds": statistics.fmean(r["seconds"] for r in runs)}
    for k in keys:
        values = [r[k] for r in runs]
        summary[k] = statistics.fmean(values)
        summary[k + "_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
    if all("combined" in r for r in runs):
        for k in ("test_per", "test_wer"):
            values = [r["combined"][k] for r in runs]
            summary[f"combined_{k}"] = statistics.fmean(values)
            summary[f"combined_{k}_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
        summary["combined_seconds"] = statistics.fmean(sum(r["combined"]["seconds"].values()) for r in runs)
    if "buckets" in runs[0]:
        summary["buckets"] = [{**b, "bleu": statistics.fmean(r["buckets"][i]["bleu"] for r in runs)}
                              for i, b in enumerate(runs[0]["buckets"])]
    return summary


def plot_buckets(results: list[dict[str, Any]], path: Path) -> Path | None:
    plt = pyplot()
    if plt is None:
        return None
    figure, axis = plt.subplots(figsize=(6, 4))
    names = [bucket_name(b) for b in BUCKETS]
    for r in results:
        axis.plot(names, [b["bleu"] for b in r["buckets"]], marker="o", label=ATTENTION[r["attention"]])
    axis.set_xlabel("source length (words)")
    axis.set_ylabel("test BLEU")
    axis.set_title("English to Spanish: BLEU by verse length")
    axis.legend()
    return save_figure(figure, path)


g2p = TranslateBench(
    "g2p", "g2p-cmudict", "Grapheme to phoneme: CMU Pronouncing Dictionary",
    "25.8% WER, deep bidirectional LSTM with CTC on CMUdict (Rao et al. 2015; 21.3% combined with an n-gram "
    "model); a different split of the dictionary")
bible = TranslateBench(
    "bible", "translate-bible", "English to Spanish: the Bible, whole books held out",
    "Bahdanau et al. (2015, Figure 2) saw the plain encoder-decoder's BLEU fall with sentence length while "
    "the attention model's held (WMT'14 English-French); this is their comparison on a small corpus.")
