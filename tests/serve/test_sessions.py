"""Session stores (in memory and in a real redis-server) and the micro-batcher."""

from __future__ import annotations

import asyncio
import threading

import pytest

pytest.importorskip("fastapi")

from rnnkit.serve.batching import MicroBatcher
from rnnkit.serve.sessions import (
    MemorySessions,
    RedisSessions,
    SessionNotFound,
    SessionsFull,
    StoreUnavailable,
    open_sessions,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def exercise(store):
    """What both stores must do: create, get, put, delete, count, the limit."""
    a = await store.create(b"a")
    b = await store.create(b"b")
    assert a != b and await store.get(a) == b"a" and await store.count() == 2
    with pytest.raises(SessionsFull, match="2 sessions are open"):
        await store.create(b"c")
    await store.put(a, b"a2")
    assert await store.get(a) == b"a2"
    await store.delete(b)
    with pytest.raises(SessionNotFound):
        await store.get(b)
    with pytest.raises(SessionNotFound):
        await store.put(b, b"x")  # a step finishing after its session was deleted does not bring it back
    with pytest.raises(SessionNotFound):
        await store.delete(b)
    assert await store.count() == 1
    c = await store.create(b"c")  # room again
    return a, c


def test_memory_sessions_expire_when_idle_and_keep_their_limit():
    clock = Clock()
    store = MemorySessions(max_sessions=2, idle_seconds=10, clock=clock)

    async def main():
        a, c = await exercise(store)
        clock.now = 8
        await store.get(a)  # a is used at 8, c was last used at 0
        clock.now = 12
        assert await store.count() == 1
        with pytest.raises(SessionNotFound):
            await store.get(c)
        assert await store.get(a) == b"a2"
        clock.now = 30
        assert await store.count() == 0

    asyncio.run(main())


def test_stores_check_their_settings():
    with pytest.raises(ValueError, match="max_sessions"):
        MemorySessions(max_sessions=0)
    with pytest.raises(ValueError, match="idle_seconds"):
        MemorySessions(idle_seconds=float("nan"))
    with pytest.raises(ValueError, match="expected 'memory' or a Redis URL"):
        open_sessions("postgres://x", "p")


def test_redis_sessions_survive_a_killed_redis_and_expire(redis_server):
    async def main():
        store = RedisSessions(redis_server.url, "test", max_sessions=2, idle_seconds=600)
        a, c = await exercise(store)
        redis_server.kill()
        with pytest.raises(StoreUnavailable, match="unreachable"):
            await store.get(a)
        redis_server.start()  # the same data folder: the append-only file brings the sessions back
        assert await store.get(a) == b"a2" and await store.get(c) == b"c" and await store.count() == 2
        short = RedisSessions(redis_server.url, "other", max_sessions=5, idle_seconds=1)
        d = await short.create(b"d")
        assert await short.count() == 1 and await store.count() == 2  # prefixes keep models apart
        await asyncio.sleep(2.2)
        with pytest.raises(SessionNotFound):
            await short.get(d)
        assert await short.count() == 0
        await store.close()
        await short.close()

    asyncio.run(main())


def test_the_batcher_joins_what_arrives_together_and_isolates_a_failure():
    calls: list[list[int]] = []
    thread_names = set()

    def double(items):
        thread_names.add(threading.current_thread().name)
        calls.append(list(items))
        if any(i < 0 for i in items):
            raise ValueError("negative")
        return [2 * i for i in items]

    async def main():
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1, thread_name_prefix="model") as pool:
            batcher = MicroBatcher(double, max_batch=4, max_wait=0.05, executor=pool)
            batcher.start()
            results = await asyncio.gather(*(batcher.submit(i) for i in range(6)))
            assert results == [0, 2, 4, 6, 8, 10]
            assert [len(c) for c in calls] == [4, 2]  # 4 at most; the last 2 after waiting for more
            calls.clear()
            outcome = await asyncio.gather(batcher.submit(1), batcher.submit(-1), batcher.submit(3),
                                           return_exceptions=True)
            assert outcome[0] == 2 and outcome[2] == 6 and isinstance(outcome[1], ValueError)
            assert calls == [[1, -1, 3], [1], [-1], [3]]  # the batch failed: each ran alone
            await batcher.stop()
            alone = MicroBatcher(double, max_batch=1, executor=pool)
            alone.start()
            calls.clear()
            assert await asyncio.gather(*(alone.submit(i) for i in range(3))) == [0, 2, 4]
            assert calls == [[0], [1], [2]]
            await alone.stop()
        assert all(name.startswith("model") for name in thread_names)

    asyncio.run(main())


def test_the_batcher_waits_only_for_requests_on_their_way():
    calls: list[list[str]] = []
    on_the_way = {"n": 0}

    def run(items):
        calls.append(list(items))
        return items

    async def main():
        batcher = MicroBatcher(run, max_batch=8, max_wait=9, arriving=lambda: on_the_way["n"])
        batcher.start()
        # nothing else on its way: a lone request runs at once, not after max_wait (9 s)
        assert await asyncio.wait_for(batcher.submit("a"), 5) == "a"
        # one more on its way: the first waits for it, and both run together
        on_the_way["n"] = 1
        first = asyncio.create_task(batcher.submit("b"))
        await asyncio.sleep(0.05)
        assert not first.done()
        on_the_way["n"] = 0
        second = batcher.submit("c")
        assert await asyncio.wait_for(asyncio.gather(first, second), 30) == ["b", "c"]
        await batcher.stop()

    asyncio.run(main())
    assert calls == [["a"], ["b", "c"]]
