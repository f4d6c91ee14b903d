"""``python -m rnnkit``: the ``rnnkit`` command."""

import sys

from rnnkit.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
