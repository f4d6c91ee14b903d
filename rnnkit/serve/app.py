"""The HTTP application of ``rnnkit serve``: :func:`create_app` builds it, :func:`serve` runs it
with uvicorn.

Endpoints (every task):

- ``GET /`` in a browser: a page with the run's config, metrics and plots and a form for the
  task's inference (``rnnkit/serve/page``: plain HTML and a script, no build step); else JSON as ``/info``;
- ``GET /info``: the run, its task, its test metrics, config, plots and the endpoints;
- ``GET /files/NAME``: one of the run's plots (PNG);
- ``GET /health``: 200 while the server and its session store answer, else 503;
- ``GET /metrics``: Prometheus text (requests by route and status, latency, sessions, batch sizes);
- the task's one-shot endpoints (:mod:`rnnkit.serve.services`).

Sessions (the streaming tasks: language, anomaly, forecast):

- ``POST /sessions`` (the task's creation fields, if any) -> ``{"session": ID, ...}``;
- ``POST /sessions/ID/step`` (the task's step request) -> its output; the session's state advances;
- ``GET /sessions/ID``: the state; ``POST /sessions/ID/reset``: back to the start; ``DELETE /sessions/ID``.

Steps of different sessions that arrive together run as one batch (:mod:`rnnkit.serve.batching`);
steps of one session run in the order they arrive, one at a time. Bad input is a 422 naming
what was expected; an unknown or expired session a 404; a full store a 429; a store that cannot
be reached, or a server shutting down, a 503. On shutdown the server stops taking requests,
finishes the queued steps, then stops.
"""

import asyncio
import contextlib
import importlib.resources
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit.extras import require

require("fastapi", "rnnkit serve")
require("prometheus_client", "rnnkit serve's /metrics")
from fastapi import Body, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from rnnkit.config import to_dict
from rnnkit.serve import records
from rnnkit.serve.batching import MicroBatcher
from rnnkit.serve.services import Route, Service, load_service
from rnnkit.serve.sessions import SessionNotFound, SessionsFull, StoreUnavailable, open_sessions
from rnnkit.tasks.core import run

log = logging.getLogger("rnnkit.serve")
PAGE = importlib.resources.files("rnnkit.serve").joinpath("page")  # index.html and page.js: GET / in a browser


@dataclass
class ServerConfig:
    """How the server keeps sessions and batches their steps (``rnnkit serve --help``)."""

    sessions: str = "memory"  # or a Redis URL
    max_sessions: int = 1000
    idle_seconds: float = 600.0
    max_batch: int = 64  # 1: no micro-batching
    max_wait_ms: float = 2.0
    allow_unfinished: bool = False


class KeyedLocks:
    """One asyncio lock per key, gone when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class Metrics:
    """The server's Prometheus metrics, in a registry of its own (no global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("rnnkit_requests", "HTTP requests by route and status", ["route", "status"],
                                registry=self.registry)
        self.latency = Histogram("rnnkit_request_seconds", "request latency by route", ["route"],
                                 buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10),
                                 registry=self.registry)
        self.sessions = Gauge("rnnkit_sessions", "open sessions", registry=self.registry)
        self.batch = Histogram("rnnkit_batch_size", "session steps per batched model call",
                               buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=self.registry)


