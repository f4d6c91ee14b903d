"""The speech benchmark (same as `rnnkit bench speech`); see rnnkit/tasks/speech_bench.py.

    python benchmarks/speech.py [--run-dir RUN] [--beam 8] [--quick] [--out benchmarks/results]
"""

import argparse

from rnnkit.tasks.speech_bench import add_arguments, main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    main(parser.parse_args())
