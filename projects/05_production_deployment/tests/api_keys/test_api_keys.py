"""API keys: shown once, stored as prefix + HMAC, scoped, expiring, revocable at once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from production_deployment.api_keys.models import ApiKey

KEYS = "/api/v1/api-keys"
ME = "/api/v1/users/me"


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class TestCreate:
    async def test_the_key_is_shown_once(self, client, make_api_key):
        created = await make_api_key(scopes=["read"])
        assert created["key"].startswith(f"rag_{created['prefix']}_")
        assert created["scopes"] == ["read"]
        assert created["revoked_at"] is None
        listed = (await client.get(KEYS)).json()
        assert [k["id"] for k in listed] == [created["id"]]
        assert "key" not in listed[0]
        assert created["key"] not in (await client.get(KEYS)).text

    @pytest.mark.parametrize(
        "body",
        [
            {"name": ""},
            {"name": "k", "scopes": []},
            {"name": "k", "scopes": ["admin"]},
            {"name": "k", "expires_at": "2000-01-01T00:00:00Z"},
            {"name": "k", "user_id": "00000000-0000-0000-0000-000000000000"},
            {"name": "k", "key_hash": "0" * 64},
        ],
        ids=["empty-name", "no-scopes", "unknown-scope", "expired", "user-id", "key-hash"],
    )
    @pytest.mark.sqlite_only
    async def test_invalid_body_is_422(self, client, expect_error, body):
        expect_error(await client.post(KEYS, json=body), 422, "ValidationError")

    async def test_an_api_key_cannot_manage_keys(self, anon, make_api_key, expect_error):
        key = (await make_api_key())["key"]
        for call in (
            anon.post(KEYS, json={"name": "more"}, headers=_bearer(key)),
            anon.get(KEYS, headers=_bearer(key)),
        ):
            expect_error(await call, 403, "LoginRequired")


class TestUse:
    async def test_as_bearer_and_as_x_api_key(self, anon, user, make_api_key):
        key = (await make_api_key())["key"]
        for headers in (_bearer(key), {"X-API-Key": key}):
            response = await anon.get(ME, headers=headers)
            assert response.status_code == 200
            assert response.json()["id"] == user.id

    async def test_scopes_are_enforced(self, anon, make_api_key, expect_error):
        read_only = (await make_api_key(scopes=["read"]))["key"]
        chat_only = (await make_api_key(scopes=["chat"]))["key"]
        assert (await anon.get("/api/v1/conversations", headers=_bearer(read_only))).is_success
        response = await anon.post(
            "/api/v1/conversations", json={"title": "x"}, headers=_bearer(read_only)
        )
        expect_error(response, 403, "InsufficientScope")
        created = await anon.post(
            "/api/v1/conversations", json={"title": "x"}, headers=_bearer(chat_only)
        )
        assert created.status_code == 201
        response = await anon.get("/api/v1/conversations", headers=_bearer(chat_only))
        expect_error(response, 403, "InsufficientScope")

    async def test_an_expired_key_is_401(self, app, anon, make_api_key, expect_error):
        created = await make_api_key(
            expires_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat()
        )
        assert (await anon.get(ME, headers=_bearer(created["key"]))).status_code == 200
        async with app.state.db.sessionmaker() as session:
            row = await session.get(ApiKey, uuid.UUID(created["id"]))
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
            await session.commit()
        expect_error(await anon.get(ME, headers=_bearer(created["key"])), 401, "NotAuthenticated")

    async def test_a_deactivated_users_keys_stop_working(
        self, app, anon, user, make_api_key, expect_error
    ):
        key = (await make_api_key())["key"]
        async with app.state.db.sessionmaker() as session:
            await session.execute(text('UPDATE "user" SET is_active = false'))
            await session.commit()
        expect_error(await anon.get(ME, headers=_bearer(key)), 401, "NotAuthenticated")


class TestRevoke:
    async def test_revocation_takes_effect_at_once(self, client, anon, make_api_key, expect_error):
        created = await make_api_key()
        headers = _bearer(created["key"])
        assert (await anon.get(ME, headers=headers)).status_code == 200
        assert (await client.delete(f"{KEYS}/{created['id']}")).status_code == 204
        expect_error(await anon.get(ME, headers=headers), 401, "NotAuthenticated")
        listed = (await client.get(KEYS)).json()
        assert listed[0]["revoked_at"] is not None
        # Revoking twice is harmless.
        assert (await client.delete(f"{KEYS}/{created['id']}")).status_code == 204

    async def test_unknown_key_is_404(self, client, expect_error):
        response = await client.delete(f"{KEYS}/00000000-0000-0000-0000-000000000000")
        expect_error(response, 404, "ApiKeyNotFound")


class TestAtRest:
    async def test_only_the_prefix_and_an_hmac_are_stored(self, app, make_api_key):
        created = await make_api_key()
        secret_part = created["key"].rsplit("_", 1)[1]
        async with app.state.db.engine.connect() as conn:
            rows = [tuple(r) for r in await conn.execute(text("SELECT * FROM api_key"))]
        dump = repr(rows)
        assert created["key"] not in dump
        assert secret_part not in dump
        async with app.state.db.sessionmaker() as session:
            row = await session.scalar(select(ApiKey))
        assert row.prefix == created["prefix"]
        assert len(row.key_hash) == 64
        assert int(row.key_hash, 16) >= 0  # hex

    async def test_the_stored_hash_is_not_a_credential(self, app, anon, make_api_key, expect_error):
        created = await make_api_key()
        async with app.state.db.sessionmaker() as session:
            row = await session.scalar(select(ApiKey))
        forged = f"rag_{row.prefix}_{row.key_hash}"
        for candidate in (row.key_hash, forged, forged[:47] + "A" * 43):
            expect_error(await anon.get(ME, headers=_bearer(candidate)), 401, "NotAuthenticated")
            response = await anon.get(ME, headers={"X-API-Key": candidate})
            expect_error(response, 401, "NotAuthenticated")
        assert (await anon.get(ME, headers=_bearer(created["key"]))).status_code == 200

    async def test_a_near_miss_key_is_401(self, anon, make_api_key, expect_error):
        key = (await make_api_key())["key"]
        flipped = key[:-1] + ("A" if key[-1] != "A" else "B")
        expect_error(await anon.get(ME, headers=_bearer(flipped)), 401, "NotAuthenticated")
