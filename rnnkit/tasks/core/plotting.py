"""Matplotlib for the tasks' plots: headless, optional, and saved through a temporary file."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from rnnkit.extras import MissingDependency, require
from rnnkit.files import atomic_open


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend, or None when matplotlib is not installed (then
    the plots are skipped, with one warning that says how to get them)."""
    try:
        matplotlib = require("matplotlib", "plots")
    except MissingDependency as error:
        warnings.warn(f"{error}; skipping the plots", stacklevel=2)
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure: Any, path: str | Path, dpi: int = 100) -> Path:
    """Save ``figure`` as ``path`` (written to a temporary name, then renamed) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    figure.tight_layout()
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, format=path.suffix.lstrip(".") or "png", dpi=dpi)
    plt.close(figure)
    return path
