"""``Idempotency-Key``: a retried request returns the first one's result instead of
running again (no second message, no second provider call, no second ledger row).

Keys are scoped per user and stored with a hash of the request (route and body), the
result once there is one, and an expiry. The first request claims the key with an
INSERT (unique per user and key), so of two concurrent requests only one runs; the
other gets 409 until the first has finished.

The result is stored in the same transaction that settles the call into the usage
ledger (see ``usage.metering.Meter``), so no retry can see a finished call without its
result. Streamed calls keep their result too, once the stream has ended with ``done``:
a retry gets the same events again, the text in one piece. Only successful results are
kept: when the first request fails, or its client leaves mid-stream, the key is
released, and a retry runs for real.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.db.base import utcnow
from genai_shared.db.session import Database
from secure_chat_api.auth.service import as_utc
from secure_chat_api.idempotency.exceptions import (
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    IdempotentRequestInProgress,
)
from secure_chat_api.idempotency.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED = {"Idempotent-Replayed": "true"}  # marks a response sent again to a retry
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def request_hash(route: str, body: Any) -> str:
    canonical = json.dumps({"route": route, "body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Result:
    """A stored response: what a retry with the same key gets."""

    status_code: int
    body: Any


@dataclass(frozen=True)
class Replay(Result):
    pass


@dataclass(frozen=True)
class Claim:
    row_id: uuid.UUID


async def begin(
    *, db: Database, user_id: uuid.UUID, key: str, fingerprint: str, ttl_seconds: int
) -> Claim | Replay:
    """Claim ``key`` for this request, or return the stored result of the first one."""
    if not _VALID_KEY.match(key):
        raise IdempotencyKeyInvalid(details=[{"loc": ["header", HEADER]}])
    now = utcnow()
    try:
        async with db.transaction() as session:
            row = await session.scalar(
                select(IdempotencyKey).where(
                    IdempotencyKey.user_id == user_id, IdempotencyKey.key == key
                )
            )
            if row is not None and as_utc(row.expires_at) <= now:
                await session.delete(row)
                await session.flush()
                row = None
            if row is not None:
                if row.request_hash != fingerprint:
                    raise IdempotencyKeyReused(details=[{"loc": ["header", HEADER]}])
                if row.response_status is None:
                    raise IdempotentRequestInProgress
                return Replay(status_code=row.response_status, body=row.response_body)
            row = IdempotencyKey(
                user_id=user_id,
                key=key,
                request_hash=fingerprint,
                created_at=now,
                expires_at=now + timedelta(seconds=ttl_seconds),
            )
            session.add(row)
            await session.flush()
            claim = Claim(row_id=row.id)
    except IntegrityError:
        raise IdempotentRequestInProgress from None  # a concurrent request claimed it first
    return claim


async def finish_in(session: AsyncSession, claim: Claim, result: Result) -> None:
    """Store the result that retries with this key will get, in the caller's transaction."""
    row = await session.get_one(IdempotencyKey, claim.row_id)
    row.response_status = result.status_code
    row.response_body = result.body


async def release_in(session: AsyncSession, claim: Claim) -> None:
    """Forget the key (the request failed), so that a retry runs again."""
    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == claim.row_id))


async def release_abandoned(*, session: AsyncSession, older_than: datetime) -> int:
    """Forget claims made before ``older_than`` that never finished (their process died
    mid-call), so that a retry runs instead of getting 409 until the key expires."""
    result = await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.response_status.is_(None), IdempotencyKey.created_at < older_than
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def purge_expired(*, session: AsyncSession) -> int:
    """Delete the keys past their expiry (a retry that late runs again anyway)."""
    result = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.expires_at <= utcnow())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def release(*, db: Database, claim: Claim) -> None:
    """``release_in`` in a transaction of its own (for failures before the call starts)."""
    async with db.transaction() as session:
        await release_in(session, claim)
