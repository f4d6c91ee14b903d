"""The long-term dependency benchmark (same as ``rnnkit bench long-term``); see rnnkit/tasks/long_term_bench.py.

    python benchmarks/long_term.py [--quick] [--max-seconds 240] [--max-steps 4000]
"""

import argparse

from rnnkit.tasks.long_term_bench import add_arguments, main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    main(parser.parse_args())
