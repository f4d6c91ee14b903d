"""The bible benchmark (same as `rnnkit bench bible`); see rnnkit/tasks/translate_bench.py.

    python benchmarks/bible.py [--attention additive none] [--jobs 2] [--quick] [--out benchmarks/results]
"""

import argparse

from rnnkit.tasks.translate_bench import bible

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bible.add_arguments(parser)
    bible.main(parser.parse_args())
