"""Access tokens: every way a forged, stale or misdirected JWT is refused with 401."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from production_deployment.auth.security import derive_key

ME = "/api/v1/users/me"


@pytest.fixture
def backend() -> str:
    """Token and request-size checks happen before the database: SQLite is enough."""
    return "sqlite"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def mint(app, user):
    """Build an access token for ``user``, valid unless a test changes something."""
    settings = app.state.settings
    key = derive_key(settings.secret_key.get_secret_value(), "jwt")
    access_payload = jwt.decode(user.tokens["access_token"], options={"verify_signature": False})

    def make(*, drop=(), key=key, algorithm="HS256", **claims):
        now = datetime.now(UTC)
        payload = {
            "sub": user.id,
            "sid": access_payload["sid"],
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience,
            "iat": now,
            "nbf": now,
            "exp": now + timedelta(minutes=5),
            **claims,
        }
        for name in drop:
            payload.pop(name)
        return jwt.encode(payload, key, algorithm=algorithm)

    return make


async def _status(anon, token: str) -> int:
    return (await anon.get(ME, headers={"Authorization": f"Bearer {token}"})).status_code


async def test_a_well_formed_token_is_accepted(anon, mint):
    assert await _status(anon, mint()) == 200


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "wrong-key",
        "missing-exp",
        "missing-iat",
        "missing-sub",
        "missing-iss",
        "missing-aud",
        "wrong-aud",
        "wrong-iss",
        "future-nbf",
        "unknown-user",
        "unknown-session",
        "hs512",
        "sub-not-a-uuid",
    ],
)
@pytest.mark.filterwarnings("ignore:The HMAC key is 32 bytes long")
async def test_invalid_tokens_are_401(anon, mint, expect_error, case):
    now = datetime.now(UTC)
    token = {
        "expired": lambda: mint(exp=now - timedelta(seconds=1), iat=now - timedelta(minutes=20)),
        "wrong-key": lambda: mint(key=b"k" * 32),
        "missing-exp": lambda: mint(drop=["exp"]),
        "missing-iat": lambda: mint(drop=["iat"]),
        "missing-sub": lambda: mint(drop=["sub"]),
        "missing-iss": lambda: mint(drop=["iss"]),
        "missing-aud": lambda: mint(drop=["aud"]),
        "wrong-aud": lambda: mint(aud="someone-else"),
        "wrong-iss": lambda: mint(iss="https://evil.example"),
        "future-nbf": lambda: mint(nbf=now + timedelta(minutes=5)),
        "unknown-user": lambda: mint(sub=str(uuid.uuid4())),
        "unknown-session": lambda: mint(sid=str(uuid.uuid4())),
        "hs512": lambda: mint(algorithm="HS512"),
        "sub-not-a-uuid": lambda: mint(sub="1 OR 1=1"),
    }[case]()
    response = await anon.get(ME, headers={"Authorization": f"Bearer {token}"})
    error = expect_error(response, 401, "NotAuthenticated")
    assert error["message"] == "Missing or invalid credentials"  # never says which check
    assert response.headers["www-authenticate"] == "Bearer"


async def test_alg_none_is_refused(anon, mint, expect_error):
    _, payload, _ = mint().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    response = await anon.get(ME, headers={"Authorization": f"Bearer {unsigned}"})
    expect_error(response, 401, "NotAuthenticated")


async def test_a_tampered_payload_is_refused(anon, mint, make_user, expect_error):
    other = await make_user()
    header, payload, signature = mint().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = other.id  # become someone else, keeping the signature
    forged = f"{header}.{_b64(claims)}.{signature}"
    response = await anon.get(ME, headers={"Authorization": f"Bearer {forged}"})
    expect_error(response, 401, "NotAuthenticated")


@pytest.mark.parametrize(
    "credential",
    [
        "' OR '1'='1",
        'x\' UNION SELECT password_hash FROM "user" --',
        "a.b.c",
        "Bearer",
        "rag_' OR 1=1 --",
        "\u00e9" * 10,
        "x" * 5000,
    ],
)
async def test_garbage_credentials_are_401(anon, user, expect_error, credential):
    raw = credential.encode("latin-1")
    response = await anon.get(ME, headers={"Authorization": b"Bearer " + raw})
    expect_error(response, 401, "NotAuthenticated")
    response = await anon.get(ME, headers={"X-API-Key": raw})
    expect_error(response, 401, "NotAuthenticated")


async def test_no_credential_or_another_scheme_is_401(anon, user, expect_error):
    expect_error(await anon.get(ME), 401, "NotAuthenticated")
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    expect_error(await anon.get(ME, headers=basic), 401, "NotAuthenticated")


async def test_two_credentials_at_once_are_refused(anon, user, make_api_key, expect_error):
    key = await make_api_key()
    headers = {**user.headers, "X-API-Key": key["key"]}
    expect_error(await anon.get(ME, headers=headers), 401, "NotAuthenticated")
