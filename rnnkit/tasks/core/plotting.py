"""Matplotlib for the tasks' plots: headless, optional, and saved through a temporary file."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend, or None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def save_figure(figure: Any, path: str | Path, dpi: int = 100) -> Path:
    """Save ``figure`` as ``path`` (written to a temporary name, then renamed) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    figure.savefig(tmp, dpi=dpi)
    plt.close(figure)
    tmp.replace(path)
    return path
