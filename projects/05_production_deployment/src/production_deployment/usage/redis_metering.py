"""Metering on Redis: the rate limit, the budget and the ledger off PostgreSQL's hot path.

Project 03's metering is correct but slow on the request path: the API-key lookup, the
budget reservation and the settlement are each a PostgreSQL transaction (about 7 ms and
127 calls/s per worker). With ``METERING_BACKEND=redis`` the same guarantees cost one
Redis round trip before the call and one after it:

- **admit** (one Lua script): the caller's sliding-window rate limit and the budget
  reservation, atomically. Budgets are never overspent, whatever the number of workers:
  Redis runs one script at a time, so "spent + reserved + this call's worst case <= budget"
  is checked and the reservation written as one step.
- **settle** (one Lua script): the reservation becomes the real spend, and the call's
  ledger rows are appended to a Redis stream in the same step.
- **LedgerWriter** (a task in every worker): reads the stream through a consumer group in
  batches, inserts the rows into PostgreSQL (``ON CONFLICT (id) DO NOTHING``: a batch
  written twice writes each row once), and only then acknowledges them. A worker killed
  before acknowledging leaves its batch pending; another worker claims it
  (``XAUTOCLAIM``) after ``LEDGER_CLAIM_IDLE_SECONDS``.

Durability: an acknowledged call's rows are in Redis before the response is sent. They
survive a worker's death (above). They survive a Redis restart when Redis persists every
write: run it with ``appendonly yes`` and ``appendfsync always`` (the production compose
file does); with ``everysec``, a Redis crash may lose the last second of calls.

Spend counters are rebuilt from PostgreSQL: when a user's counter for the month is
missing (a fresh Redis, a restored one), admit says so, the app sums the user's ledger
rows for the month and sets the counter (only if still missing), and admits again.
Abandoned reservations (a worker died mid-call) expire inside the admit script itself:
each carries a deadline, and any later admit of that user releases the expired ones.

One Redis (not a cluster): the scripts touch one user's keys and the shared stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import Table, func, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from genai_shared.db.base import utcnow
from genai_shared.db.session import Database
from genai_shared.ratelimit.limiter import NOW_MS_LUA, SLIDING_WINDOW_FUNCTION_LUA, Decision
from genai_shared.redis_multiplex import MultiplexedRedis
from genai_shared.usage.service import period_of
from production_deployment.core.metrics import Metrics
from production_deployment.core.money import from_micro
from production_deployment.ratelimit.exceptions import RateLimitExceeded
from production_deployment.usage.exceptions import BudgetExceeded, MeteringUnavailable
from production_deployment.usage.models import UsageRecord

logger = logging.getLogger(__name__)

# KEYS: 1 the caller's rate-limit window (sorted set), 2 the user's spend this month
# (hash: spent, reserved), 3 the user's open reservations (sorted set "id:amount" by
# deadline). ARGV: 1 window ms (0: no rate limit), 2 limit, 3 a unique member, 4 amount,
# 5 budget, 6 reservation id, 7 reservation lifetime ms.
# Returns {status, remaining, reset ms, spent, reserved, released}: status 1 admitted,
# 0 rate limited, -1 over budget, -2 the spend counter is missing (rebuild, then retry).
ADMIT_LUA = (
    NOW_MS_LUA
    + SLIDING_WINDOW_FUNCTION_LUA  # the shared limiter's window (genai_shared.ratelimit)
    + """
if redis.call('EXISTS', KEYS[2]) == 0 then
  return {-2, 0, 0, 0, 0, 0}
end
local released = 0
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for _, member in ipairs(expired) do
  local amount = tonumber(string.match(member, ':(%d+)$'))
  redis.call('HINCRBY', KEYS[2], 'reserved', 0 - amount)
  released = released + 1
end
if released > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
end
local remaining, reset = -1, 0
if tonumber(ARGV[1]) > 0 then
  local allowed
  allowed, remaining, reset = sliding_window(
    KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], now)
  if allowed == 0 then
    return {0, 0, reset, 0, 0, released}
  end