class Measured:
    """ASGI middleware: each HTTP request counted by route template and status, and timed; while
    the server drains, a 503 for all but /health and /metrics. The response passes through as is."""

    def __init__(self, app: Any, metrics: Metrics, draining: Callable[[], bool]) -> None:
        self.app, self.metrics, self.draining = app, metrics, draining

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), {"code": 500}  # 500 unless a response starts

        async def send_status(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            if self.draining() and scope["path"] not in ("/health", "/metrics"):
                response = JSONResponse({"detail": "the server is shutting down"}, status_code=503)
                await response(scope, receive, send_status)
            else:
                await self.app(scope, receive, send_status)
        finally:
            name = getattr(scope.get("route"), "path", "unmatched")  # the route's template, set by the router
            self.metrics.requests.labels(name, str(status["code"])).inc()
            self.metrics.latency.labels(name).observe(time.perf_counter() - started)


def create_app(run_dir: str | Path, config: ServerConfig | None = None, service: Service | None = None) -> FastAPI:
    """The server of a trained run (see the module docstring). ``service``: one already loaded."""
    config = config or ServerConfig()
    service = service or load_service(run_dir, config.allow_unfinished)
    run_dir = Path(run_dir)
    store = open_sessions(config.sessions, f"rnnkit:{service.task}:{run_dir.resolve().name}", config.max_sessions,
                          config.idle_seconds)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rnnkit-model")  # one model call at a time
    metrics = Metrics()
    locks = KeyedLocks()
    state = {"draining": False}

    def step_batch(items: list[tuple[bytes, Any]]) -> list[tuple[dict[str, Any], bytes]]:
        metrics.batch.observe(len(items))
        decoded = [records.decode(blob, service.device) for blob, _ in items]
        out = service.step_many(decoded, [request for _, request in items])
        return [(output, records.encode(record)) for output, record in out]

    arriving = {"steps": 0}  # session steps past their session's lock, not queued yet
    batcher = MicroBatcher(step_batch, config.max_batch, config.max_wait_ms / 1000, executor,
                           arriving=lambda: arriving["steps"])

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        try:
            await store.ping()
        except StoreUnavailable as error:
            log.warning("%s (sessions will fail until it answers)", error)
        yield
        state["draining"] = True  # uvicorn has stopped accepting; finish what is queued, then stop
        await batcher.stop()
        await store.close()
        executor.shutdown(wait=True)

    app = FastAPI(title=f"rnnkit: {service.task} ({run_dir.name})", lifespan=lifespan,
                  description=f"Inference for the {service.task} run {run_dir}.")
    app.state.service, app.state.store, app.state.batcher, app.state.metrics = service, store, batcher, metrics

    async def in_model_thread(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)

    # -- errors and metrics ------------------------------------------------------------------------
    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"detail": message}, status_code=status)

    handlers: dict[type[BaseException], tuple[int, Callable[[BaseException], str]]] = {
        SessionNotFound: (404, lambda e: f"no session {e.args[0]!r} (never created, deleted, or expired after "
                                         f"{config.idle_seconds:g} s idle)"),
        SessionsFull: (429, str),
        StoreUnavailable: (503, str),
        ValueError: (422, str),
    }
    for kind, (status, text) in handlers.items():
        app.add_exception_handler(kind, lambda request, e, status=status, text=text: error(status, text(e)))

    app.add_middleware(Measured, metrics=metrics, draining=lambda: state["draining"])

    # -- every task --------------------------------------------------------------------------------
    summary = run.reported(run_dir) or {}
    endpoints = [f"POST {r.path}" for r in service.routes()]
    if service.streams:
        endpoints += ["POST /sessions", "POST /sessions/{id}/step", "GET /sessions/{id}", "POST /sessions/{id}/reset",
                      "DELETE /sessions/{id}"]

    plots = sorted(p.name for p in run_dir.glob("*.png"))  # the run's figures, by name: nothing else is served
    run_config = to_dict(service.config)

    @app.get("/info", summary="the run and its endpoints")
    async def info() -> dict[str, Any]:
        return {"task": service.task, "run": str(run_dir), "metrics": summary.get("metrics", {}),
                "weights": summary.get("weights"), "endpoints": endpoints, "sessions": store.kind,
                "max_batch": config.max_batch, "plots": plots, "config": run_config}

    @app.get("/", summary="the page to try the model (a browser), or the run and its endpoints (JSON)")
    async def root(request: Request) -> Any:
        if "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(PAGE.joinpath("index.html").read_text(encoding="utf-8"))
        return await info()

    @app.get("/page.js", include_in_schema=False)
    async def page_script() -> Response:
        return Response(PAGE.joinpath("page.js").read_text(encoding="utf-8"), media_type="text/javascript")

    @app.get("/files/{name}", summary="one of the run's plots (PNG)")
    async def plot(name: str) -> Response:
        if name not in plots:
            return error(404, f"no plot {name!r} in the run; its plots: {plots}")
        return FileResponse(run_dir / name, media_type="image/png")

    @app.get("/health", summary="200 while the server and its session store answer")
    async def health() -> JSONResponse:
        if state["draining"]:
            return error(503, "the server is shutting down")
        try:
            await store.ping()
        except StoreUnavailable as e:
            return JSONResponse({"status": "degraded", "detail": str(e)}, status_code=503)
        return JSONResponse({"status": "ok", "task": service.task})

    @app.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def prometheus() -> PlainTextResponse:
        with contextlib.suppress(StoreUnavailable):
            metrics.sessions.set(await store.count())
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # -- the task's one-shot endpoints ---------------------------------------------------------------
    def add_route(route: Route) -> None:
        if route.body is bytes:
            async def raw(request: Request) -> Any:
                return await in_model_thread(route.handler, await request.body())

            app.post(route.path, summary=route.summary)(raw)
            return

        async def endpoint(body: Any) -> Any:
            return await in_model_thread(route.handler, body)

        endpoint.__annotations__ = {"body": route.body, "return": dict[str, Any]}
        app.post(route.path, summary=route.summary)(endpoint)

    for route in service.routes():
        add_route(route)

    # -- sessions --------------------------------------------------------------------------------------
    if service.streams:
        Create, Step = service.CreateRequest, service.StepRequest

        async def create(body: Any = Body(None)) -> dict[str, Any]:
            record = service.new_record(body if body is not None else Create())
            sid = await store.create(records.encode(record))
            return {"session": sid, "state": service.describe(record)}

        create.__annotations__ = {"body": Create | None, "return": dict[str, Any]}
        app.post("/sessions", summary="open a session")(create)

        async def step(sid: str, body: Any) -> dict[str, Any]:
            async with locks.hold(sid):
                arriving["steps"] += 1
                try:
                    blob = await store.get(sid)
                finally:
                    arriving["steps"] -= 1
                output, new = await batcher.submit((blob, body))
                await store.put(sid, new)
            return output

        step.__annotations__ = {"sid": str, "body": Step, "return": dict[str, Any]}
        app.post("/sessions/{sid}/step", summary="advance a session")(step)

        @app.get("/sessions/{sid}", summary="a session's state")
        async def read(sid: str) -> dict[str, Any]:
            blob = await store.get(sid)
            return {"session": sid, "state": service.describe(records.decode(blob))}

        @app.post("/sessions/{sid}/reset", summary="a session back to its start")
        async def reset(sid: str) -> dict[str, Any]:
            async with locks.hold(sid):
                record = service.reset(records.decode(await store.get(sid)))
                await store.put(sid, records.encode(record))
            return {"session": sid, "state": service.describe(record)}

        @app.delete("/sessions/{sid}", summary="close a session")
        async def delete(sid: str) -> dict[str, Any]:
            async with locks.hold(sid):
                await store.delete(sid)
            return {"session": sid, "deleted": True}

    return app


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, config: ServerConfig | None = None,
          log_level: str = "info") -> None:
    """Run the server of ``run_dir`` until interrupted (SIGINT/SIGTERM: drain, then stop)."""
    require("uvicorn", "rnnkit serve")
    import uvicorn

    app = create_app(run_dir, config)
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=30)
