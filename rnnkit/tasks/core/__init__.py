"""What the applications share: the registry, the runner, metrics, plots, classification reports.

Nothing in ``core`` imports an application; applications import ``core``.
"""
