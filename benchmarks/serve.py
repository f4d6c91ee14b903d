"""``rnnkit serve`` under load, on loopback only: requests per second and p50/p99 latency of
streaming session steps for 1, 8 and 64 concurrent streams, with micro-batching (``--max-batch
64``) and without (``--max-batch 1``).

    python benchmarks/serve.py [--quick] [--requests 2000] [--seconds 30]

Workloads (each a trained run of a preset's model, trained for a few steps: latency does not
depend on how good the weights are):

- ``language``: lm-shakespeare's 2 x 256 character LSTM, token-by-token generation (each request
  ``{"generate": 1}``: one token sampled and read back in);
- ``forecast``: forecast-airline's model, one new observation per request, a 12-step forecast back.

Each case starts a fresh server process (``python -m rnnkit serve``, torch on one thread, sessions
in memory), opens the streams, warms each up with 5 steps, then every stream sends its next
step as soon as its last one is answered, until the case's request count is reached or its time
is up. The load generator (aiohttp on asyncio) runs in this process on the same machine: on 2 cores
it takes CPU from the server, so the figures are a lower bound on what the server alone does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import RESULTS, command_line, header, machine_info, publish

import rnnkit as rk
from rnnkit.data.text import cache_dir

WORKLOADS = {
    "language": ("lm-shakespeare", ["data.eval_tokens=2000", "sample_length=20"], {"text": "ROMEO:"},
                 lambda i: {"generate": 1}),
    "forecast": ("forecast-airline", [], None, lambda i: {"values": [400.0 + 10 * (i % 7)]}),
}


def trained_run(workload: str) -> Path:
    """A run of the workload's preset after a few training steps, kept in the cache."""
    preset, overrides, _, _ = WORKLOADS[workload]
    folder = cache_dir() / "benchmarks" / f"serve-{workload}"
    if (folder / "summary.json").exists():
        return folder
    print(f"training a few steps of {preset} into {folder} ...", flush=True)
    rk.fit_task(preset, run_dir=folder, baselines=False, overwrite=True,
                overrides=["train.steps=5", "train.eval_every=5", "train.checkpoint_every=5", "train.progress=false",
                           *overrides])
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run_dir: Path, max_batch: int, max_wait_ms: float) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "rnnkit", "serve", str(run_dir), "--port", str(port),
                                "--max-batch", str(max_batch), "--max-wait-ms", str(max_wait_ms),
                                "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"rnnkit serve exited: {process.stderr.read()}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError("rnnkit serve did not answer in 120 s")
        time.sleep(0.1)


def batch_sizes(metrics: str) -> tuple[float, float]:
    count = float(re.search(r"^rnnkit_batch_size_count (\S+)", metrics, re.MULTILINE).group(1))
    total = float(re.search(r"^rnnkit_batch_size_sum (\S+)", metrics, re.MULTILINE).group(1))
    return count, total


async def load(url: str, workload: str, streams: int, requests: int, seconds: float) -> dict[str, Any]:
    import aiohttp

    _, _, prime, step = WORKLOADS[workload]
    async with aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=streams + 4),
                                     timeout=aiohttp.ClientTimeout(total=120)) as client:

        async def post(path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
            async with client.post(path, json=body) as response:
                return response.status, await response.json()

        async def metrics() -> tuple[float, float]:
            async with client.get("/metrics") as response:
                return batch_sizes(await response.text())

        sids = [(await post("/sessions"))[1]["session"] for _ in range(streams)]
        if prime is not None:
            await asyncio.gather(*(post(f"/sessions/{sid}/step", prime) for sid in sids))
        for k in range(5):  # warm-up steps, not counted
            await asyncio.gather(*(post(f"/sessions/{sid}/step", step(k)) for sid in sids))
        before = await metrics()
        latencies: list[float] = []
        errors = 0
        budget = {"left": requests}
        started = time.perf_counter()
        deadline = started + seconds

        async def stream(sid: str) -> None:
            nonlocal errors
            i = 0
            while budget["left"] > 0 and time.perf_counter() < deadline:
                budget["left"] -= 1
                t0 = time.perf_counter()
                status, _ = await post(f"/sessions/{sid}/step", step(i))
                latencies.append(time.perf_counter() - t0)
                errors += status != 200
                i += 1

        await asyncio.gather(*(stream(sid) for sid in sids))
        wall = time.perf_counter() - started
        after = await metrics()
    ordered = sorted(latencies)
    batches = after[0] - before[0]
    return {"requests": len(latencies), "errors": errors, "seconds": wall, "rps": len(latencies) / wall,
            "p50_ms": 1000 * statistics.median(ordered),
            "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
            "mean_batch": (after[1] - before[1]) / batches if batches else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="language,forecast", help="comma-separated (default: language,forecast)")
    parser.add_argument("--streams", default="1,8,64", help="concurrent streams per case (default: 1,8,64)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per case at most (default: 2000)")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds per case at most (default: 30)")
    parser.add_argument("--max-wait-ms", type=float, default=2.0, help="the batching wait (default: 2)")
    parser.add_argument("--quick", action="store_true", help="200 requests and 5 s per case, for a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--name", default="serve")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.seconds = 200, 5.0
    info = machine_info()
    info["server_torch_threads"] = 1
    rows = []
    for workload in args.workloads.split(","):
        run_dir = trained_run(workload)
        for streams in (int(s) for s in args.streams.split(",")):
            for max_batch in (1, 64):
                process, url = start_server(run_dir, max_batch, args.max_wait_ms)
                try:
                    result = asyncio.run(load(url, workload, streams, args.requests, args.seconds))
                finally:
                    process.send_signal(signal.SIGTERM)
                    process.wait(60)
                row = {"workload": workload, "streams": streams, "max_batch": max_batch, **result}
                rows.append(row)
                print(f"{workload} streams={streams} max_batch={max_batch}: {result['rps']:.0f} req/s, p50 "
                      f"{result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, mean batch {result['mean_batch']:.1f}, "
                      f"errors {result['errors']}", flush=True)
    lines = ["# rnnkit serve under load (loopback)", "", header(info), "",
             command_line("serve.py"), "",
             (f"Each case: at most {args.requests} session steps or {args.seconds:g} s; server torch on 1 thread, the "
              f"load generator in another process on the same machine; batching wait {args.max_wait_ms:g} ms."), "",
             "| workload | streams | micro-batching | requests/s | p50 ms | p99 ms | mean batch | errors |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['workload']} | {r['streams']} | {'on (64)' if r['max_batch'] > 1 else 'off'} | "
                     f"{r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['mean_batch']:.1f} | {r['errors']} |")
    publish(args.name, lines, info, rows, args.out)


if __name__ == "__main__":
    main()
