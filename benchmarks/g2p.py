"""The g2p benchmark (same as `rnnkit bench g2p`); see rnnkit/tasks/translate_bench.py.

    python benchmarks/g2p.py [--attention additive none] [--jobs 2] [--quick] [--out benchmarks/results]
"""

import argparse

from rnnkit.tasks.translate_bench import g2p

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g2p.add_arguments(parser)
    g2p.main(parser.parse_args())
