"""Sessions: issuing, rotating and revoking tokens. Functions never commit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.db.base import utcnow
from production_deployment.auth.exceptions import InvalidLogin, InvalidRefreshToken
from production_deployment.auth.models import RefreshToken
from production_deployment.auth.schemas import TokenPair
from production_deployment.auth.security import Security
from production_deployment.users import service as users_service
from production_deployment.users.models import User


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def authenticate(
    *, session: AsyncSession, security: Security, email: str, password: str
) -> User:
    """The active user with this email and password, else InvalidLogin (same for both)."""
    user = await users_service.get_by_email(session=session, email=email)
    ok = await security.verify_password(password, user.password_hash if user else None)
    if user is None or not ok or not user.is_active:
        raise InvalidLogin
    return user


async def issue_tokens(
    *,
    session: AsyncSession,
    security: Security,
    user: User,
    refresh_ttl: timedelta,
    family_id: uuid.UUID | None = None,
    parent_id: uuid.UUID | None = None,
) -> TokenPair:
    """A new access token and refresh token (a new family unless one is given)."""
    now = utcnow()
    family_id = family_id or uuid.uuid4()
    refresh_token, token_hash = security.new_refresh_token()
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            parent_id=parent_id,
            token_hash=token_hash,
            created_at=now,
            expires_at=now + refresh_ttl,
        )
    )
    await session.flush()
    access_token, expires_at = security.create_access_token(
        user_id=user.id, session_id=family_id, now=now
    )
    return TokenPair(
        access_token=access_token,
        expires_in=int((expires_at - now).total_seconds()),
        refresh_token=refresh_token,
        refresh_expires_in=int(refresh_ttl.total_seconds()),
    )


async def revoke_family(*, session: AsyncSession, family_id: uuid.UUID) -> None:
    """Revoke every live token of a login session."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def rotate(
    *, session: AsyncSession, security: Security, refresh_token: str, refresh_ttl: timedelta
) -> TokenPair | None:
    """Swap a live refresh token for a new pair.

    Returns None when the token was already used or revoked: the caller must then
    commit the family's revocation (done here) and answer 401. The UPDATE ... WHERE
    revoked_at IS NULL makes two concurrent uses of one token race for a single winner.
    """
    token_hash = security.hash_refresh_token(refresh_token)
    row = await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_hash))
    if row is None or as_utc(row.expires_at) <= utcnow():
        raise InvalidRefreshToken
    claimed = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        await revoke_family(session=session, family_id=row.family_id)
        return None
    user = await users_service.get(session=session, user_id=row.user_id)
    if user is None or not user.is_active:
        raise InvalidRefreshToken
    return await issue_tokens(
        session=session,
        security=security,
        user=user,
        refresh_ttl=refresh_ttl,
        family_id=row.family_id,
        parent_id=row.id,
    )


async def session_is_live(*, session: AsyncSession, family_id: uuid.UUID) -> bool:
    """True while the login session has a refresh token that is neither revoked nor expired."""
    query = select(
        exists().where(
            RefreshToken.family_id == family_id,
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > utcnow(),
        )
    )
    return bool(await session.scalar(query))
