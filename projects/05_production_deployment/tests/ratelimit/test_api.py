"""Rate limits through the API: per user and route, the headers, and Redis going away."""

from __future__ import annotations

import asyncio
import logging

import pytest


@pytest.fixture
def settings_overrides():
    return {"rate_limit_chat": 3, "rate_limit_default": 5}


async def test_chat_is_limited_per_user_with_headers(
    client, anon, chat_path, make_user, expect_error
):
    for remaining in (2, 1, 0):
        response = await client.post(chat_path, json={"content": "hi"})
        assert response.status_code == 201
        assert response.headers["ratelimit-limit"] == "3"
        assert response.headers["ratelimit-remaining"] == str(remaining)
        assert 1 <= int(response.headers["ratelimit-reset"]) <= 60
    refused = await client.post(chat_path, json={"content": "hi"})
    expect_error(refused, 429, "RateLimitExceeded")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-remaining"] == "0"
    # Nothing was stored for the refused call: 3 turns, 6 messages.
    messages = (await client.get(chat_path.removesuffix("/chat") + "/messages")).json()
    assert len(messages["items"]) == 6

    other = await make_user()
    theirs = await anon.post("/api/v1/conversations", json={"title": "t"}, headers=other.headers)
    path = f"/api/v1/conversations/{theirs.json()['id']}/chat"
    assert (await anon.post(path, json={"content": "hi"}, headers=other.headers)).is_success


async def test_routes_have_their_own_windows(client, chat_path, make_conversation):
    for _ in range(3):
        await client.post(chat_path, json={"content": "hi"})
    assert (await client.post(chat_path, json={"content": "hi"})).status_code == 429
    listed = await client.get("/api/v1/conversations")
    assert listed.status_code == 200
    assert listed.headers["ratelimit-limit"] == "5"


async def test_streams_carry_the_headers_too(client, chat_path):
    response = await client.post(chat_path, json={"content": "hi", "stream": True})
    assert response.status_code == 200
    assert response.headers["ratelimit-remaining"] == "2"


async def test_unauthenticated_calls_are_401_before_any_limit(anon, expect_error):
    for _ in range(7):
        expect_error(await anon.get("/api/v1/conversations"), 401, "NotAuthenticated")


async def test_login_is_limited_per_client(settings_factory, sqlite_url, asgi_client, expect_error):
    from production_deployment.core.database import Base
    from production_deployment.main import create_app

    app = create_app(settings_factory(database_url=sqlite_url, rate_limit_auth=2))
    async with asgi_client(app) as anon:
        async with app.state.db.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        form = {"username": "x@example.com", "password": "wrong password"}
        for _ in range(2):
            expect_error(await anon.post("/api/v1/auth/login", data=form), 401, "InvalidLogin")
        expect_error(await anon.post("/api/v1/auth/login", data=form), 429, "RateLimitExceeded")


class TestRedisDown:
    """Chat fails closed (503), the rest fails open; both are counted and logged, never hang."""

    @pytest.fixture
    def settings(self, sqlite_url, settings_factory):
        return settings_factory(
            database_url=sqlite_url,
            redis_url="redis://127.0.0.1:1/0",
            redis_timeout_seconds=0.2,
        )

    async def test_chat_is_503_and_the_rest_still_works(
        self, client, chat_path, expect_error, caplog
    ):
        caplog.set_level(logging.WARNING, logger="production_deployment")
        # A hang guard, not a speed target: every Redis call has a timeout, so the request
        # must come back; how fast is for `make bench`, not for a unit test.
        async with asyncio.timeout(30):
            response = await client.post(chat_path, json={"content": "hi"})
        expect_error(response, 503, "RateLimiterUnavailable")
        assert response.headers["retry-after"] == "5"
        assert (await client.get("/api/v1/conversations")).status_code == 200
        assert any("rate limiter unreachable" in r.getMessage() for r in caplog.records)
        metrics = (await client.get("/metrics")).text
        assert 'rate_limiter_errors_total{outcome="refused",route_class="chat"} 1.0' in metrics
        assert 'rate_limiter_errors_total{outcome="allowed",route_class="default"}' in metrics
