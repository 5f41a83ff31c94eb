"""``Idempotency-Key``: a retried request returns the first one's result instead of
running again (no second message, no second provider call, no second ledger row).

Keys are scoped per user and stored with a hash of the request (route and body), the
result once there is one, and an expiry. The first request claims the key with an
INSERT (unique per user and key), so of two concurrent requests only one runs; the
other gets 409 until the first has finished.

The result is stored in the same transaction that settles the call into the usage
ledger (see ``genai_shared.usage.service.Meter``), so no retry can see a finished call
without its result. Streamed calls keep their result too, once the stream has ended with
``done``: a retry gets the same events again, the text in one piece. Only successful
results are kept: when the first request fails, or its client leaves mid-stream, the key
is released, and a retry runs for real.

Each project has its own ``IdempotencyKey`` model (its own metadata), so the queries live
on ``IdempotencyKeys``, made once per project with that model; the project's
``idempotency.service`` module exposes its methods under the usual names.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import anyio
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.db.base import utcnow
from genai_shared.db.session import Database
from genai_shared.idempotency.exceptions import (
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    IdempotentRequestInProgress,
)
from genai_shared.idempotency.models import IdempotencyKeyColumns

HEADER = "Idempotency-Key"
REPLAYED = {"Idempotent-Replayed": "true"}  # marks a response sent again to a retry
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def request_hash(route: str, body: Any) -> str:
    canonical = json.dumps({"route": route, "body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@dataclass(frozen=True)
class StoredResponse:
    """A response kept for a key: what a retry with the same key gets."""

    status_code: int
    body: Any


@dataclass(frozen=True)
class Claim:
    """This request holds the key: it runs, and keeps its response (or forgets the key)."""

    row_id: uuid.UUID


@dataclass
class Guard:
    """What ``guard`` found: the first request's response to send again (``stored``), or
    the claim this request runs under (``claim``; None without a key)."""

    stored: StoredResponse | None = None
    claim: Claim | None = None


class GuardFunction(Protocol):
    """The signature of ``IdempotencyKeys.guard``."""

    def __call__(
        self,
        *,
        db: Database,
        user_id: uuid.UUID,
        key: str | None,
        route: str,
        body: Any,
        ttl_seconds: int,
    ) -> AbstractAsyncContextManager[Guard]: ...


class IdempotencyKeys:
    """The keys stored in one project's ``IdempotencyKey`` table."""

    def __init__(self, model: type[IdempotencyKeyColumns]) -> None:
        self.model = model
        # The same class, to build rows: the mixin declares no keyword constructor.
        self._new_row: Any = model
        self.guard: GuardFunction = self._make_guard()

    async def begin(
        self, *, db: Database, user_id: uuid.UUID, key: str, fingerprint: str, ttl_seconds: int
    ) -> Claim | StoredResponse:
        """Claim ``key`` for this request, or return the stored response of the first one."""
        if not _VALID_KEY.match(key):
            raise IdempotencyKeyInvalid(details=[{"loc": ["header", HEADER]}])
        model = self.model
        now = utcnow()
        try:
            async with db.transaction() as session:
                row = await session.scalar(
                    select(model).where(model.user_id == user_id, model.key == key)
                )
                if row is not None and _as_utc(row.expires_at) <= now:
                    await session.delete(row)
                    await session.flush()
                    row = None
                if row is not None:
                    if row.request_hash != fingerprint:
                        raise IdempotencyKeyReused(details=[{"loc": ["header", HEADER]}])
                    if row.response_status is None:
                        raise IdempotentRequestInProgress
                    return StoredResponse(status_code=row.response_status, body=row.response_body)
                row = self._new_row(
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

    async def keep_response(
        self, *, session: AsyncSession, claim: Claim, response: StoredResponse
    ) -> None:
        """Store the response that retries with this key will get, in the caller's
        transaction."""
        row = await session.get_one(self.model, claim.row_id)
        row.response_status = response.status_code
        row.response_body = response.body

    async def forget(self, *, session: AsyncSession, claim: Claim) -> None:
        """Forget the key (the request failed), so that a retry runs again."""
        await session.execute(delete(self.model).where(self.model.id == claim.row_id))

    async def forget_abandoned(self, *, session: AsyncSession, older_than: datetime) -> int:
        """Forget claims made before ``older_than`` that never finished (their process died
        mid-call), so that a retry runs instead of getting 409 until the key expires."""
        model = self.model
        result = await session.execute(
            delete(model).where(model.response_status.is_(None), model.created_at < older_than)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def purge_expired(self, *, session: AsyncSession) -> int:
        """Delete the keys past their expiry (a retry that late runs again anyway)."""
        result = await session.execute(delete(self.model).where(self.model.expires_at <= utcnow()))
        return int(result.rowcount)  # type: ignore[attr-defined]

    def _make_guard(self) -> GuardFunction:
        # A plain function closing over this store, not a method: the gateway's hot path
        # calls it on every request (mostly without a key), and a bound method would cost
        # an extra argument tuple per call on the way through ``asynccontextmanager``.
        begin, forget = self.begin, self.forget

        @asynccontextmanager
        async def guard(
            *,
            db: Database,
            user_id: uuid.UUID,
            key: str | None,
            route: str,
            body: Any,
            ttl_seconds: int,
        ) -> AsyncIterator[Guard]:
            """Run the block at most once per ``key``: the chat API and the gateway use it.

            Without a key the block just runs. With one, either the first request's stored
            response is found (``guard.stored``: send it again, run nothing), or this
            request claims the key (``guard.claim``), and the call it runs keeps its
            response when it is settled (``usage.service.Meter``). If the block fails
            before that, the claim is forgotten here, so that a retry runs for real.
            """
            found = Guard()
            if key is not None:
                outcome = await begin(
                    db=db,
                    user_id=user_id,
                    key=key,
                    fingerprint=request_hash(route, body),
                    ttl_seconds=ttl_seconds,
                )
                if isinstance(outcome, StoredResponse):
                    found.stored = outcome
                else:
                    found.claim = outcome
            try:
                yield found
            except BaseException:
                if found.claim is not None:  # a settled call has already kept or forgotten it
                    with anyio.CancelScope(shield=True):
                        async with db.transaction() as session:
                            await forget(session=session, claim=found.claim)
                raise

        return guard
