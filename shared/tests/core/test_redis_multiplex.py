"""The multiplexed Redis connection, against the real Redis (and a server that never
answers, for the timeouts)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from genai_shared.redis_multiplex import MultiplexedRedis, pack

pytestmark = pytest.mark.integration


@pytest.fixture
async def mux(redis_client: Any, redis_url: str) -> AsyncIterator[MultiplexedRedis]:
    client = MultiplexedRedis(redis_url, timeout=5)
    yield client
    await client.aclose()


def test_commands_are_packed_as_resp_arrays():
    assert pack(["SET", "k", b"v\r\n", 42]) == (
        b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n$2\r\n42\r\n"
    )
    assert pack(["GET", "clé"]) == b"*2\r\n$3\r\nGET\r\n$4\r\ncl\xc3\xa9\r\n"


async def test_every_caller_gets_its_own_reply(mux, redis_client):
    await asyncio.gather(*(mux.execute("SET", f"k{i}", i) for i in range(300)))
    values = await asyncio.gather(*(mux.execute("GET", f"k{i}") for i in range(300)))
    assert values == [str(i).encode() for i in range(300)]
    # The URL's database was selected: redis-py on the same URL sees the keys.
    assert await redis_client.get("k299") == b"299"


async def test_the_commands_of_one_loop_turn_go_out_in_one_write(mux):
    await mux.execute("PING")  # connected
    protocol = mux._protocol
    assert protocol is not None
    assert protocol.transport is not None
    writes: list[bytes] = []
    write = protocol.transport.write

    def counting(data: Any) -> None:
        writes.append(bytes(data))
        write(data)

    protocol.transport.write = counting  # type: ignore[method-assign]
    replies = await asyncio.gather(*(mux.execute("INCR", "n") for _ in range(50)))
    assert sorted(replies) == list(range(1, 51))
    assert len(writes) == 1
    assert writes[0].count(b"INCR") == 50


async def test_an_error_reply_raises_and_the_next_reply_is_still_the_right_one(mux):
    await mux.execute("SET", "text", "abc")
    results = await asyncio.gather(
        mux.execute("INCR", "text"), mux.execute("GET", "text"), return_exceptions=True
    )
    assert isinstance(results[0], ResponseError)
    assert "not an integer" in str(results[0])
    assert results[1] == b"abc"


async def test_a_caller_that_gives_up_does_not_shift_the_replies(mux):
    await mux.execute("SET", "a", "1")
    await mux.execute("SET", "b", "2")
    abandoned = asyncio.ensure_future(mux.execute("GET", "a"))
    await asyncio.sleep(0)  # sent...
    abandoned.cancel()  # ...then abandoned before its reply
    assert await mux.execute("GET", "b") == b"2"
    with pytest.raises(asyncio.CancelledError):
        await abandoned


async def test_a_script_runs_by_sha_and_is_loaded_again_after_a_flush(mux, redis_client):
    script = mux.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert await script(keys=["s"], args=[5]) == 5
    await redis_client.script_flush()
    assert await script(keys=["s"], args=[2]) == 7
    assert await redis_client.script_exists(script.sha) == [True]


async def test_a_lost_connection_fails_its_callers_and_the_next_command_reconnects(
    mux, redis_client
):
    client_id = await mux.execute("CLIENT", "ID")
    # A command still waiting when the connection goes (a blocking one, to be sure of it).
    waiting = asyncio.ensure_future(mux.execute("BLPOP", "never", 5))
    await asyncio.sleep(0.05)
    await redis_client.client_kill_filter(_id=client_id)  # this connection only
    with pytest.raises(RedisConnectionError):
        await asyncio.wait_for(waiting, 2)
    assert await mux.execute("PING") == b"PONG"  # a new connection


async def test_a_server_that_never_answers_times_out_and_the_connection_is_dropped():
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        await reader.read(1 << 16)  # reads the command, never answers

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    mux = MultiplexedRedis(f"redis://127.0.0.1:{port}/0", timeout=0.2)
    try:
        with pytest.raises(RedisTimeoutError):
            await mux.execute("PING")
        # Nothing came back for a whole timeout: the connection is closed, not reused.
        assert mux._protocol is not None
        assert mux._protocol.lost is not None
        with pytest.raises(RedisTimeoutError):
            await mux.execute("PING")
        assert len(accepted) == 2
    finally:
        await mux.aclose()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_late_reply_on_a_live_connection_fails_only_its_own_command():
    """Replies keep flowing (the one before came well inside the timeout): the late
    command times out, the connection stays, and its reply, when it comes, is dropped
    without shifting the next caller's."""
    delays = iter([0.0, 0.6, 1.5, 0.0])  # per command, from its arrival
    accepted = 0

    async def scripted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        answered_at = 0.0
        loop = asyncio.get_running_loop()
        count = 0
        while data := await reader.read(1 << 16):
            for _ in range(data.count(b"*2\r\n")):  # ECHO <n>: two-element arrays
                count += 1
                due = max(loop.time() + next(delays), answered_at)
                answered_at = due
                reply = b"$1\r\n%d\r\n" % count
                loop.call_at(due, writer.write, reply)

    server = await asyncio.start_server(scripted, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    mux = MultiplexedRedis(f"redis://127.0.0.1:{port}/0", timeout=1.0)
    try:
        assert await mux.execute("ECHO", 1) == b"1"
        second = asyncio.ensure_future(mux.execute("ECHO", 2))  # answered after 0.6 s
        await asyncio.sleep(0.3)
        third = asyncio.ensure_future(mux.execute("ECHO", 3))  # answered after 1.5 s: late
        assert await second == b"2"
        with pytest.raises(RedisTimeoutError):
            await third  # at 1 s: a reply came 0.7 s ago, so the connection is kept
        assert await mux.execute("ECHO", 4) == b"4"  # not the late "3"
        assert accepted == 1
    finally:
        await mux.aclose()
        server.close()
        await server.wait_closed()


async def test_an_unreachable_server_is_a_connection_error():
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    mux = MultiplexedRedis(f"redis://127.0.0.1:{port}/0", timeout=0.5)
    with pytest.raises(RedisConnectionError):
        await mux.execute("PING")
