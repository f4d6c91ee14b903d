"""``rnnkit serve RUN_DIR``: a trained run behind an HTTP server, with streaming sessions.

    rnnkit serve runs/language-... --port 8000                       # sessions in this process
    rnnkit serve runs/anomaly-... --sessions redis://127.0.0.1:6379/0   # sessions in Redis

    from rnnkit.serve import ServerConfig, create_app               # the FastAPI app, from Python
    app = create_app("runs/forecast-...", ServerConfig(max_batch=32))

:mod:`.app` has the endpoints, :mod:`.services` what each task serves, :mod:`.sessions` where
sessions live, :mod:`.batching` how concurrent steps share a forward pass, :mod:`.records` how a
session's state is stored (safetensors + JSON, never pickle). Needs the ``serve`` extra:
``pip install 'rnnkit[serve]'``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ServerConfig", "create_app", "load_service", "serve"]


def __getattr__(name: str) -> Any:  # FastAPI is imported when the server is asked for, not with rnnkit
    if name in ("ServerConfig", "create_app", "serve"):
        from rnnkit.serve import app

        return getattr(app, name)
    if name == "load_service":
        from rnnkit.serve.services import load_service

        return load_service
    raise AttributeError(f"module 'rnnkit.serve' has no attribute {name!r}")
