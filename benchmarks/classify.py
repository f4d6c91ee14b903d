"""The classify benchmark (same as ``rnnkit bench classify``); see rnnkit/tasks/classify_bench.py.

    python benchmarks/classify.py [--seeds 3] [--quick] [--out benchmarks/results]
"""

import argparse

from rnnkit.tasks.classify_bench import add_arguments, main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    main(parser.parse_args())
