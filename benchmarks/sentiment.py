"""The sentiment benchmark (same as ``rnnkit bench sentiment``); see rnnkit/tasks/sentiment_bench.py.

    python benchmarks/sentiment.py [--seeds N] [--quick] [--out benchmarks/results]
"""

import argparse

from rnnkit.tasks.sentiment_bench import add_arguments, main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    main(parser.parse_args())
