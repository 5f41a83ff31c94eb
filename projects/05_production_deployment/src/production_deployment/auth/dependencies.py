"""Who is calling: the principal behind an access token or an API key.

Both are accepted as ``Authorization: Bearer <credential>``; an API key may also come as
``X-API-Key``. Access tokens are checked against the database on each request (a short
transaction of its own, never held through a provider call), so a logout takes effect on
the very next request. An API key's row is trusted from process memory for at most
``API_KEY_CACHE_SECONDS`` (``auth/key_cache.py``): a revoked key stops at once in the
worker that revoked it, and within that second everywhere else. Failures are all the
same 401: the caller is never told whether the token expired, the key was revoked or the
user is unknown.
"""

from __future__ import annotations

import uuid
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy import select

from genai_shared.db.base import utcnow
from genai_shared.db.session import Database
from production_deployment.api_keys.models import ApiKey
from production_deployment.auth import service
from production_deployment.auth.exceptions import (
    AdminRequired,
    InsufficientScope,
    LoginRequired,
    NotAuthenticated,
)
from production_deployment.auth.key_cache import ApiKeyCache, CachedKey
from production_deployment.auth.security import InvalidAccessToken, Security
from production_deployment.users import service as users_service
from production_deployment.users.models import User

ALL_SCOPES = frozenset({"chat", "read"})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_CREDENTIAL_CHARS = 4096

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/api/v1/auth/login",
    auto_error=False,
    description="An access token from /api/v1/auth/login, or an API key",
)
api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key from /api/v1/api-keys"
)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. ``user`` is detached: reload it to change it."""

    user: User
    via: Literal["access_token", "api_key"]
    scopes: frozenset[str]
    api_key_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None

    @property
    def user_id(self) -> uuid.UUID:
        return self.user.id


async def get_security(request: Request) -> Security:
    security: Security = request.app.state.security
    return security


SecurityDep = Annotated[Security, Depends(get_security)]


async def _from_access_token(db: Database, security: Security, token: str) -> Principal:
    try:
        claims = security.decode_access_token(token)
    except InvalidAccessToken:
        raise NotAuthenticated from None
    async with db.transaction() as session:
        user = await users_service.get(session=session, user_id=claims.user_id)
        live = await service.session_is_live(session=session, family_id=claims.session_id)
    if user is None or not user.is_active or not live:
        raise NotAuthenticated
    return Principal(user=user, via="access_token", scopes=ALL_SCOPES, session_id=claims.session_id)


async def _lookup_key(db: Database, prefix: str) -> CachedKey | None:
    async with db.transaction() as session:
        row = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        user = await users_service.get(session=session, user_id=row.user_id) if row else None
    if row is None or user is None or not user.is_active:
        return None
    return CachedKey(
        key_hash=row.key_hash,
        api_key_id=row.id,
        scopes=frozenset(row.scopes) & ALL_SCOPES,
        revoked=row.revoked_at is not None,
        expires_at=row.expires_at,
        user=user,
    )


async def from_api_key(
    db: Database, security: Security, key: str, cache: ApiKeyCache | None = None
) -> Principal:
    prefix = security.api_key_prefix(key)
    if prefix is None:
        raise NotAuthenticated
    if cache is None:
        entry = await _lookup_key(db, prefix)
    else:
        entry = await cache.lookup(prefix, lambda: _lookup_key(db, prefix))
    if entry is None:
        raise NotAuthenticated
    if not security.api_key_matches(key, entry.key_hash) or entry.revoked:
        raise NotAuthenticated
    if entry.expires_at is not None and service.as_utc(entry.expires_at) <= utcnow():
        raise NotAuthenticated
    return Principal(
        user=entry.user, via="api_key", scopes=entry.scopes, api_key_id=entry.api_key_id
    )


async def get_principal(
    request: Request,
    security: SecurityDep,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    x_api_key: Annotated[str | None, Depends(api_key_header)],
) -> Principal:
    """The caller, from ``Authorization: Bearer`` or ``X-API-Key`` (not both), else 401."""
    if bearer and x_api_key:
        raise NotAuthenticated("Send one credential, not two")
    credential = bearer or x_api_key
    if not credential or len(credential) > MAX_CREDENTIAL_CHARS:
        raise NotAuthenticated
    db: Database = request.app.state.db
    if x_api_key or security.api_key_prefix(credential) is not None:
        cache: ApiKeyCache | None = getattr(request.app.state, "api_key_cache", None)
        return await from_api_key(db, security, credential, cache)
    return await _from_access_token(db, security, credential)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def check_scope(scope: MutableMapping[str, Any], principal: Principal) -> Principal:
    """The guard itself, on the request's ASGI scope (the gateway's fast lane calls it
    too): the user id goes to the access log, and the method's scope must be granted.

    Reads (GET) need ``read``; everything else (chat, and writing conversations) ``chat``.
    Access tokens carry every scope.
    """
    scope.setdefault("state", {})["user_id"] = str(principal.user_id)
    needed = "read" if scope["method"] in READ_METHODS else "chat"
    if needed not in principal.scopes:
        raise InsufficientScope(details=[{"needed": needed}])
    return principal


async def authorized(request: Request, principal: PrincipalDep) -> Principal:
    """Router-level guard: a caller, whose key (if any) has the scope the method needs."""
    return check_scope(request.scope, principal)


async def signed_in(principal: PrincipalDep) -> Principal:
    """Router-level guard for account management: an access token, not an API key."""
    if principal.via != "access_token":
        raise LoginRequired
    return principal


async def admin(principal: PrincipalDep) -> Principal:
    """Router-level guard for /admin: a signed-in administrator."""
    if principal.via != "access_token":
        raise LoginRequired
    if not principal.user.is_admin:
        raise AdminRequired
    return principal
