"""One Redis connection for every concurrent caller: commands go out together, replies
come back in order.

redis-py's asyncio client lends each command a connection from its pool: a command is
a pool checkout, a write system call, a read and a check-in, with a retry wrapper around
them. That is the right default. On a request path that runs two small scripts per call
at high concurrency, it costs more than the scripts do. Redis answers the commands of
one connection in the order it received them, so a connection can be *multiplexed*, as
the Redis clients of Java (Lettuce), .NET (StackExchange.Redis) and Node do it: every
caller appends its command to one write buffer, the buffer is flushed once per turn of
the event loop (one system call for all the commands of that turn), and each reply
resolves the oldest waiting caller.

Only for commands that answer at once (scripts, GET/SET, INCR ...): a blocking command
(``BLPOP``, ``XREAD BLOCK``), ``SUBSCRIBE`` or ``MULTI`` would hold or change the shared
connection for everyone; keep those on a redis-py client. Errors are redis-py's
(``ResponseError``, ``ConnectionError``, ``TimeoutError``), so callers handle one family.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import hiredis
from redis.asyncio.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Arg = str | bytes | int | float


def pack(args: Sequence[Arg]) -> bytes:
    """A command in RESP, the Redis protocol: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int):
            data = b"%d" % arg
        else:
            data = repr(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class _Protocol(asyncio.Protocol):
    """One connection: a write buffer flushed once per loop turn, the callers waiting for
    replies (oldest first), and one timer for their deadlines (not one per command)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader()
        self.waiting: deque[asyncio.Future[Any]] = deque()  # popped as replies arrive
        self.deadlines: deque[tuple[float, asyncio.Future[Any]]] = deque()  # as they pass
        self.timer: asyncio.TimerHandle | None = None
        self.buffer: list[bytes] = []
        self.lost: BaseException | None = None
        self.last_data = loop.time()  # when Redis last sent anything

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, command: bytes) -> asyncio.Future[Any]:
        if self.lost is not None or self.transport is None:
            raise RedisConnectionError("the Redis connection is closed")
        future = self.loop.create_future()
        self.waiting.append(future)
        deadline = self.loop.time() + self.timeout
        self.deadlines.append((deadline, future))
        if self.timer is None:
            self.timer = self.loop.call_at(deadline, self.expire)
        if not self.buffer:
            self.loop.call_soon(self.flush)
        self.buffer.append(command)
        return future

    def flush(self) -> None:
        if self.buffer and self.transport is not None and self.lost is None:
            data = b"".join(self.buffer)
            self.buffer.clear()
            self.transport.write(data)

    def expire(self) -> None:
        """Fail the commands whose deadline has passed. Their replies, if they still come,
        find their place (replies are matched in order) and are dropped. A connection that
        has sent nothing for a whole timeout while commands waited is dead or stuck: it is
        closed, failing every command on it, and the next one opens a new connection."""
        self.timer = None
        now = self.loop.time()
        expired = False
        while self.deadlines and self.deadlines[0][0] <= now:
            _, future = self.deadlines.popleft()
            if not future.done():
                future.set_exception(RedisTimeoutError("Timeout reading from Redis"))
                expired = True
        if expired and now - self.last_data >= self.timeout:
            self.close()
            return
        while self.deadlines and self.deadlines[0][1].done():  # answered already
            self.deadlines.popleft()
        if self.deadlines:
            self.timer = self.loop.call_at(self.deadlines[0][0], self.expire)

    def data_received(self, data: bytes) -> None:
        self.last_data = self.loop.time()
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            future = self.waiting.popleft()
            if future.done():  # its caller gave up (cancelled or timed out)
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(ResponseError(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost is None:
            self.lost = exc or RedisConnectionError("the Redis connection was closed")
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.deadlines.clear()
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(RedisConnectionError(f"Redis connection lost: {self.lost}"))

    def close(self) -> None:
        """Close now: the commands still waiting fail at once, new ones use a new connection."""
        if self.lost is None:
            self.connection_lost(RedisConnectionError("closed by this client"))
        if self.transport is not None:
            self.transport.close()


class MultiplexedRedis:
    """Commands from every task of one event loop, on one connection (opened on first use,
    opened again after it is lost). Every command waits at most ``timeout`` seconds."""

    def __init__(self, url: str, *, timeout: float = 5.0, connect_timeout: float = 2.0) -> None:
        self.options = parse_url(url)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None

    async def _connected(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and protocol.lost is None:
            return protocol
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._protocol is not None and self._protocol.lost is None:
                return self._protocol
            self._protocol = await self._connect()
            return self._protocol

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        options = self.options
        try:
            async with asyncio.timeout(self.connect_timeout):
                if "path" in options:
                    _, protocol = await loop.create_unix_connection(
                        lambda: _Protocol(loop, self.timeout), options["path"]
                    )
                else:
                    _, protocol = await loop.create_connection(
                        lambda: _Protocol(loop, self.timeout),
                        options.get("host", "localhost"),
                        options.get("port", 6379),
                        ssl=self._ssl_context(),
                    )
                hello: list[asyncio.Future[Any]] = []
                if options.get("password"):
                    credentials = [options["password"]]
                    if options.get("username"):
                        credentials.insert(0, options["username"])
                    hello.append(protocol.send(pack(["AUTH", *credentials])))
                if options.get("db"):
                    hello.append(protocol.send(pack(["SELECT", int(options["db"])])))
                for answer in hello:
                    await answer
        except TimeoutError as error:
            raise RedisTimeoutError("Timeout connecting to Redis") from error
        except OSError as error:
            raise RedisConnectionError(f"Error connecting to Redis: {error}") from error
        return protocol

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.options.get("connection_class") is not SSLConnection:
            return None
        context = ssl.create_default_context()
        if str(self.options.get("ssl_cert_reqs", "required")).lower() in {"none", "cert_none"}:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def execute(self, *args: Arg) -> Any:
        """Send one command and wait for its reply (``TimeoutError`` after ``timeout``)."""
        protocol = await self._connected()
        return await protocol.send(pack(args))

    def register_script(self, source: str) -> Script:
        """A Lua script, sent by its SHA1 (loaded again by Redis when it lost it), as
        redis-py's ``register_script``."""
        sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
        return Script(self, sha, source)

    async def aclose(self) -> None:
        if self._protocol is not None:
            self._protocol.close()
            self._protocol = None
            await asyncio.sleep(0)  # let the transport close

    async def __aenter__(self) -> MultiplexedRedis:
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self.aclose()


class Script:
    """``await script(keys=[...], args=[...])``, as redis-py's ``register_script`` gives."""

    def __init__(self, redis: MultiplexedRedis, sha: str, source: str) -> None:
        self.redis = redis
        self.sha = sha
        self.source = source

    async def __call__(self, *, keys: Sequence[Arg] = (), args: Sequence[Arg] = ()) -> Any:
        try:
            return await self.redis.execute("EVALSHA", self.sha, len(keys), *keys, *args)
        except ResponseError as error:
            if not str(error).startswith("NOSCRIPT"):
                raise
            # A restarted or flushed Redis: EVAL runs the script and caches it again.
            return await self.redis.execute("EVAL", self.source, len(keys), *keys, *args)
