"""The speed benchmark (same as ``rnnkit bench speed``); see rnnkit/tasks/speed_bench.py.

    python benchmarks/speed.py [--quick] [--keras-python benchmarks/.venv-keras/bin/python]

`make bench-speed` first makes the Keras virtualenv (`make keras-venv`), then runs this.
"""

import argparse

from rnnkit.tasks.speed_bench import add_arguments, main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    main(parser.parse_args())
