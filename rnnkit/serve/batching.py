"""Dynamic micro-batching: concurrent requests joined into one call of a batched function.

    batcher = MicroBatcher(step_many, max_batch=64, max_wait=0.002, executor=executor)
    result = await batcher.submit(item)      # from many coroutines at once

A batch holds at most ``max_batch`` items; ``step_many(items) -> results`` runs in ``executor``
(one thread: one model call at a time). While the model is busy, requests queue and the next
batch takes them all. When it is idle, the first request waits for others to join it, but only
for those already on their way (``arriving()``: requests the server has taken in that have not
reached the queue yet) and at most ``max_wait`` seconds: a lone stream never waits. Without
``arriving`` it waits ``max_wait`` for whatever comes. ``max_batch=1`` turns batching off: each
request is its own call. Should a batch fail, each of its items runs alone, so one bad request
fails only itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any


@dataclass
class BatchStats:
    """What the batcher has done: for ``/metrics``."""

    batches: int = 0
    items: int = 0
    sizes: dict[int, int] = field(default_factory=dict)  # batch size -> how many batches had it


class MicroBatcher:
    """See the module docstring."""

    def __init__(self, run: Callable[[Sequence[Any]], Sequence[Any]], max_batch: int = 64, max_wait: float = 0.002,
                 executor: Executor | None = None, arriving: Callable[[], int] | None = None) -> None:
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch: expected an int >= 1, got {max_batch!r}")
        if not 0 <= max_wait < 10:
            raise ValueError(f"max_wait: expected seconds in [0, 10), got {max_wait!r}")
        self.run, self.max_batch, self.max_wait, self.executor = run, max_batch, max_wait, executor
        self.arriving = arriving
        self.stats = BatchStats()
        self._queue: asyncio.Queue[tuple[Any, asyncio.Future[Any]]] | None = None
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the worker on the running event loop."""
        self._queue = asyncio.Queue()
        self._worker = asyncio.get_running_loop().create_task(self._serve())

    async def submit(self, item: Any) -> Any:
        """``run([item, ...])``'s result for ``item``, computed beside whatever else is waiting."""
        if self._queue is None:
            raise RuntimeError("MicroBatcher: not started (call start() on the event loop)")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        return await future

    async def stop(self) -> None:
        """Finish what is queued, then stop the worker (a graceful shutdown's drain)."""
        if self._queue is not None:
            await self._queue.join()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    async def _collect(self) -> list[tuple[Any, asyncio.Future[Any]]]:
        assert self._queue is not None
        batch = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            if self.arriving is not None and self.arriving() == 0:
                break  # nothing else is on its way: do not wait for nobody
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), left))
            except asyncio.TimeoutError:
                break
        return batch

    async def _serve(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            items = [item for item, _ in batch]
            try:
                results = list(await loop.run_in_executor(self.executor, self.run, items))
                outcomes: list[tuple[bool, Any]] = [(True, r) for r in results]
            except Exception:  # noqa: BLE001 - isolate the failing item: each runs alone
                outcomes = []
                for item in items:
                    try:
                        outcomes.append((True, (await loop.run_in_executor(self.executor, self.run, [item]))[0]))
                    except Exception as error:  # noqa: BLE001 - handed to that request
                        outcomes.append((False, error))
            self.stats.batches += 1
            self.stats.items += len(batch)
            self.stats.sizes[len(batch)] = self.stats.sizes.get(len(batch), 0) + 1
            for (_, future), (ok, value) in zip(batch, outcomes):
                if not future.done():  # its request may have been cancelled (the client went away)
                    future.set_result(value) if ok else future.set_exception(value)
                self._queue.task_done()
