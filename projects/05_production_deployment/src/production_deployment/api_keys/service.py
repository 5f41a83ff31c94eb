"""API keys: created, listed and revoked by their owner. Functions never commit."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.db.base import utcnow
from production_deployment.api_keys.models import ApiKey
from production_deployment.api_keys.schemas import ApiKeyCreate
from production_deployment.auth.security import GeneratedApiKey, Security


async def create(
    *, session: AsyncSession, security: Security, user_id: uuid.UUID, data: ApiKeyCreate
) -> tuple[ApiKey, GeneratedApiKey]:
    """A new key for the user; the plain key is returned here and nowhere else."""
    generated = security.new_api_key()
    row = ApiKey(
        user_id=user_id,
        name=data.name,
        prefix=generated.prefix,
        key_hash=generated.key_hash,
        scopes=list(data.scopes),
        expires_at=data.expires_at,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row, generated


async def list_for_user(*, session: AsyncSession, user_id: uuid.UUID) -> list[ApiKey]:
    """The user's keys, newest first, revoked ones included."""
    query = (
        select(ApiKey)
        .where(ApiKey.user_id == user_id)
        .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    )
    return list(await session.scalars(query))


async def get_owned(
    *, session: AsyncSession, user_id: uuid.UUID, key_id: uuid.UUID
) -> ApiKey | None:
    """The key if it exists and belongs to this user, else None (never another's)."""
    return await session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id)
    )


async def revoke(*, session: AsyncSession, key: ApiKey) -> None:
    """Revoke now; the next request made with the key is refused."""
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
