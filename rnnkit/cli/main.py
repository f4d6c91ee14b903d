"""``rnnkit``: one command, with subcommands. Each one parses its arguments and calls the library."""

from __future__ import annotations

import argparse
import errno
import math
import os
import sys
import textwrap
import traceback
import warnings
from pathlib import Path

import rnnkit
from rnnkit.extras import MissingDependency
from rnnkit.files import decode_text, read_text


def _demo(args: argparse.Namespace) -> int:
    from rnnkit.files import write_json
    from rnnkit.tasks import demo

    if args.list:
        for part in demo.select(None):
            print(f"{part.name:10s} {part.title}")
        return 0
    only = [name for group in args.only for name in group.split(",") if name] if args.only else None
    parts = [p.name for p in demo.select(only)]  # an unknown name is an error before anything trains
    print(f"rnnkit {rnnkit.__version__}: the tour{' (--quick)' if args.quick else ''}: {', '.join(parts)}; "
          f"every part beside its baseline, in {args.out}", flush=True)

    def report(result: demo.PartResult) -> None:
        from tqdm import tqdm

        tqdm.write(result.line(), file=sys.stdout)

    tour = demo.run_tour(args.out, only=only, quick=args.quick, seed=args.seed, progress=not args.no_progress,
                         on_part=report)
    write_json(Path(args.out) / "tour.json", demo.as_dict(tour))
    print(f"\n{tour.seconds / 60:.1f} min. The page, with every part's plots and the command that reproduces it: "
          f"{tour.page}")
    if tour.failed:
        print(f"{len(tour.failed)} part(s) failed: {', '.join(p.part.name for p in tour.failed)} (their errors are "
              f"on the page)", file=sys.stderr)
        return 1
    return 0


def _train(args: argparse.Namespace) -> int:
    from rnnkit.config import load_source
    from rnnkit.tasks.core import run

    config = run.resolve_config(load_source(args.config), args.set)
    run_dir, result = run.train(config, args.run_dir, overwrite=args.overwrite, baselines=args.baselines,
                                test=args.test)
    _report(run_dir, result)
    return 0


def _report_run(args: argparse.Namespace) -> int:
    from rnnkit.tasks.core import run

    report = run.report_run(args.run_dir, args.baselines)
    print(f"test (read once, {report.get('weights', '')}): "
          + ", ".join(f"{k} {v:.4g}" for k, v in report.get("metrics", {}).items()))
    if report.get("text"):
        print(report["text"])
    for path in report.get("files", []):
        print(f"wrote {path}")
    return 0


def _presets(args: argparse.Namespace) -> int:
    from rnnkit.config import list_presets

    presets = list_presets()
    width = max(len(p.name) for p in presets)
    for preset in presets:
        print(f"{preset.name:<{width}}  {preset.description}")
    print(f"\nrnnkit train NAME runs one; the files are in {presets[0].path.parent}")
    return 0


def _resume(args: argparse.Namespace) -> int:
    from rnnkit.tasks.core import run

    run_dir, result = run.resume(args.run_dir, args.baselines)
    _report(run_dir, result)
    return 0


def _tune(args: argparse.Namespace) -> int:
    from rnnkit.config import apply_overrides, load_source, load_yaml
    from rnnkit.tasks.core import registry, tune

    data = load_source(args.config)
    if args.set:
        data = apply_overrides(registry.get(data.get("task")).config, data, args.set)
    space = load_yaml(args.space) if args.space else None
    if space is not None and not isinstance(space, dict):
        raise ValueError(f"{args.space}: expected a mapping of names to ranges, got {type(space).__name__}")
    budget = tune.parse_budget(args.budget) if args.budget else None
    result = tune.tune(data, args.run_dir, budget, args.trials, args.jobs, args.metric, args.mode, space, args.storage)
    print(f"{result['finished']} trials finished of {result['trials']}; best {result['metric']} "
          f"{result['best_value']:.5g} with " + ", ".join(f"{k}={v}" for k, v in result["best_params"].items()))
    print(f"best config: {result['best_config']}")
    for path in result["plots"]:
        print(f"wrote {path}")
    report = result.get("report") or {}
    if report.get("metrics"):
        print(f"the best config trained again in {result['run_dir']}; test (read once, {report.get('weights', '')}): "
              + ", ".join(f"{k} {v:.4g}" for k, v in report["metrics"].items()))
    if report.get("text"):
        print(report["text"])
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from rnnkit.tasks.core import run

    metrics = run.evaluate(args.run_dir, args.unfinished)
    print("validation metrics of the trained weights (recomputed):")
    for name, value in metrics.items():
        print(f"  {name}: {value:.6g}")
    reported = run.reported(args.run_dir) or {}
    if reported.get("metrics"):
        print(f"test metrics from the report at the end of training ({reported.get('weights', 'weights not said')}; "
              f"test data is read once, so they are not recomputed):")
        for name, value in reported["metrics"].items():
            print(f"  {name}: {value:.6g}")
    elif run.test_unread(args.run_dir):
        print(f"the test part is unread (trained with --no-test): `rnnkit report {args.run_dir}` reads it once")
    return 0


