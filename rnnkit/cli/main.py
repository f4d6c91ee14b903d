"""``rnnkit``: one command, with subcommands. Each one parses its arguments and calls the library."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import rnnkit


def _demo(args: argparse.Namespace) -> int:
    from rnnkit.tasks import demo

    series = demo.load_csv_column(args.csv, args.column) if args.csv else demo.load_sunspots()
    source = f"{args.csv} [{args.column}]" if args.csv else "yearly sunspot numbers 1700-2008 (statsmodels)"
    print(f"rnnkit {rnnkit.__version__} demo: next-step prediction of {source}")
    print(f"Training an LSTM and a tanh RNN ({args.hidden_size} units) for {args.steps} steps each ...")
    result = demo.run_demo(series, steps=args.steps, hidden_size=args.hidden_size, seed=args.seed,
                           progress=True, run_dir=args.out)
    print()
    print(demo.summary(result))
    png = demo.plot_demo(result, Path(args.out) / "demo.png")
    if png is not None:
        print(f"\nPlot: {png}")
        print(f"Training curves and logs: {Path(args.out) / 'lstm'}, {Path(args.out) / 'rnn'}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from rnnkit.config import load_yaml
    from rnnkit.tasks import run

    config = run.resolve_config(load_yaml(args.config), args.set)
    run_dir, result = run.train(config, args.run_dir)
    _report(run_dir, result)
    return 0


def _resume(args: argparse.Namespace) -> int:
    from rnnkit.tasks import run

    run_dir, result = run.resume(args.run_dir)
    _report(run_dir, result)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from rnnkit.tasks import run

    metrics = run.evaluate(args.run_dir)
    for name, value in metrics.items():
        print(f"{name}: {value:.6g}")
    return 0


def _forecast(args: argparse.Namespace) -> int:
    from rnnkit.tasks import forecast

    result = forecast.forecast_run(args.run_dir, args.horizon, args.csv, args.future, args.out)
    print(forecast.format_forecast(result))
    print(f"\nwrote {result['csv']}" + (f" and {result['png']}" if result["png"] else ""))
    return 0


def _generate(args: argparse.Namespace) -> int:
    from rnnkit.tasks import language, music
    from rnnkit.tasks.run import load_run_config

    if load_run_config(args.run_dir).task == "music":
        files = music.generate_run(args.run_dir, args.length, args.temperature, args.seed, args.out, args.prime,
                                   args.prime_frames)
        for path in files:
            print(f"wrote {path}")
        return 0
    prompt = args.prompt.encode().decode("unicode_escape") if args.escapes else args.prompt
    text = language.generate_run(args.run_dir, prompt, args.length, args.temperature, args.top_k, args.top_p,
                                 args.seed)
    print(prompt + text)
    return 0


def _input_texts(args: argparse.Namespace) -> list[str]:
    """The texts of ``--text`` (repeated), else the non-blank lines of FILE, else of stdin."""
    if args.texts:
        return list(args.texts)
    if args.file in (None, "-"):
        texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    else:
        with open(args.file, encoding="utf-8") as handle:
            texts = [line.rstrip("\n") for line in handle if line.strip()]
    if not texts:
        raise ValueError(f"{args.command}: no texts (expected lines in the file or on stdin, or --text)")
    return texts


def _add_text_inputs(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("file", nargs="?", help=f"a text file, one {what} per line (default, or -: stdin)")
    parser.add_argument("--text", dest="texts", action="append", metavar="TEXT",
                        help=f"a {what} to use (repeatable; instead of FILE)")


def _predict(args: argparse.Namespace) -> int:
    from rnnkit.tasks import sentiment

    classifier = sentiment.load_classifier(args.run_dir)  # a wrong folder fails before stdin is read
    texts = _input_texts(args)
    probabilities = classifier(texts).tolist()
    print("\t".join(["predicted", *(f"p({c})" for c in classifier.classes), "text"]))
    for text, row in zip(texts, probabilities):
        best = max(range(len(row)), key=row.__getitem__)
        print("\t".join([classifier.classes[best], *(f"{p:.4f}" for p in row), text]))
    return 0


def _translate(args: argparse.Namespace) -> int:
    from rnnkit.tasks import translate

    translator = translate.load_translator(args.run_dir)  # a wrong folder fails before stdin is read
    texts = _input_texts(args)
    for text, output in zip(texts, translate.translate_texts(*translator, texts, args.beam, args.attention)):
        print(f"{text}\t{output}")
    if args.attention:
        print(f"wrote {args.attention}", file=sys.stderr)
    return 0


def _transcribe(args: argparse.Namespace) -> int:
    from rnnkit.tasks import speech

    model, labels, config = speech.load_transcriber(args.run_dir)
    for path, text in zip(args.wavs, speech.transcribe_files(model, labels, config, args.wavs, args.beam)):
        print(f"{path}\t{text}")
    return 0


def _report(run_dir: Path, result) -> None:  # noqa: ANN001
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 speaks for all
        return
    state = "stopped early" if result.stopped_early else "finished"
    print(f"{state} at step {result.step} after {result.seconds:.1f}s; run folder: {run_dir}")
    if result.last_eval:
        print("last evaluation: " + ", ".join(f"{k} {v:.4g}" for k, v in result.last_eval.items()))
    if result.curves:
        print(f"curves: {result.curves}")
    report = result.report or {}
    if report.get("metrics"):
        print("test: " + ", ".join(f"{k} {v:.4g}" for k, v in report["metrics"].items()))
    if report.get("text"):
        print(report["text"])
    for path in report.get("files", []):
        print(f"wrote {path}")


def _bench(args: argparse.Namespace) -> int:
    _benchmark(BENCHMARKS[args.bench][0]).main(args)
    return 0


def _benchmark(spec: str) -> Any:
    """``module`` or ``module:object``: what has ``add_arguments(parser)`` and ``main(args)``."""
    module, _, name = spec.partition(":")
    loaded = importlib.import_module(module)
    return getattr(loaded, name) if name else loaded


# name -> (module, or module:object, with add_arguments(parser) and main(args), one-line help, description)
BENCHMARKS = {
    "long-term": (
        "rnnkit.tasks.long_term_bench",
        "tanh RNN vs LSTM vs GRU on the adding and copy-memory tasks",
        "Train the tanh RNN, the LSTM and the GRU on the adding problem and the copy-memory task "
        "at several lengths T, each until solved or out of its step/time budget; write a table "
        "(markdown + JSON) and plots of the loss curves and of the gradient flow through time.",
    ),
    "speed": (
        "rnnkit.tasks.speed_bench",
        "rnnkit's paths vs torch.nn, Keras 3 and hand-written loops: time, GFLOP/s, memory",
        "Time every rnnkit path (torch's kernel, rnnkit's fused kernel, the readable loop, each "
        "regularizer and variant) beside torch.nn, torch.nn cells in a loop, a naive loop and Keras 3 "
        "(JAX, from its own virtualenv) on four shapes, forward and forward+backward, interleaved in "
        "one process; plus parallel-in-time minGRU/minLSTM, streaming steps and a T=10,000 training "
        "step with checkpointing. Writes speed.md/.json and checks the issue's targets (~13 min).",
    ),
    "forecast": (
        "rnnkit.tasks.forecast_bench",
        "rnnkit's forecaster vs naive, seasonal naive, ETS and ARIMA on five real series",
        "Train the forecaster of each configs/forecast-<series>.yaml preset (several seeds) and "
        "backtest it beside naive, seasonal naive, ETS and ARIMA on the same rolling origins; "
        "write forecast.md/.json (MAE, RMSE, sMAPE, MASE, coverage, time) and a plot per series.",
    ),
    "anomaly": (
        "rnnkit.tasks.anomaly_bench",
        "rnnkit's RNN detectors vs a rolling z-score and an isolation forest on labelled sensor data",
        "Train the forecaster and the autoencoder detectors on the MIT-BIH ECG and Yahoo S5 series "
        "(configs/anomaly-*.yaml) and score the test part beside a rolling z-score and scikit-learn's "
        "isolation forest: ROC-AUC, PR-AUC, best F1; writes anomaly.md/.json and a plot per series.",
    ),
    "language": (
        "rnnkit.tasks.language_bench",
        "a character LSTM vs Kneser-Ney n-grams on Shakespeare: bits per character",
        "Train the configs/lm-shakespeare.yaml preset (about 20 minutes on 2 CPU cores) and interpolated "
        "Kneser-Ney 3-, 5- and 7-gram models on the same training block; score all on the same "
        "contiguous validation and test blocks; write language.md/.json with a generated sample.",
    ),
    "classify": (
        "rnnkit.tasks.classify_bench",
        "rnnkit's recurrent classifier vs 1-NN DTW on six UEA/UCR sets",
        "Train the classifier preset on BasicMotions, JapaneseVowels, GunPoint, ArrowHead, "
        "ItalyPowerDemand and OSULeaf (official splits, several seeds) beside aeon's 1-nearest-neighbour "
        "DTW; writes classify.md/.json (accuracy, macro F1, time) and a bar chart.",
    ),
    "sentiment": (
        "rnnkit.tasks.sentiment_bench",
        "a biLSTM from scratch and from a pre-trained LM vs TF-IDF + logistic regression on sentence polarity",
        "On Pang & Lee's sentence polarity set, train configs/sentiment-polarity.yaml (from scratch) and "
        "configs/sentiment-polarity-pretrained.yaml (from a language model pre-trained once on full movie "
        "reviews) beside TF-IDF + logistic regression on identical seeded 80/10/10 splits (or --folds 10); "
        "writes sentiment.md/.json with accuracy, macro F1 and time.",
    ),
    "music": (
        "rnnkit.tasks.music_bench",
        "tanh RNN vs LSTM vs GRU on Bach chorales: test NLL per frame",
        "Train configs/music-chorales.yaml with the tanh RNN, the LSTM and the GRU (several seeds, one split "
        "by piece) and report the test negative log-likelihood per frame beside the published JSB Chorales "
        "numbers; writes music.md/.json and a sampled chorale's piano roll.",
    ),
    "g2p": (
        "rnnkit.tasks.translate_bench:g2p",
        "grapheme to phoneme on CMUdict: the encoder-decoder with and without attention, PER and WER",
        "Train configs/g2p-cmudict.yaml with additive attention and without (the plain encoder-decoder) on "
        "the same split by word and report test phoneme and word error rates (beam search) beside Rao et al. "
        "2015's 25.8% WER; writes g2p.md/.json and an attention heat map. A GPU run: --jobs 2.",
    ),
    "bible": (
        "rnnkit.tasks.translate_bench:bible",
        "English to Spanish on the Bible: the encoder-decoder with and without attention, BLEU by length",
        "Train configs/translate-bible.yaml with additive attention and without on the verses of the King "
        "James and Reina-Valera Bibles, whole books held out, and report test BLEU and chrF (sacrebleu) and "
        "BLEU by source length; writes bible.md/.json, bible.png and an attention heat map. Needs a GPU for "
        "the preset's size (about 3 s a step on 2 CPU cores).",
    ),
    "speech": (
        "rnnkit.tasks.speech_bench",
        "CTC speech recognition of spoken digits on unseen voices: WER and SER, clean and noisy",
        "Train configs/speech-digits.yaml (or evaluate a trained run with --run-dir) and decode the test part "
        "(voices never heard in training, each sentence clean, at 20 dB and at 10 dB SNR) greedily and with "
        "prefix beam search; writes speech.md/.json with word and sentence error rates and speech.png.",
    ),
}


SET_HELP = "override a config value by its dotted path, e.g. --set train.optimizer.lr=3e-4 (repeatable)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="Recurrent neural networks on PyTorch. Run 'rnnkit COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"rnnkit {rnnkit.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="train an LSTM and a tanh RNN on a real series and compare them with persistence",
        description=(
            "Train an LSTM and a tanh RNN to predict the next value of a series (by default the "
            "yearly sunspot numbers that statsmodels ships), then report test RMSE on the last 20%% "
            "against the persistence forecast and save a plot."
        ),
    )
    demo.add_argument("--csv", help="use your own series: a CSV file (needs --column)")
    demo.add_argument("--column", help="the numeric column of --csv to model")
    demo.add_argument("--steps", type=int, default=400, help="training steps per model (default: 400)")
    demo.add_argument("--hidden-size", type=int, default=32, help="hidden units per model (default: 32)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument("--out", default="runs/demo", help="folder for the plot and the two runs (default: runs/demo)")
    demo.set_defaults(handler=_demo)

    train = commands.add_parser(
        "train",
        help="train a task from a YAML config",
        description=(
            "Train the task that CONFIG names (its 'task:' key) with the model and training settings "
            "in CONFIG. Writes config.yaml (resolved), checkpoints, train.csv, eval.csv and curves.png "
            "to the run folder. Under torchrun, trains data-parallel (gloo on CPU, NCCL on GPU)."
        ),
    )
    train.add_argument("config", help="YAML file, e.g. configs/adding.yaml")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP)
    train.add_argument("--run-dir", help="where to write the run (default: run_dir from the config, else runs/TASK-TIME)")
    train.set_defaults(handler=_train)

    resume = commands.add_parser(
        "resume", help="continue a stopped or killed run from its last checkpoint",
        description="Continue RUN_DIR from its newest checkpoint with its saved config.yaml: model, "
                    "optimizer, schedule, data position and random state are restored, and the CSV logs are cut "
                    "back to the checkpoint, so the loss curve matches an uninterrupted run with the same seed.",
        epilog="example: rnnkit resume runs/adding-20261127-101500",
    )
    resume.add_argument("run_dir", help="a run folder written by 'rnnkit train'")
    resume.set_defaults(handler=_resume)

    evaluate = commands.add_parser(
        "evaluate", help="print a run's evaluation metrics for its trained weights",
        description="Load RUN_DIR's trained weights (the best evaluation's where training kept them with "
                    "early_stopping.restore_best, NT-ASGD's average where training used it, else the newest) "
                    "and print the task's evaluation metrics on its validation and test data.",
        epilog="example: rnnkit evaluate runs/adding-20261127-101500",
    )
    evaluate.add_argument("run_dir", help="a run folder written by 'rnnkit train'")
    evaluate.set_defaults(handler=_evaluate)

    forecast = commands.add_parser(
        "forecast",
        help="forecast the next steps of a series with a trained forecasting run",
        description=(
            "Load the trained forecaster of RUN_DIR (from 'rnnkit train configs/forecast-*.yaml'), forecast "
            "HORIZON steps past the end of its series (or of --csv, newer data with the same columns), print "
            "the forecast with its prediction interval, and write forecast.csv and forecast.png."
        ),
    )
    forecast.add_argument("run_dir", help="a run folder of the forecast task")
    forecast.add_argument("--horizon", type=int, required=True, help="steps to forecast (the direct head: at most "
                          "the horizon it was trained for; seq2seq: any)")
    forecast.add_argument("--csv", help="forecast from the end of this CSV instead (same columns as in training)")
    forecast.add_argument("--future", help="CSV of the covariate columns for the HORIZON future steps, if the "
                          "model uses covariates of your own (calendar features are computed)")
    forecast.add_argument("--out", help="folder for forecast.csv and forecast.png (default: RUN_DIR)")
    forecast.set_defaults(handler=_forecast)

    generate = commands.add_parser(
        "generate",
        help="generate text with a trained language model, or music with a trained music model",
        description=textwrap.dedent("""\
            Language runs (from 'rnnkit train configs/lm-*.yaml'): read PROMPT in one pass, then
            sample LENGTH tokens one step at a time with the state carried: temperature, top-k and
            top-p (nucleus) sampling, seeded for a repeatable sample.
            Music runs (configs/music-*.yaml): sample LENGTH frames the same way (each pitch a
            Bernoulli draw), optionally continuing the start of --prime, and write a MIDI file and
            a piano-roll PNG."""),
        epilog='examples: rnnkit generate runs/lm --prompt "ROMEO:" --length 400 --temperature 0.8 --seed 1\n'
               '          rnnkit generate runs/music --length 64 --seed 1 --out chorale.mid',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    generate.add_argument("run_dir", help="a run folder of the language or the music task")
    generate.add_argument("--prompt", default="\n", help="text to start from (default: a newline)")
    generate.add_argument("--escapes", action="store_true", help="read \\n and \\t in --prompt as newline and tab")
    generate.add_argument("--length", type=int, default=500, help="tokens (language) or frames (music) to "
                          "generate (default: 500)")
    generate.add_argument("--temperature", type=float, default=1.0, help="divide the logits by this (default: 1)")
    generate.add_argument("--top-k", type=int, default=0, help="sample among the k likeliest tokens (0: all)")
    generate.add_argument("--top-p", type=float, default=1.0, help="sample among the likeliest tokens whose "
                          "probability adds up to p (default: 1, all)")
    generate.add_argument("--seed", type=int, help="seed for a repeatable sample (default: random)")
    generate.add_argument("--out", help="music: the MIDI file to write (default: RUN_DIR/generated.mid; a PNG "
                          "beside it)")
    generate.add_argument("--prime", help="music: a MIDI / MusicXML file whose first frames the sample continues")
    generate.add_argument("--prime-frames", type=int, default=8, help="music: frames of --prime to read "
                          "(default: 8)")
    generate.set_defaults(handler=_generate)

    predict = commands.add_parser(
        "predict",
        help="classify new texts with a trained sentiment (text classification) run",
        description=(
            "Load the text classifier of RUN_DIR (from 'rnnkit train configs/sentiment-*.yaml') and classify "
            "each line of FILE (or of stdin, or each --text): prints a tab-separated table of the predicted "
            "class, the probability of every class and the text."
        ),
        epilog='example: echo "a gorgeous , witty film" | rnnkit predict runs/sentiment',
    )
    predict.add_argument("run_dir", help="a run folder of the sentiment task")
    _add_text_inputs(predict, "text")
    predict.set_defaults(handler=_predict)

    translate = commands.add_parser(
        "translate",
        help="translate (or convert graphemes to phonemes) with a trained sequence-to-sequence run",
        description=(
            "Load the encoder-decoder of RUN_DIR (from 'rnnkit train configs/g2p-*.yaml' or a translate config) "
            "and decode each line of FILE (or of stdin, or each --text) with beam search; prints source<TAB>output. "
            "--attention writes the attention weights of the first line as a heat map."
        ),
        epilog='example: echo "rnnkit" | rnnkit translate runs/g2p --beam 5 --attention rnnkit.png',
    )
    translate.add_argument("run_dir", help="a run folder of the translate task")
    _add_text_inputs(translate, "source")
    translate.add_argument("--beam", type=int, help="beam width (default: the run's config; 1: greedy)")
    translate.add_argument("--attention", metavar="PNG", help="write the first source's attention heat map here")
    translate.set_defaults(handler=_translate)

    transcribe = commands.add_parser(
        "transcribe",
        help="transcribe WAV files with a trained speech recognition (CTC) run",
        description=(
            "Load the acoustic model of RUN_DIR (from 'rnnkit train configs/speech-digits.yaml' or a speech "
            "config), compute each WAV file's features as in training (resampling to the model's rate if needed) "
            "and decode them with CTC prefix beam search; prints path<TAB>transcript."
        ),
        epilog="example: rnnkit transcribe runs/speech one.wav two.wav --beam 1",
    )
    transcribe.add_argument("run_dir", help="a run folder of the speech task")
    transcribe.add_argument("wavs", nargs="+", metavar="WAV", help="PCM WAV files")
    transcribe.add_argument("--beam", type=int, help="prefix beam width (default: the run's; 1: greedy)")
    transcribe.set_defaults(handler=_transcribe)

    bench = commands.add_parser("bench", help="benchmarks that write tables to benchmarks/results")
    benches = bench.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    for name, (module, help_text, description) in BENCHMARKS.items():
        sub = benches.add_parser(name, help=help_text, description=description)
        _benchmark(module).add_arguments(sub)
        sub.set_defaults(handler=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if getattr(args, "csv", None) and not args.column:
        parser.error("--csv needs --column")
    if getattr(args, "steps", 1) < 1:
        parser.error(f"--steps: expected a positive integer, got {args.steps}")
    try:
        return args.handler(args)
    except (ValueError, RuntimeError, FileNotFoundError, KeyError) as error:
        print(f"rnnkit {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
