"""The language-model benchmark (same as ``rnnkit bench language``); see rnnkit/tasks/language_bench.py.

    python benchmarks/language.py [--quick] [--set train.max_seconds=600] [--out benchmarks/results]
"""

import argparse

from rnnkit.tasks.language_bench import add_arguments, main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    main(parser.parse_args())
