"""The ``rnnkit`` command: thin argument parsing over the library."""
