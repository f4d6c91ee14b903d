"""Where a server keeps its streaming sessions: in the process, or in Redis.

A session is a blob (:mod:`rnnkit.serve.records`) under a random id. Both stores bound memory
the same way: at most ``max_sessions`` at once (creating one more is refused:
:class:`SessionsFull`, a 429), and a session not used for ``idle_seconds`` is gone (a 404 after).

- :class:`MemorySessions`: a dict in this process; lost when the server stops.
- :class:`RedisSessions` (``--sessions redis://host:port/db``): a key per session with the idle
  time as its expiry, and a sorted set of ids by expiry time for the count. The sessions
  outlive the server (and Redis itself, where Redis persists its data), and any replica that
  reaches the same Redis can continue any session: replicas behind a load balancer need no
  sticky routing. Two replicas stepping the same session at the same moment are not ordered
  with each other (one process orders its own requests); route a session's steps one at a time.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


class SessionNotFound(KeyError):
    """No session of that id: never made, deleted, or expired."""


class SessionsFull(RuntimeError):
    """The store holds ``max_sessions`` sessions already."""


class StoreUnavailable(RuntimeError):
    """The session store cannot be reached (Redis down)."""


def _check_limits(max_sessions: int, idle_seconds: float) -> None:
    if isinstance(max_sessions, bool) or not isinstance(max_sessions, int) or max_sessions < 1:
        raise ValueError(f"max_sessions: expected an int >= 1, got {max_sessions!r}")
    if not idle_seconds > 0:  # NaN fails too
        raise ValueError(f"idle_seconds: expected a positive number of seconds, got {idle_seconds!r}")


class MemorySessions:
    """Sessions in this process (see the module docstring). ``clock``: for tests."""

    kind = "memory"

    def __init__(self, max_sessions: int = 1000, idle_seconds: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        _check_limits(max_sessions, idle_seconds)
        self.max_sessions, self.idle_seconds, self.clock = max_sessions, idle_seconds, clock
        self._items: OrderedDict[str, tuple[bytes, float]] = OrderedDict()  # least recently used first

    def _expire(self) -> None:
        limit = self.clock() - self.idle_seconds
        while self._items and next(iter(self._items.values()))[1] <= limit:
            self._items.popitem(last=False)

    async def create(self, blob: bytes) -> str:
        self._expire()
        if len(self._items) >= self.max_sessions:
            raise SessionsFull(f"{self.max_sessions} sessions are open (the server's --max-sessions); close one "
                               f"(DELETE /sessions/ID) or wait for idle ones to expire ({self.idle_seconds:g} s)")
        sid = secrets.token_hex(16)
        self._items[sid] = (blob, self.clock())
        return sid

    async def get(self, sid: str) -> bytes:
        self._expire()
        if sid not in self._items:
            raise SessionNotFound(sid)
        blob, _ = self._items.pop(sid)
        self._items[sid] = (blob, self.clock())
        return blob

    async def put(self, sid: str, blob: bytes) -> None:
        self._expire()
        if sid not in self._items:
            raise SessionNotFound(sid)
        del self._items[sid]
        self._items[sid] = (blob, self.clock())

    async def delete(self, sid: str) -> None:
        if self._items.pop(sid, None) is None:
            raise SessionNotFound(sid)

    async def count(self) -> int:
        self._expire()
        return len(self._items)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._items.clear()


class RedisSessions:
    """Sessions in Redis (see the module docstring). ``prefix`` names the model, so that servers of
    different runs can share one Redis."""

    kind = "redis"

    def __init__(self, url: str, prefix: str, max_sessions: int = 1000, idle_seconds: float = 600.0) -> None:
        from rnnkit.extras import require

        require("redis", "sessions kept in Redis")
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        _check_limits(max_sessions, idle_seconds)
        self.max_sessions, self.idle_seconds, self.url = max_sessions, idle_seconds, url
        self._errors = (RedisConnectionError, RedisTimeoutError, OSError)
        # a command on a connection that a restarted Redis dropped reconnects and runs again
        self._redis = aioredis.from_url(url, retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
                                        retry_on_error=[RedisConnectionError, RedisTimeoutError],
                                        socket_connect_timeout=2.0, socket_timeout=5.0)
        self._index = f"{prefix}:index"
        self._prefix = f"{prefix}:session:"

    def _ttl(self) -> int:
        return max(1, round(self.idle_seconds))

    async def _run(self, work: Callable[[Any], Any]) -> Any:
        try:
            return await work(self._redis)
        except self._errors as error:
            raise StoreUnavailable(f"the session store at {self.url} is unreachable ({error})") from None

    async def _live_count(self, r: Any) -> int:
        async with r.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(self._index, "-inf", time.time())
            pipe.zcard(self._index)
            return int((await pipe.execute())[1])

    async def create(self, blob: bytes) -> str:
        async def work(r: Any) -> str:
            if await self._live_count(r) >= self.max_sessions:
                raise SessionsFull(f"{self.max_sessions} sessions are open (the server's --max-sessions); close one "
                                   f"(DELETE /sessions/ID) or wait for idle ones to expire ({self.idle_seconds:g} s)")
            sid = secrets.token_hex(16)
            async with r.pipeline(transaction=True) as pipe:
                pipe.set(self._prefix + sid, blob, ex=self._ttl())
                pipe.zadd(self._index, {sid: time.time() + self.idle_seconds})
                await pipe.execute()
            return sid

        return await self._run(work)

    async def get(self, sid: str) -> bytes:
        async def work(r: Any) -> bytes:
            blob = await r.getex(self._prefix + sid, ex=self._ttl())
            if blob is None:
                await r.zrem(self._index, sid)
                raise SessionNotFound(sid)
            await r.zadd(self._index, {sid: time.time() + self.idle_seconds})
            return bytes(blob)

        return await self._run(work)

    async def put(self, sid: str, blob: bytes) -> None:
        async def work(r: Any) -> None:
            if not await r.set(self._prefix + sid, blob, ex=self._ttl(), xx=True):  # xx: only if it is still there
                raise SessionNotFound(sid)
            await r.zadd(self._index, {sid: time.time() + self.idle_seconds})

        await self._run(work)

    async def delete(self, sid: str) -> None:
        async def work(r: Any) -> None:
            async with r.pipeline(transaction=True) as pipe:
                pipe.delete(self._prefix + sid)
                pipe.zrem(self._index, sid)
                deleted, _ = await pipe.execute()
            if not deleted:
                raise SessionNotFound(sid)

        await self._run(work)

    async def count(self) -> int:
        return await self._run(self._live_count)

    async def ping(self) -> None:
        await self._run(lambda r: r.ping())

    async def close(self) -> None:
        await self._redis.aclose()


def open_sessions(where: str, prefix: str, max_sessions: int = 1000, idle_seconds: float = 600.0
                  ) -> MemorySessions | RedisSessions:
    """``"memory"`` or a ``redis://`` (``rediss://``, ``unix://``) URL -> the store."""
    if where == "memory":
        return MemorySessions(max_sessions, idle_seconds)
    if where.startswith(("redis://", "rediss://", "unix://")):
        return RedisSessions(where, prefix, max_sessions, idle_seconds)
    raise ValueError(f"--sessions {where!r}: expected 'memory' or a Redis URL (redis://host:port/db)")
