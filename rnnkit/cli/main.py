"""``rnnkit``: one command, with subcommands. Each one parses its arguments and calls the library."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import rnnkit


def _demo(args: argparse.Namespace) -> int:
    from rnnkit.tasks import demo

    series = demo.load_csv_column(args.csv, args.column) if args.csv else demo.load_sunspots()
    source = f"{args.csv} [{args.column}]" if args.csv else "yearly sunspot numbers 1700-2008 (statsmodels)"
    print(f"rnnkit {rnnkit.__version__} demo: next-step prediction of {source}")
    print(f"Training an LSTM and a tanh RNN ({args.hidden_size} units) for {args.steps} steps each ...")
    result = demo.run_demo(series, steps=args.steps, hidden_size=args.hidden_size, seed=args.seed,
                           log_every=max(1, args.steps // 8))
    print()
    print(demo.summary(result))
    png = demo.plot_demo(result, Path(args.out) / "demo.png")
    if png is not None:
        print(f"\nPlot: {png}")
    return 0


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
    demo.add_argument("--out", default="runs/demo", help="folder for the plot (default: runs/demo)")
    demo.set_defaults(handler=_demo)
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
    except (ValueError, RuntimeError) as error:
        print(f"rnnkit {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