def _ensemble(args: argparse.Namespace) -> int:
    from rnnkit.tasks.forecast import ensemble

    members: dict[str, list[str]] = {}
    for item in args.run_dirs:  # NAME=RUN_DIR, or a bare RUN_DIR of the member "rnnkit"
        name, _, folder = item.rpartition("=") if "=" in item and not Path(item).exists() else ("", "", item)
        members.setdefault(name or ensemble.RNN, []).append(folder)
    result = ensemble.combine(members, baselines=args.baselines)
    print(result.text())
    for path in ensemble.write(result, args.out or args.run_dirs[0]):
        print(f"wrote {path}")
    return 0


def _forecast(args: argparse.Namespace) -> int:
    from rnnkit.tasks import forecast

    result = forecast.forecast_run(args.run_dir, args.horizon, args.csv, args.future, args.out, args.unfinished)
    print(forecast.format_forecast(result))
    print(f"\nwrote {result['csv']}" + (f" and {result['png']}" if result["png"] else ""))
    return 0


def _generate(args: argparse.Namespace) -> int:
    from rnnkit.tasks import language, music
    from rnnkit.tasks.core.run import load_run_config

    task = load_run_config(args.run_dir).task
    if task == "video_prediction":
        from rnnkit.tasks.video import prediction

        for path in prediction.generate_run(args.run_dir, args.length, args.seed, args.out, args.prime,
                                            args.unfinished):
            print(f"wrote {path}")
        return 0
    if task == "music":
        files = music.generate_run(args.run_dir, args.length, args.temperature, args.seed, args.out, args.prime,
                                   args.prime_frames, args.unfinished)
        for path in files:
            print(f"wrote {path}")
        return 0
    prompt = args.prompt.encode().decode("unicode_escape") if args.escapes else args.prompt
    text = language.generate_run(args.run_dir, prompt, args.length, args.temperature, args.top_k, args.top_p,
                                 args.seed, args.unfinished)
    print(prompt + text)
    return 0


def _input_texts(args: argparse.Namespace) -> list[str]:
    """The texts of ``--text`` (repeated), else the non-blank lines of FILE, else of stdin (UTF-8)."""
    if args.texts:
        empty = [i for i, text in enumerate(args.texts, 1) if not text.strip()]
        if empty:
            raise ValueError(f"--text: text number {empty[0]} is empty; expected a text to {args.command}")
        return list(args.texts)
    if args.file in (None, "-"):
        where = "stdin"
        stream = getattr(sys.stdin, "buffer", None)  # bytes, so that a bad encoding gets a clear error
        text = decode_text(stream.read(), where) if stream is not None else sys.stdin.read()
    else:
        where = args.file
        text = read_text(args.file, "texts, one per line")
    texts = [line.rstrip("\r") for line in text.split("\n") if line.strip()]
    if not texts:
        raise ValueError(f"{where}: no texts (expected non-blank lines in the file or on stdin, or --text)")
    return texts