end
local spent = tonumber(redis.call('HGET', KEYS[2], 'spent') or '0')
local reserved = tonumber(redis.call('HGET', KEYS[2], 'reserved') or '0')
local amount = tonumber(ARGV[4])
if spent + reserved + amount > tonumber(ARGV[5]) then
  return {-1, remaining, reset, spent, reserved, released}
end
redis.call('HINCRBY', KEYS[2], 'reserved', amount)
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[7]), ARGV[6] .. ':' .. ARGV[4])
return {1, remaining, reset, spent, reserved + amount, released}
"""
)

# (Negative amounts are written `0 - x`: Lua's `-x` of a zero is "-0", which Redis's
# HINCRBY refuses as "not an integer".)
# KEYS: 1 spend hash, 2 open reservations, 3 the ledger stream.
# ARGV: 1 the reservation's member ("id:amount"), 2 its amount, 3 the real cost, 4 the
# ledger entry (JSON). Returns 1 if the reservation was still held, 0 if it had expired.
SETTLE_LUA = """
local held = redis.call('ZREM', KEYS[2], ARGV[1])
if held == 1 then
  redis.call('HINCRBY', KEYS[1], 'reserved', 0 - tonumber(ARGV[2]))
end
redis.call('HINCRBY', KEYS[1], 'spent', tonumber(ARGV[3]))
redis.call('XADD', KEYS[3], '*', 'rows', ARGV[4])
return held
"""

# What an unreachable or stuck Redis raises (a script error is a bug: it stays a 500).
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)

SPEND_TTL_SECONDS = 40 * 24 * 3600  # a month's counter outlives its month, then goes


@dataclass(frozen=True)
class RateRule:
    key: str
    limit: int
    window_seconds: int


@dataclass(frozen=True)
class Admitted:
    reservation_id: uuid.UUID
    user_id: uuid.UUID
    period: str
    amount_micro_usd: int
    decision: Decision | None

    @property
    def member(self) -> str:
        return f"{self.reservation_id}:{self.amount_micro_usd}"

    @property
    def id(self) -> uuid.UUID:  # the shape of usage.service.Reservation
        return self.reservation_id


class RedisMetering:
    def __init__(
        self,
        client: Redis,
        *,
        db: Database,
        metrics: Metrics,
        namespace: str,
        reservation_seconds: int,
        multiplexed: MultiplexedRedis | None = None,
    ) -> None:
        self.client = client
        self.db = db
        self.metrics = metrics
        self.namespace = namespace
        self.stream = f"{namespace}ledger"
        self.reservation_ms = reservation_seconds * 1000
        # The two scripts of every call go over one shared connection when given (a
        # fraction of the CPU of redis-py's pooled round trips; benchmarks/hot_path.py).
        self.multiplexed = multiplexed
        scripts = multiplexed or client
        self._admit = scripts.register_script(ADMIT_LUA)
        self._settle = scripts.register_script(SETTLE_LUA)

    async def aclose(self) -> None:
        """Close the multiplexed connection (the redis-py client is its owner's)."""
        if self.multiplexed is not None:
            await self.multiplexed.aclose()

    def _spend_key(self, user_id: uuid.UUID, period: str) -> str:
        return f"{self.namespace}spend:{user_id}:{period}"

    def _held_key(self, user_id: uuid.UUID, period: str) -> str:
        return f"{self.namespace}held:{user_id}:{period}"

    async def admit(
        self,
        *,
        user_id: uuid.UUID,
        amount_micro_usd: int,
        budget_micro_usd: int,
        rate: RateRule | None = None,
    ) -> Admitted:
        """Count the call against the rate limit and reserve its worst case, or raise
        ``RateLimitExceeded`` / ``BudgetExceeded``. One round trip (two after a rebuild)."""
        period = period_of(utcnow())
        reservation_id = uuid.uuid4()
        keys = [
            f"{self.namespace}ratelimit:{rate.key}" if rate else f"{self.namespace}unused",
            self._spend_key(user_id, period),
            self._held_key(user_id, period),
        ]
        args: list[str | int] = [
            rate.window_seconds * 1000 if rate else 0,
            rate.limit if rate else 0,
            reservation_id.hex,  # the rate-limit window's member: unique per call
            amount_micro_usd,
            budget_micro_usd,
            str(reservation_id),
            self.reservation_ms,
        ]
        try:
            status, remaining, reset_ms, spent, reserved, released = await self._admit(
                keys=keys, args=args
            )
            if status == -2:
                await self.rebuild(user_id, period)
                status, remaining, reset_ms, spent, reserved, released = await self._admit(
                    keys=keys, args=args
                )
        except UNREACHABLE as error:  # fail closed: no call goes out unmetered
            raise MeteringUnavailable(headers={"Retry-After": "1"}) from error
        if released:
            self.metrics.reservations_released.inc(int(released))
        decision = None
        if rate is not None:
            decision = Decision(
                allowed=status != 0,
                limit=rate.limit,
                remaining=max(0, int(remaining)),
                reset_seconds=max(1, -(-int(reset_ms) // 1000)),
            )
        if status == 0:
            self.metrics.rate_limited.labels(route_class="chat").inc()
            assert decision is not None
            raise RateLimitExceeded(headers=decision.headers())
        if status == -1:  # counted in budget_refusals_total by the caller, as without Redis
            raise BudgetExceeded(
                details=[
                    {
                        "budget_usd": str(from_micro(budget_micro_usd)),
                        "spent_usd": str(from_micro(int(spent))),
                        "reserved_usd": str(from_micro(int(reserved))),
                        "needed_usd": str(from_micro(amount_micro_usd)),
                    }
                ]
            )
        return Admitted(reservation_id, user_id, period, amount_micro_usd, decision)

    async def rebuild(self, user_id: uuid.UUID, period: str) -> int:
        """Set the user's spend counter for ``period`` from the ledger in PostgreSQL, unless
        another worker did it first. Rows still in the stream are not in PostgreSQL yet,
        but a missing counter means Redis lost its data, and the stream with it."""
        first = date.fromisoformat(f"{period}-01")
        async with self.db.transaction() as session:
            spent = await session.scalar(
                select(func.coalesce(func.sum(UsageRecord.cost_micro_usd), 0)).where(
                    UsageRecord.user_id == user_id, UsageRecord.day >= first
                )
            )
        key = self._spend_key(user_id, period)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, "spent", int(spent or 0))
            pipe.hsetnx(key, "reserved", 0)
            pipe.expire(key, SPEND_TTL_SECONDS)
            await pipe.execute()
        return int(spent or 0)

    async def settle(self, admitted: Admitted, rows: Sequence[Mapping[str, Any]]) -> bool:
        """Spend the call's real cost and append its ledger rows (values by ``UsageRecord``
        column, each with its ``id``), in one step."""
        entry = json.dumps(rows, separators=(",", ":"), default=str)
        spent = sum(row["cost_micro_usd"] for row in rows)
        held = await self._settle(
            keys=[
                self._spend_key(admitted.user_id, admitted.period),
                self._held_key(admitted.user_id, admitted.period),
                self.stream,
            ],
            args=[admitted.member, admitted.amount_micro_usd, spent, entry],
        )
        return bool(held)

    async def spend(self, user_id: uuid.UUID) -> tuple[int, int]:
        """(spent, reserved) this month, from Redis (rebuilt first if missing)."""
        period = period_of(utcnow())
        values = await self.client.hmget(self._spend_key(user_id, period), "spent", "reserved")
        if values[0] is None:
            await self.rebuild(user_id, period)
            values = await self.client.hmget(self._spend_key(user_id, period), "spent", "reserved")
        return int(values[0] or 0), int(values[1] or 0)


UUID_COLUMNS = frozenset({"id", "user_id", "api_key_id", "conversation_id", "message_id"})


def row_from_json(data: dict[str, Any]) -> dict[str, Any]:
    values = dict(data)
    for name in UUID_COLUMNS:
        if values.get(name) is not None:
            values[name] = uuid.UUID(values[name])
    created = datetime.fromisoformat(values["created_at"])
    values["created_at"] = created if created.tzinfo else created.replace(tzinfo=UTC)
    values["day"] = date.fromisoformat(values["day"])
    return values


# The ledger rows of a batch, inserted from their JSON (keys are the column names), each
# once by id; gives back how many rows the JSON held.
INSERT_JSON_ROWS = text(
    """
    WITH batch AS (
        SELECT * FROM json_populate_recordset(NULL::usage_record, CAST(:rows AS json))
    ), inserted AS (
        INSERT INTO usage_record SELECT * FROM batch ON CONFLICT (id) DO NOTHING
    )
    SELECT count(*) FROM batch
    """
)


class LedgerWriter:
    """Moves ledger rows from the Redis stream into PostgreSQL, in batches, at least once
    (and, by row id, exactly once in the table)."""

    GROUP = "ledger-writers"

    def __init__(
        self,
        client: Redis,
        *,
        db: Database,
        stream: str,
        batch: int = 500,
        block_ms: int = 1000,
        claim_idle_ms: int = 30_000,
        consumer: str | None = None,
        interval_seconds: float = 0.0,
    ) -> None:
        self.client = client
        self.db = db
        self.stream = stream
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.interval_seconds = interval_seconds
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    async def ensure_group(self) -> None:
        try:
            await self.client.xgroup_create(self.stream, self.GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def read(self) -> list[tuple[str, str]]:
        """This consumer's next batch: entries abandoned by dead consumers first, then new.
        Each is its stream id and its rows, as the JSON array ``settle`` wrote."""
        answer: Any = await self.client.xautoclaim(
            self.stream, self.GROUP, self.consumer, self.claim_idle_ms, "0-0", count=self.batch
        )
        entries = list(answer[1])
        if not entries:
            response: Any = await self.client.xreadgroup(
                self.GROUP,
                self.consumer,
                {self.stream: ">"},
                count=self.batch,
                block=self.block_ms,
            )
            for _, stream_entries in response or []:
                entries.extend(stream_entries)
        batch = []
        for entry_id, fields in entries:
            if not fields:  # deleted under us
                continue
            raw = fields.get(b"rows") or fields.get("rows")
            batch.append((_text(entry_id), _text(raw)))
        return batch

    async def write(self, batch: Sequence[tuple[str, str]]) -> int:
        """Insert the batch's rows (each once, by id), then acknowledge its entries.
        Gives back how many rows the batch held (a retry writes none of them again)."""
        written = 0
        if batch:
            async with self.db.transaction() as session:
                if session.get_bind().dialect.name == "postgresql":
                    # PostgreSQL reads the rows from the JSON itself: one statement and one
                    # parameter per batch, nothing parsed or converted in this process.
                    rows = "[" + ",".join(raw[1:-1] for _, raw in batch if raw != "[]") + "]"
                    written = int(await session.scalar(INSERT_JSON_ROWS, {"rows": rows}) or 0)
                else:
                    values = [row_from_json(row) for _, raw in batch for row in json.loads(raw)]
                    # On the table, not the class: plain rows need no ORM bulk layer.
                    table = cast(Table, UsageRecord.__table__)
                    if values:
                        await session.execute(
                            sqlite_insert(table).on_conflict_do_nothing(index_elements=["id"]),
                            values,
                        )
                    written = len(values)
            await self.client.xack(self.stream, self.GROUP, *[entry_id for entry_id, _ in batch])
        return written

    async def run_once(self) -> int:
        return await self.write(await self.read())

    async def run_forever(self) -> None:
        while True:
            try:
                await self.ensure_group()
                written = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # PostgreSQL or Redis down: the rows wait in Redis
                logger.warning("ledger writer: %s (%s); retrying", type(error).__name__, error)
                await asyncio.sleep(1.0)
                continue
            if written < self.batch:  # caught up: let the next batch fill for a moment
                await asyncio.sleep(self.interval_seconds)


class LedgerTask:
    """A worker's ledger writer, running until the app stops; on the way out it writes
    what it has already read, so a graceful stop leaves nothing pending."""

    def __init__(self, writer: LedgerWriter, client: Redis) -> None:
        self.writer = writer
        self.client = client
        self.task = asyncio.create_task(writer.run_forever(), name="ledger-writer")

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # stopping anyway
            await self.task
        try:
            async with asyncio.timeout(5):
                self.writer.block_ms = 1
                while await self.writer.run_once():
                    pass
        except Exception as error:  # the rows stay in Redis for the next writer
            logger.warning("ledger writer: final flush failed (%s)", type(error).__name__)
        await self.client.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
