"""The cryptography of accounts: password hashes, access tokens, refresh tokens, API keys.

One ``SECRET_KEY`` is the root; each use gets its own key derived from it with HMAC, so a
key for one purpose (signing JWTs) can never be replayed as another (hashing API keys).

- Passwords: Argon2id (``pwdlib``), verified off the event loop.
- Access tokens: JWT, HS256 only (the algorithm is pinned on decode, so ``alg: none`` or a
  switched algorithm is refused), with ``exp``, ``iat``, ``sub``, ``iss`` and ``aud``
  required and checked, ``nbf`` honoured when present.
- Refresh tokens and API keys: random strings from ``secrets``; only an HMAC-SHA256 of
  them is stored, so a database dump holds nothing a caller could present.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from starlette.concurrency import run_in_threadpool

JWT_ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud"]
API_KEY_PREFIX = "rag"
# rag_<12 hex: lookup prefix>_<43 url-safe chars: the secret>
_API_KEY_SHAPE = re.compile(r"^rag_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


def derive_key(secret: str, purpose: str) -> bytes:
    """A 32-byte key for one purpose, derived from the root secret."""
    return hmac.new(
        secret.encode(), f"production-deployment/{purpose}".encode(), hashlib.sha256
    ).digest()


class InvalidAccessToken(Exception):
    """The token is not a valid access token for this service (the reason is not shown)."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: datetime


@dataclass(frozen=True)
class GeneratedApiKey:
    key: str  # shown to the caller once, never stored
    prefix: str
    key_hash: str


class Security:
    """Everything keyed by SECRET_KEY, built once per app."""

    def __init__(
        self,
        secret_key: str,
        *,
        issuer: str,
        audience: str,
        access_ttl: timedelta,
        password_hasher: PasswordHash | None = None,
    ) -> None:
        self._jwt_key = derive_key(secret_key, "jwt")
        self._api_key_key = derive_key(secret_key, "api-key")
        self._refresh_key = derive_key(secret_key, "refresh-token")
        self.issuer = issuer
        self.audience = audience
        self.access_ttl = access_ttl
        self.passwords = password_hasher or PasswordHash((Argon2Hasher(),))
        self._dummy_hash = self.passwords.hash(secrets.token_urlsafe(16))

    # --- passwords ----------------------------------------------------------------------

    async def hash_password(self, password: str) -> str:
        return await run_in_threadpool(self.passwords.hash, password)

    async def verify_password(self, password: str, password_hash: str | None) -> bool:
        """Check a password; with no hash (unknown user) still spend the same time."""
        if password_hash is None:
            await run_in_threadpool(self.passwords.verify, password, self._dummy_hash)
            return False
        return await run_in_threadpool(self.passwords.verify, password, password_hash)

    # --- access tokens --------------------------------------------------------------------

    def create_access_token(
        self, *, user_id: uuid.UUID, session_id: uuid.UUID, now: datetime | None = None
    ) -> tuple[str, datetime]:
        now = now or datetime.now(UTC)
        expires_at = now + self.access_ttl
        payload: dict[str, Any] = {
            "sub": str(user_id),
            "sid": str(session_id),
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": expires_at,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(payload, self._jwt_key, algorithm=JWT_ALGORITHM), expires_at

    def decode_access_token(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._jwt_key,
                algorithms=[JWT_ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS},
            )
            return AccessClaims(
                user_id=uuid.UUID(str(claims["sub"])),
                session_id=uuid.UUID(str(claims["sid"])),
                expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
            )
        except (jwt.PyJWTError, KeyError, ValueError, TypeError) as error:
            raise InvalidAccessToken(type(error).__name__) from None

    # --- refresh tokens -----------------------------------------------------------------

    def new_refresh_token(self) -> tuple[str, str]:
        """A new opaque refresh token and the hash to store."""
        token = secrets.token_urlsafe(32)
        return token, self.hash_refresh_token(token)

    def hash_refresh_token(self, token: str) -> str:
        return hmac.new(self._refresh_key, token.encode(), hashlib.sha256).hexdigest()

    # --- API keys -------------------------------------------------------------------------

    def new_api_key(self) -> GeneratedApiKey:
        prefix = secrets.token_hex(6)
        key = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        return GeneratedApiKey(key=key, prefix=prefix, key_hash=self.hash_api_key(key))

    def hash_api_key(self, key: str) -> str:
        return hmac.new(self._api_key_key, key.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def api_key_prefix(candidate: str) -> str | None:
        """The lookup prefix of something shaped like one of our keys, else None."""
        match = _API_KEY_SHAPE.match(candidate)
        return match.group(1) if match else None

    def api_key_matches(self, candidate: str, stored_hash: str) -> bool:
        return hmac.compare_digest(self.hash_api_key(candidate), stored_hash)