def _add_text_inputs(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("file", nargs="?", help=f"a text file, one {what} per line (default, or -: stdin)")
    parser.add_argument("--text", dest="texts", action="append", metavar="TEXT",
                        help=f"a {what} to use (repeatable; instead of FILE)")


def _predict(args: argparse.Namespace) -> int:
    from rnnkit.tasks import sentiment
    from rnnkit.tasks.core.run import load_run_config

    if load_run_config(args.run_dir).task == "video_action":
        from rnnkit.tasks.video import action

        classes, probabilities = action.classify_clips(args.run_dir, args.clips or [], args.unfinished)
        print("\t".join(["predicted", *(f"p({c})" for c in classes), "clip"]))
        for path, row in zip(args.clips, probabilities):
            print("\t".join([classes[int(row.argmax())], *(f"{p:.4f}" for p in row), path]))
        return 0

    classifier = sentiment.load_classifier(args.run_dir, args.unfinished)  # a wrong folder fails before stdin is read
    texts = _input_texts(args)
    probabilities = classifier(texts).tolist()
    print("\t".join(["predicted", *(f"p({c})" for c in classifier.classes), "text"]))
    for text, row in zip(texts, probabilities):
        best = max(range(len(row)), key=row.__getitem__)
        print("\t".join([classifier.classes[best], *(f"{p:.4f}" for p in row), text]))
    return 0


def _caption(args: argparse.Namespace) -> int:
    from rnnkit.tasks.video import caption

    clips = args.clips or []
    for path, text in zip(clips, caption.caption_clips(args.run_dir, clips, args.beam, args.unfinished)):
        print(f"{path}\t{text}")
    return 0


def _translate(args: argparse.Namespace) -> int:
    from rnnkit.tasks import translate

    if args.attention is not None and Path(args.attention).is_dir():
        raise ValueError(f"--attention {args.attention}: a folder; expected the PNG file to write")
    translator = translate.load_translator(args.run_dir, args.unfinished)  # a wrong folder fails before stdin is read
    if args.combined:
        from rnnkit.tasks.translate import combine

        combine.load_combination(args.run_dir)  # before stdin is read, too
    texts = _input_texts(args)
    if args.combined:
        outputs = combine.translate_combined(args.run_dir, texts, args.beam, translator=translator)
        if args.attention and texts:  # the network's own attention over the first source
            translate.translate_texts(*translator, texts[:1], args.beam, args.attention)
    else:
        outputs = translate.translate_texts(*translator, texts, args.beam, args.attention)
    for text, output in zip(texts, outputs):
        print(f"{text}\t{output}")
    if args.attention:
        print(f"wrote {args.attention}", file=sys.stderr)
    return 0


def _combine(args: argparse.Namespace) -> int:
    from rnnkit.tasks.translate import combine

    result = combine.combine_run(args.run_dir, args.nbest, test=not args.no_test, order=args.order)
    print("validation WER by the network's weight w (0: Phonetisaurus's ranking, 1: the network's):")
    print("  " + ", ".join(f"{w}: {100 * s['wer']:.2f}%" for w, s in result["validation"].items()))
    print(f"chosen on validation: w = {result['weight']:g}")
    if "test_wer" in result:
        print(f"test (read once): WER {100 * result['test_wer']:.2f}%, PER {100 * result['test_per']:.2f}%")
    else:
        print("test part unread (--no-test)")
    print(f"wrote {Path(args.run_dir) / combine.COMBINATION}; use it: rnnkit translate {args.run_dir} --combined")
    return 0


def _transcribe(args: argparse.Namespace) -> int:
    from rnnkit.tasks import speech

    model, labels, config = speech.load_transcriber(args.run_dir, args.unfinished)
    for path, text in zip(args.wavs, speech.transcribe_files(model, labels, config, args.wavs, args.beam)):
        print(f"{path}\t{text}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from rnnkit.tasks.core.export import export_run

    result = export_run(args.run_dir, args.format, args.streaming, args.out, args.unfinished, args.steps)
    shape = "one step per call, the state in and out" if result.streaming else \
        "any length" if result.dynamic_time else f"sequences of {result.time} steps"
    print(f"wrote {result.path} ({shape}) and {result.sidecar}; checked against PyTorch on a new input: max |diff| "
          f"{result.max_abs_diff:.3g}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from rnnkit.serve import ServerConfig, serve

    config = ServerConfig(sessions=args.sessions, max_sessions=args.max_sessions, idle_seconds=args.idle_seconds,
                          max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, allow_unfinished=args.unfinished)
    serve(args.run_dir, args.host, args.port, config, args.log_level)
    return 0


def _bench_speed(args: argparse.Namespace) -> int:
    from rnnkit.tasks import bench

    shapes = [_shape(text) for text in args.shape] if args.shape else None
    print(f"rnnkit {rnnkit.__version__} bench speed: forward + backward against torch.nn, interleaved", flush=True)
    check = bench.speed_check(shapes, threads=args.threads, rounds=args.rounds, device=args.device, quick=args.quick)
    print()
    print(check.markdown())
    if args.out:
        bench.write_check(check, args.out)
        print(f"\nWrote {args.out}")
    return 0


def _shape(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 5 or min(values) < 1:
        raise ValueError(f"--shape: expected T,B,I,H,LAYERS (five positive integers), got {text!r}")
    return values


def _report(run_dir: Path, result) -> None:
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 speaks for all
        return
    for note in result.notes:
        print(f"note: {note}")
    state = "stopped early" if result.stopped_early else "finished"
    print(f"{state} at step {result.step} after {result.seconds:.1f}s; run folder: {run_dir}")
    if result.last_eval:
        print("last validation: " + ", ".join(f"{k} {v:.4g}" for k, v in result.last_eval.items()))
    if result.curves:
        print(f"curves: {result.curves}")
    report = result.report or {}
    if report.get("metrics"):
        print(f"test (read once, {report.get('weights', '')}): "
              + ", ".join(f"{k} {v:.4g}" for k, v in report["metrics"].items()))
    if report.get("text"):
        print(report["text"])
    for path in report.get("files", []):
        print(f"wrote {path}")


SET_HELP = "override a config value by its dotted path, e.g. --set train.optimizer.lr=3e-4 (repeatable)"
BASELINES_HELP = ("leave out the baselines that the report otherwise runs beside the model on the same test part "
                  "(naive/ETS/ARIMA, 1-NN DTW, TF-IDF, n-grams, ...: the task's standard alternatives)")
UNFINISHED_HELP = ("use a run stopped before its report (killed, say) with the weights it has, instead of refusing "
                   "it; 'rnnkit resume RUN_DIR' finishes such a run")


def _number(kind: type, test: object, expected: str) -> object:
    """An argparse ``type`` that parses ``kind`` and refuses values failing ``test`` (NaN fails
    every test), saying what was expected and what it got."""
    def parse(text: str) -> object:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value
    parse.__name__ = expected
    return parse


POSITIVE_INT = _number(int, lambda v: v >= 1, "a positive integer")
COUNT = _number(int, lambda v: v >= 0, "an integer >= 0")
TEMPERATURE = _number(float, lambda v: 0 < v < math.inf, "a positive finite number")
PROBABILITY = _number(float, lambda v: 0 < v <= 1, "a number in (0, 1]")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="Recurrent neural networks on PyTorch. Run 'rnnkit COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"rnnkit {rnnkit.__version__}")
    parser.add_argument("--debug", action="store_true", help="on an error, show the Python traceback too")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="the tour: a small model per task family on real data, beside its baseline, on one HTML page",
        description=(
            "The tour: train a small model for each family of tasks on real data (forecasting, anomaly "
            "detection, sequence classification, a character language model, sentiment, the vanishing "
            "gradient of a tanh RNN against an LSTM, video frame prediction), print one line per part beside "
            "its strongest baseline, and write OUT/index.html with every part's plots, metrics and the command "
            "that reproduces it alone. About 5 minutes on 2 CPU cores; data sets are fetched once into the cache."
        ),
    )
    demo.add_argument("--only", action="append", metavar="PART",
                      help="run only this part (repeatable, or comma-separated; --list shows them)")
    demo.add_argument("--quick", action="store_true",
                      help="a few steps per part (about 30 seconds in all): checks that everything runs, the "
                           "numbers mean nothing")
    demo.add_argument("--list", action="store_true", help="list the parts and exit")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars (for logs)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of every run (default: 0)")
    demo.add_argument("--out", default="runs/demo", help="folder for the page and the parts' runs (default: "
                      "runs/demo; an earlier tour's run of a part is moved aside, not deleted)")
    demo.set_defaults(handler=_demo)

    presets = commands.add_parser(
        "presets", help="list the configs that ship with rnnkit, one line each",
        description="List the presets: ready-to-run configs inside the package. 'rnnkit train NAME' runs one; "
                    "copy its file (the path is printed) to start a config of your own.")
    presets.set_defaults(handler=_presets)

    train = commands.add_parser(
        "train",
        help="train a task from a YAML config",
        description=(
            "Train the task that CONFIG names (its 'task:' key) with the model and training settings "
            "in CONFIG. Writes config.yaml (resolved), checkpoints, train.csv, eval.csv and curves.png "
            "to the run folder. Under torchrun, trains data-parallel (gloo on CPU, NCCL on GPU)."
        ),
    )
    train.add_argument("config", help="a preset name (rnnkit presets lists them, e.g. forecast-airline) or a YAML file")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP)
    train.add_argument("--run-dir", help="where to write the run (default: run_dir from the config, else a new "
                       "runs/TASK-TIME-XXXX); a folder that holds a run is refused unless --overwrite")
    train.add_argument("--overwrite", action="store_true", help="if --run-dir holds a run, move it aside to "
                       "RUN_DIR.replaced-TIME (nothing is deleted) and start afresh")
    train.add_argument("--no-baselines", dest="baselines", action="store_false", help=BASELINES_HELP)
    train.add_argument("--no-test", dest="test", action="store_false", help="train and keep the weights, but leave "
                       "the test part unread (no report): compare such runs on validation ('rnnkit evaluate'), then "
                       "'rnnkit report RUN_DIR' reads the test part once, for the run that validation chose")
    train.set_defaults(handler=_train)

    report = commands.add_parser(
        "report", help="read the test part of a run trained with --no-test, once",
        description="Load RUN_DIR's trained weights (as 'rnnkit evaluate' does) and make the report that 'rnnkit "
                    "train' makes at its end: the test metrics, the plots and the baselines beside the model on the "
                    "same test part. Only for a run trained with --no-test, and only once: test data is read once.",
        epilog="example: rnnkit train sentiment-polarity --set model.recurrent.cell=gru --no-test --run-dir runs/gru;"
               " rnnkit evaluate runs/gru; rnnkit report runs/gru",
    )
    report.add_argument("run_dir", help="a run folder written by 'rnnkit train --no-test'")
    report.add_argument("--no-baselines", dest="baselines", action="store_false", help=BASELINES_HELP)
    report.set_defaults(handler=_report_run)

    resume = commands.add_parser(
        "resume", help="continue a stopped or killed run from its last checkpoint",
        description="Continue RUN_DIR from its newest checkpoint with its saved config.yaml: model, "
                    "optimizer, schedule, data position and random state are restored, and the CSV logs are cut "
                    "back to the checkpoint, so the loss curve matches an uninterrupted run with the same seed.",
        epilog="example: rnnkit resume runs/adding-20261127-101500",
    )
    resume.add_argument("run_dir", help="a run folder written by 'rnnkit train'")
    resume.add_argument("--no-baselines", dest="baselines", action="store_false", help=BASELINES_HELP)
    resume.set_defaults(handler=_resume)

    tune = commands.add_parser(
        "tune", help="search hyperparameters on the validation part (Optuna), then train the best once",
        description="Search the task's hyperparameters (learning rate, hidden size, cell, layers, batch size and "
                    "the task's own) with Optuna's TPE sampler, pruning trials that fall behind at each evaluation. "
                    "Every trial is judged on a validation metric; test data is read once, by the final run of the "
                    "best config (best.yaml), beside the baselines. The study is kept in RUN_DIR/study.db (SQLite): "
                    "run the same command again to resume a killed search; several machines can share one study "
                    "through --storage.",
        epilog="example: rnnkit tune classify-basicmotions --budget 30m --jobs 2",
    )
    tune.add_argument("config", help="a preset name or a YAML file: the base config (its values outside the space "
                      "stay as they are)")
    tune.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP)
    tune.add_argument("--budget", help="wall-clock time for the search, e.g. 90s, 30m, 2h (no new trial starts "
                      "after it)")
    tune.add_argument("--trials", type=POSITIVE_INT, help="finished (completed or pruned) trials to reach in the "
                      "study, counting those of an earlier, resumed search")
    tune.add_argument("--jobs", type=POSITIVE_INT, default=1, help="trials run at once, each in its own process "
                      "(default: 1)")
    tune.add_argument("--metric", help="the validation metric to optimize (default: train.early_stopping.metric)")
    tune.add_argument("--mode", choices=["min", "max"], help="whether a smaller or larger --metric is better "
                      "(default: the config's early_stopping.mode)")
    tune.add_argument("--space", help="a YAML file that changes the search space: NAME: {low, high[, log][, int]}, "
                      "NAME: {choices: [...]}, or NAME: null to leave an entry out")
    tune.add_argument("--storage", help="an Optuna storage URL shared by several machines (default: sqlite in "
                      "RUN_DIR)")
    tune.add_argument("--run-dir", help="the tuning folder (default: a new runs/tune-TASK-TIME-XXXX); the same "
                      "folder again resumes its search")
    tune.set_defaults(handler=_tune)

    evaluate = commands.add_parser(
        "evaluate", help="print a run's evaluation metrics for its trained weights",
        description="Load RUN_DIR's trained weights (the best evaluation's where training kept them with "
                    "early_stopping.restore_best, NT-ASGD's average where training used it, else the newest) "
                    "and print the task's evaluation metrics on its validation and test data.",
        epilog="example: rnnkit evaluate runs/adding-20261127-101500",
    )
    evaluate.add_argument("run_dir", help="a run folder written by 'rnnkit train'")
    evaluate.add_argument("--unfinished", action="store_true", help=UNFINISHED_HELP)
    evaluate.set_defaults(handler=_evaluate)

    forecast = commands.add_parser(
        "forecast",
        help="forecast the next steps of a series with a trained forecasting run",
        description=(
            "Load the trained forecaster of RUN_DIR (from 'rnnkit train forecast-airline' or another forecast config), forecast "
            "HORIZON steps past the end of its series (or of --csv, newer data with the same columns), print "
            "the forecast with its prediction interval, and write forecast.csv and forecast.png."
        ),
    )
    forecast.add_argument("run_dir", help="a run folder of the forecast task")
    forecast.add_argument("--horizon", type=POSITIVE_INT, required=True, help="steps to forecast (the direct head: at most "
                          "the horizon it was trained for; seq2seq: any)")
    forecast.add_argument("--csv", help="forecast from the end of this CSV instead (same columns as in training)")
    forecast.add_argument("--future", help="CSV of the covariate columns for the HORIZON future steps, if the "
                          "model uses covariates of your own (calendar features are computed)")
    forecast.add_argument("--out", help="folder for forecast.csv and forecast.png (default: RUN_DIR)")
    forecast.add_argument("--unfinished", action="store_true", help=UNFINISHED_HELP)
    forecast.set_defaults(handler=_forecast)

    combine = commands.add_parser(
        "ensemble",
        help="combine forecasting runs and the baselines, the combination chosen on validation",
        description=(
            "Combine the forecasts of one or more trained forecasting runs of one series with naive, seasonal "
            "naive, ETS and ARIMA. Runs given as NAME=RUN_DIR form the member NAME (the mean of its runs: seeds "
            "of one model); bare RUN_DIRs form the member 'rnnkit'. Each member alone, the mean and the median of all, the "
            "mean of the k best and inverse-MASE weights are scored on the validation origins; the best is "
            "backtested on the test origins (read once). Prints the choice and its test metrics and writes "
            "ensemble.json and ensemble_backtest.csv."
        ),
        epilog="example: rnnkit ensemble runs/airline-seed0 runs/airline-seed1 es=runs/airline-es --out runs/airline-ens",
    )
    combine.add_argument("run_dirs", nargs="+", metavar="[NAME=]RUN_DIR", help="forecasting run folders of one series "
                         "(NAME=: the member they average into; default 'rnnkit')")
    combine.add_argument("--no-baselines", dest="baselines", action="store_false",
                         help="combine the runs alone (their mean), without the statistical baselines")
    combine.add_argument("--out", help="folder for ensemble.json and ensemble_backtest.csv (default: the first RUN_DIR)")
    combine.set_defaults(handler=_ensemble)

    generate = commands.add_parser(
        "generate",
        help="generate text (language run), music (music run) or video frames (video prediction run)",
        description=textwrap.dedent("""\
            Language runs (from 'rnnkit train lm-shakespeare' or another language config): read PROMPT in one pass, then
            sample LENGTH tokens one step at a time with the state carried: temperature, top-k and
            top-p (nucleus) sampling, seeded for a repeatable sample.
            Music runs (from 'rnnkit train music-chorales' or another music config): sample LENGTH frames the same way (each pitch a
            Bernoulli draw), optionally continuing the start of --prime, and write a MIDI file and
            a piano-roll PNG.
            Video prediction runs (from 'rnnkit train video-prediction' or another video config): read
            the model's input frames (the start of --prime, a video file or a folder of numbered
            frames; for Moving MNIST runs a new clip of validation digits drawn with --seed), roll out
            LENGTH frames past them, and write a GIF and a PNG strip."""),
        epilog='examples: rnnkit generate runs/lm --prompt "ROMEO:" --length 400 --temperature 0.8 --seed 1\n'
               '          rnnkit generate runs/music --length 64 --seed 1 --out chorale.mid\n'
               '          rnnkit generate runs/video --length 50 --seed 1 --out rollout.gif',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    generate.add_argument("run_dir", help="a run folder of the language, music or video prediction task")
    generate.add_argument("--prompt", default="\n", help="text to start from (default: a newline)")
    generate.add_argument("--escapes", action="store_true", help="read \\n and \\t in --prompt as newline and tab")
    generate.add_argument("--length", type=POSITIVE_INT, default=500, help="tokens (language) or frames (music, "
                          "video) to generate (default: 500)")
    generate.add_argument("--temperature", type=TEMPERATURE, default=1.0, help="divide the logits by this (default: 1)")
    generate.add_argument("--top-k", type=COUNT, default=0, help="sample among the k likeliest tokens (0: all)")
    generate.add_argument("--top-p", type=PROBABILITY, default=1.0, help="sample among the likeliest tokens whose "
                          "probability adds up to p (default: 1, all)")
    generate.add_argument("--seed", type=int, help="seed for a repeatable sample (default: random)")
    generate.add_argument("--out", help="music: the MIDI file to write (default: RUN_DIR/generated.mid); video: the "
                          "GIF (default: RUN_DIR/generated.gif); a PNG beside it")
    generate.add_argument("--prime", help="music: a MIDI / MusicXML file whose first frames the sample continues; "
                          "video: a clip (video file or folder of frames) whose first frames the model reads")
    generate.add_argument("--prime-frames", type=POSITIVE_INT, default=8, help="music: frames of --prime to read "
                          "(default: 8)")
    generate.add_argument("--unfinished", action="store_true", help=UNFINISHED_HELP)
    generate.set_defaults(handler=_generate)

    predict = commands.add_parser(
        "predict",
        help="classify new texts (sentiment run) or clips (video action run) with a trained run",
        description=(
            "Load the text classifier of RUN_DIR (from 'rnnkit train sentiment-polarity' or another sentiment config) and classify "
            "each line of FILE (or of stdin, or each --text): prints a tab-separated table of the predicted "
            "class, the probability of every class and the text. For a video action run (from 'rnnkit train "
            "video-action'), classify each --clip (a video file or a folder of numbered frames) the same way."
        ),
        epilog='examples: echo "a gorgeous , witty film" | rnnkit predict runs/sentiment\n'
               '          rnnkit predict runs/video_action --clip walk.mp4 --clip frames/run1/',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    predict.add_argument("run_dir", help="a run folder of the sentiment or the video action task")
    _add_text_inputs(predict, "text")
    predict.add_argument("--clip", dest="clips", action="append", metavar="PATH",
                         help="video action runs: a clip to classify (repeatable)")
    predict.add_argument("--unfinished", action="store_true", help=UNFINISHED_HELP)
    predict.set_defaults(handler=_predict)

    translate = commands.add_parser(
        "translate",
        help="translate (or convert graphemes to phonemes) with a trained sequence-to-sequence run",
        description=(
            "Load the encoder-decoder of RUN_DIR (from 'rnnkit train g2p-cmudict' or another translate config) "
            "and decode each line of FILE (or of stdin, or each --text) with beam search; prints source<TAB>output. "
            "--attention writes the attention weights of the first line as a heat map."
        ),
        epilog='example: echo "rnnkit" | rnnkit translate runs/g2p --beam 5 --attention rnnkit.png',
    )
    translate.add_argument("run_dir", help="a run folder of the translate task")
    _add_text_inputs(translate, "source")
    translate.add_argument("--beam", type=POSITIVE_INT, help="beam width (default: the run's config; 1: greedy)")
    translate.add_argument("--attention", metavar="PNG", help="write the first source's attention heat map here")
    translate.add_argument("--combined", action="store_true",
                           help="grapheme to phoneme: use the run combined with Phonetisaurus ('rnnkit combine "
                           "RUN_DIR' makes the combination)")
    translate.add_argument("--unfinished", action="store_true", help=UNFINISHED_HELP)
    translate.set_defaults(handler=_translate)

    combine = commands.add_parser(
        "combine",
        help="combine a grapheme-to-phoneme run with Phonetisaurus (N-best rescoring)",
        description=(
            "Train Phonetisaurus (PyPI phonetisaurus) on RUN_DIR's training words, list each word's candidates (its "
            "--nbest pronunciations and the network's beam output), score each w * log p_network - (1 - w) * "
            "cost_Phonetisaurus, choose w on the validation words, then score the test words once (not with "
            "--no-test). Keeps the choice in RUN_DIR/combination.json for 'rnnkit translate RUN_DIR --combined'."
        ),
        epilog="example: rnnkit combine runs/g2p && echo rnnkit | rnnkit translate runs/g2p --combined",
    )
    combine.add_argument("run_dir", help="a run folder of the translate task with the g2p metric (e.g. g2p-cmudict)")
    combine.add_argument("--nbest", type=POSITIVE_INT, default=20,
                         help="Phonetisaurus's pronunciations per word (default: 20)")
    combine.add_argument("--order", type=POSITIVE_INT, default=8,
                         help="Phonetisaurus's joint n-gram order (default: 8, the tool's; lower for a few hundred words)")
    combine.add_argument("--no-test", action="store_true",
                         help="choose the weight on validation and keep it, but leave the test part unread")
    combine.set_defaults(handler=_combine)

    caption = commands.add_parser(
        "caption",
        help="describe clips in words with a trained video captioning run",
        description=("Load the captioner of RUN_DIR (from 'rnnkit train video-caption' or another video_caption "
                     "config) and write a caption for each --clip (a video file or a folder of numbered frames), "
                     "read as the run read its clips; prints clip<TAB>caption."),
        epilog="example: rnnkit caption runs/video_caption --clip clip1.mp4 --clip frames/clip2/ --beam 3",
    )
    caption.add_argument("run_dir", help="a run folder of the video_caption task")
    caption.add_argument("--clip", dest="clips", action="append", metavar="PATH", help="a clip (repeatable)")
    caption.add_argument("--beam", type=POSITIVE_INT, help="beam width (default: the run's; 1: greedy)")
    caption.add_argument("--unfinished", action="store_true", help=UNFINISHED_HELP)
    caption.set_defaults(handler=_caption)

    transcribe = commands.add_parser(
        "transcribe",
        help="transcribe WAV files with a trained speech recognition (CTC) run",
        description=(
            "Load the acoustic model of RUN_DIR (from 'rnnkit train speech-digits' or another speech "
            "config), compute each WAV file's features as in training (resampling to the model's rate if needed) "
            "and decode them with CTC prefix beam search; prints path<TAB>transcript."
        ),
        epilog="example: rnnkit transcribe runs/speech one.wav two.wav --beam 1",
    )
    transcribe.add_argument("run_dir", help="a run folder of the speech task")
    transcribe.add_argument("wavs", nargs="+", metavar="WAV", help="PCM WAV files")
    transcribe.add_argument("--beam", type=POSITIVE_INT, help="prefix beam width (default: the run's; 1: greedy)")
    transcribe.add_argument("--unfinished", action="store_true", help=UNFINISHED_HELP)
    transcribe.set_defaults(handler=_transcribe)

    export = commands.add_parser(
        "export",
        help="export a trained run's model as ONNX or a torch.export program, checked against PyTorch",
        description=(
            "Write the trained model of RUN_DIR as an ONNX file (run it with onnxruntime) or a torch.export "
            "ExportedProgram (.pt2; torch.export.load), with a JSON file of the same name beside it: the inputs and "
            "outputs, what each "
            "means, what is dynamic (the batch always; the time where the exporter allows it), what the caller must "
            "do around the model (scaling, vocabulary, classes), and the largest difference from PyTorch on a new "
            "input. --streaming exports one time step with the recurrent state as explicit inputs and outputs "
            "(language, music, the anomaly forecaster, a unidirectional speech model; for translate and "
            "video_caption, the encoder without it and one decoder step with it). Every task but adding and copy."
        ),
        epilog="example: rnnkit export runs/language-shakespeare --format onnx --streaming",
    )
    export.add_argument("run_dir", help="a trained run folder")
    export.add_argument("--format", choices=["onnx", "exported-program"], default="onnx",
                        help="onnx (needs the onnx extra) or exported-program (torch.export; default: onnx)")
    export.add_argument("--streaming", action="store_true",
                        help="one time step per call, the state in and out, instead of the whole sequence")
    export.add_argument("--out", help="the file to write (default: RUN_DIR/model-sequence.onnx or model-step.onnx; "
                                      ".pt2 for exported-program); the sidecar goes beside it as .json")
    export.add_argument("--steps", type=_number(int, lambda v: v >= 2, "an integer >= 2"),
                        help="the sequence length to trace, which becomes the file's fixed length where the exporter "
                             "cannot keep time dynamic (ONNX, and torch.export of the LSTM): models that read any length "
                             "(default: the task's, 12-24; stream instead for any length)")
    export.add_argument("--unfinished", action="store_true", help=UNFINISHED_HELP)
    export.set_defaults(handler=_export)

    server = commands.add_parser(
        "serve",
        help="serve a trained run over HTTP: a page to try it, its inference, streaming sessions, /health, /metrics",
        description=(
            "Load the trained model of RUN_DIR once and serve it with FastAPI on uvicorn. Open http://HOST:PORT/ in a "
            "browser: a page with the run's config, metrics and plots and a form to try the model. Every task: GET /info, "
            "/health and /metrics (Prometheus). The task's inference: POST /generate (language), /score (anomaly), "
            "/forecast, /predict (sentiment), /translate, /transcribe (a WAV file as the body). The streaming tasks "
            "(language, anomaly, forecast) also keep sessions: POST /sessions opens one, POST /sessions/ID/step "
            "advances it (text to read and tokens to sample; new sensor points; new observations), GET reads it, "
            "POST /sessions/ID/reset restarts it, DELETE closes it. Steps of different sessions that arrive together "
            "share one forward pass (micro-batching). The interactive API documentation is at /docs."
        ),
        epilog=("example: rnnkit serve runs/language-shakespeare --port 8000, then: curl -s localhost:8000/sessions "
                "-H 'Content-Type: application/json' -d '{\"seed\": 1}'"),
    )
    server.add_argument("run_dir", help="a trained run folder (language, anomaly, forecast, sentiment, translate, speech)")
    server.add_argument("--host", default="127.0.0.1",
                        help="the address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0: every interface)")
    server.add_argument("--port", type=_number(int, lambda v: 0 <= v < 65536, "a port in [0, 65535]"), default=8000,
                        help="the TCP port (default: 8000)")
    server.add_argument("--sessions", default="memory",
                        help="where sessions live: 'memory' (this process; lost on restart; the default) or a Redis URL "
                             "such as redis://127.0.0.1:6379/0 (they survive a restart and any replica can continue them)")
    server.add_argument("--max-sessions", type=POSITIVE_INT, default=1000,
                        help="open sessions at most; one more gets 429 (default: 1000)")
    server.add_argument("--idle-seconds", type=_number(float, lambda v: v > 0, "seconds > 0"), default=600.0,
                        help="a session unused this long is closed (default: 600)")
    server.add_argument("--max-batch", type=POSITIVE_INT, default=64,
                        help="session steps batched into one forward pass at most (default: 64; 1: no batching)")
    server.add_argument("--max-wait-ms", type=_number(float, lambda v: 0 <= v < 10_000, "milliseconds in [0, 10000)"),
                        default=2.0, help="how long a step waits for others to batch with (default: 2)")
    server.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                        help="uvicorn's log level (default: info)")
    server.add_argument("--unfinished", action="store_true", help=UNFINISHED_HELP)
    server.set_defaults(handler=_serve)

    bench = commands.add_parser(
        "bench", help="measure rnnkit on this machine (bench speed: the layers against torch.nn)",
        description="Measurements of rnnkit on the machine it runs on.")
    bench_kinds = bench.add_subparsers(dest="bench", metavar="WHAT", required=True)
    speed = bench_kinds.add_parser(
        "speed", help="the LSTM variants and the GRU against torch.nn, forward + backward",
        description=(
            "Time rnnkit's LSTM (the automatic path and the variants torch.nn cannot run: recurrent dropout, zoneout, "
            "peepholes, layer norm) against torch.nn.LSTM, and rk.GRU against torch.nn.GRU, forward + backward at "
            "four shapes (T,B,I,H,layers: 100,64,128,256,1; 100,64,512,512,2; 1000,16,32,128,1; 50,1,64,256,1), "
            "interleaved in one process so that the ratios hold while the machine drifts. Prints the machine (CPU "
            "model, vendor, vector extensions), the per-step GEMM route the kernels chose, the table of ratios, and "
            "each speed target with whether it holds here. A few minutes on 2 cores; --quick is a 10-second smoke run."
        ),
        epilog="example: rnnkit bench speed --threads 2 --out speed.json",
    )
    speed.add_argument("--quick", action="store_true", help="two tiny shapes, 2 rounds: checks it runs, not the speed")
    speed.add_argument("--shape", action="append", metavar="T,B,I,H,LAYERS",
                       help="a shape to time instead of the four (repeat for more)")
    speed.add_argument("--threads", type=POSITIVE_INT, default=2,
                       help="torch threads while timing (default: 2; restored after)")
    speed.add_argument("--rounds", type=POSITIVE_INT, default=5,
                       help="interleaved samples per candidate; the median is kept (default: 5)")
    speed.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to run (default: cpu)")
    speed.add_argument("--out", help="also write the result: .json for the data, any other name for the markdown table")
    speed.set_defaults(handler=_bench_speed)

    for command in [*commands.choices.values(), *bench_kinds.choices.values()]:  # also after it: rnnkit train x --debug
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="on an error, show the Python traceback too")
    return parser


USER_ERRORS = (ValueError, RuntimeError, OSError, KeyError, ArithmeticError, MissingDependency, RecursionError)


def describe_error(error: BaseException) -> str:
    """One line for the user: the message, with the file an operating-system error is about."""
    if isinstance(error, MemoryError):
        return f"out of memory ({error or 'an allocation failed'})"
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        other = f" -> {error.filename2}" if error.filename2 else ""
        return f"{error.filename}{other}: {error.strerror}"
    if isinstance(error, OSError) and error.errno == errno.ENOSPC and not error.filename:
        return error.strerror or "no space left on the device"
    if isinstance(error, KeyError):
        return f"missing key {error.args[0]!r}" if error.args else "a missing key"
    return str(error).strip() or type(error).__name__


def _show_warning(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> None:
    print(f"rnnkit: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.debug or os.environ.get("RNNKIT_DEBUG"):
        return args.handler(args)
    saved, warnings.showwarning = warnings.showwarning, _show_warning
    try:
        return args.handler(args)
    except USER_ERRORS + (MemoryError,) as error:
        print(f"rnnkit {args.command}: error: {describe_error(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rnnkit {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - a bug: one line here, the traceback with --debug
        where = traceback.extract_tb(error.__traceback__)[-1]
        print(f"rnnkit {args.command}: internal error: {type(error).__name__}: {error} (at {Path(where.filename).name}:"
              f"{where.lineno}); this is a bug in rnnkit: please report it with the output of --debug",
              file=sys.stderr)
        return 1
    finally:
        warnings.showwarning = saved


if __name__ == "__main__":
    sys.exit(main())
