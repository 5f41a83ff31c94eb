"""The shared ``Idempotency-Key`` store (``genai_shared.idempotency.service``), on SQLite,
over a table of this module's own made from the column mixin, as a project makes it.

The projects' route tests prove the behaviour through their chat and gateway routes;
these prove the store itself: claims, stored responses, reuse, expiry and cleanup.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import BigInteger, UniqueConstraint, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from genai_shared.db.base import UUIDPrimaryKeyMixin, utcnow
from genai_shared.db.session import Database
from genai_shared.idempotency.exceptions import (
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    IdempotentRequestInProgress,
)
from genai_shared.idempotency.models import IdempotencyKeyColumns
from genai_shared.idempotency.service import (
    Claim,
    IdempotencyKeys,
    StoredResponse,
    request_hash,
)


class Base(DeclarativeBase):
    pass


class User(UUIDPrimaryKeyMixin, Base):
    __tablename__ = "user"

    monthly_budget_micro_usd: Mapped[int] = mapped_column(BigInteger, default=0)


class IdempotencyKey(IdempotencyKeyColumns, Base):
    __tablename__ = "idempotency_key"


class OtherBase(DeclarativeBase):
    pass


class OtherKey(IdempotencyKeyColumns, OtherBase):
    """A second project's table from the same mixin."""

    __tablename__ = "idempotency_key"


keys = IdempotencyKeys(IdempotencyKey)
TTL = 3600


@pytest.fixture
async def db(sqlite_url: str) -> AsyncIterator[Database]:
    db = Database(sqlite_url)
    async with db.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def user_id(db: Database) -> uuid.UUID:
    async with db.transaction() as session:
        user = User()
        session.add(user)
        await session.flush()
        return user.id


async def _begin(db: Database, user_id: uuid.UUID, key: str, body: str = "a") -> object:
    return await keys.begin(
        db=db, user_id=user_id, key=key, fingerprint=request_hash("r", body), ttl_seconds=TTL
    )


async def _stored_keys(db: Database) -> set[str]:
    async with db.sessionmaker() as session:
        return set(await session.scalars(select(IdempotencyKey.key)))


def test_each_project_table_gets_its_own_unique_constraint() -> None:
    """A constraint object belongs to one table: the mixin makes one per model."""

    def unique(model: type[IdempotencyKeyColumns]) -> UniqueConstraint:
        (found,) = [c for c in model.__table__.constraints if isinstance(c, UniqueConstraint)]  # type: ignore[attr-defined]
        return found

    assert unique(IdempotencyKey) is not unique(OtherKey)
    assert list(unique(IdempotencyKey).columns.keys()) == ["user_id", "key"]


def test_the_request_hash_ignores_key_order_but_not_values() -> None:
    assert request_hash("r", {"a": 1, "b": 2}) == request_hash("r", {"b": 2, "a": 1})
    assert request_hash("r", {"a": 1}) != request_hash("r", {"a": 2})
    assert request_hash("r", {"a": 1}) != request_hash("s", {"a": 1})


async def test_the_first_request_claims_and_a_second_waits(
    db: Database, user_id: uuid.UUID
) -> None:
    assert isinstance(await _begin(db, user_id, "k"), Claim)
    with pytest.raises(IdempotentRequestInProgress):
        await _begin(db, user_id, "k")


async def test_a_kept_response_is_returned_to_a_retry(db: Database, user_id: uuid.UUID) -> None:
    claim = await _begin(db, user_id, "k")
    assert isinstance(claim, Claim)
    async with db.transaction() as session:
        await keys.keep_response(
            session=session, claim=claim, response=StoredResponse(201, {"id": 1})
        )
    assert await _begin(db, user_id, "k") == StoredResponse(201, {"id": 1})


async def test_a_key_reused_for_another_request_is_refused(
    db: Database, user_id: uuid.UUID
) -> None:
    await _begin(db, user_id, "k", body="a")
    with pytest.raises(IdempotencyKeyReused):
        await _begin(db, user_id, "k", body="b")


@pytest.mark.parametrize("key", ["", "with space", "é", "x" * 256])
async def test_invalid_keys_are_refused(db: Database, user_id: uuid.UUID, key: str) -> None:
    with pytest.raises(IdempotencyKeyInvalid):
        await _begin(db, user_id, key)
    assert await _stored_keys(db) == set()


async def test_a_forgotten_claim_runs_again(db: Database, user_id: uuid.UUID) -> None:
    claim = await _begin(db, user_id, "k")
    assert isinstance(claim, Claim)
    async with db.transaction() as session:
        await keys.forget(session=session, claim=claim)
    assert isinstance(await _begin(db, user_id, "k"), Claim)


async def test_an_expired_key_is_claimed_afresh(db: Database, user_id: uuid.UUID) -> None:
    claim = await _begin(db, user_id, "k", body="a")
    assert isinstance(claim, Claim)
    async with db.transaction() as session:
        await session.execute(
            update(IdempotencyKey).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert isinstance(await _begin(db, user_id, "k", body="b"), Claim)  # no longer "reused"


async def test_abandoned_claims_and_expired_keys_are_cleared(
    db: Database, user_id: uuid.UUID
) -> None:
    for name in ("dead", "answered", "expired"):
        await _begin(db, user_id, name)
    async with db.transaction() as session:
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key.in_(["answered", "expired"]))
            .values(response_status=200)
        )
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == "expired")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    cutoff = utcnow()
    await _begin(db, user_id, "running")  # claimed after the cutoff: still in flight
    async with db.transaction() as session:
        assert await keys.forget_abandoned(session=session, older_than=cutoff) == 1
        assert await keys.purge_expired(session=session) == 1
    assert await _stored_keys(db) == {"answered", "running"}


async def test_guard_without_a_key_just_runs(db: Database, user_id: uuid.UUID) -> None:
    async with keys.guard(
        db=db, user_id=user_id, key=None, route="r", body={}, ttl_seconds=TTL
    ) as found:
        assert (found.stored, found.claim) == (None, None)
    assert await _stored_keys(db) == set()


async def test_guard_forgets_the_claim_when_the_block_fails(
    db: Database, user_id: uuid.UUID
) -> None:
    async def fail() -> None:
        async with keys.guard(
            db=db, user_id=user_id, key="k", route="r", body={}, ttl_seconds=TTL
        ) as found:
            assert found.claim is not None
            raise RuntimeError("the call failed")

    with pytest.raises(RuntimeError):
        await fail()
    assert await _stored_keys(db) == set()


async def test_guard_replays_a_kept_response(db: Database, user_id: uuid.UUID) -> None:
    async with keys.guard(
        db=db, user_id=user_id, key="k", route="r", body={}, ttl_seconds=TTL
    ) as first:
        assert first.claim is not None
        async with db.transaction() as session:
            await keys.keep_response(
                session=session, claim=first.claim, response=StoredResponse(200, "ok")
            )
    async with keys.guard(
        db=db, user_id=user_id, key="k", route="r", body={}, ttl_seconds=TTL
    ) as second:
        assert (second.stored, second.claim) == (StoredResponse(200, "ok"), None)
