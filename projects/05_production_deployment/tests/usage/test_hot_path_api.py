"""The gateway's hot path through the API (``METERING_BACKEND=redis``), on the real
PostgreSQL and Redis: one Redis round trip admits the call (rate limit and budget), the
ledger row reaches PostgreSQL behind the response, API keys come from a cache that a
revocation empties at once here and that is never trusted for more than a second.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import select, update

from production_deployment.api_keys.models import ApiKey
from production_deployment.usage.models import UsageRecord
from production_deployment.users.models import User

pytestmark = pytest.mark.integration

BODY = {"model": "mock/echo-1", "messages": [{"role": "user", "content": "hot path"}]}


@pytest.fixture
def backend() -> str:
    return "postgres"  # Redis comes with it


@pytest.fixture
def settings_overrides(hot_path_overrides) -> dict[str, Any]:
    return {**hot_path_overrides, "api_key_cache_seconds": 1.0, "rate_limit_chat": 5}


async def ledger_for(app, user_id: str, *, expect: int) -> list[UsageRecord]:
    """The user's ledger rows once ``expect`` of them are in PostgreSQL (written behind),
    or what is there after 10 s."""
    deadline = time.monotonic() + 10
    while True:
        async with app.state.db.transaction() as session:
            rows = list(
                await session.scalars(
                    select(UsageRecord).where(UsageRecord.user_id == uuid.UUID(user_id))
                )
            )
        if len(rows) >= expect or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.05)


async def test_a_call_is_admitted_in_redis_and_its_row_written_behind(
    app, anon, user, make_api_key
):
    key = (await make_api_key())["key"]
    response = await anon.post("/v1/chat/completions", json=BODY, headers={"X-API-Key": key})
    assert response.status_code == 200, response.text
    assert response.headers["RateLimit-Limit"] == "5"
    assert response.headers["RateLimit-Remaining"] == "4"
    rows = await ledger_for(app, user.id, expect=1)
    assert [(r.route, r.provider, r.status) for r in rows] == [("gateway", "mock", "complete")]
    assert rows[0].api_key_id is not None
    usage = await anon.get("/api/v1/usage", headers=user.headers)
    assert usage.json()["budget"]["reserved_usd"] == "0.000000"


async def test_the_sixth_call_in_the_window_is_refused_by_the_same_script(
    anon, make_api_key, expect_error
):
    headers = {"X-API-Key": (await make_api_key())["key"]}
    for _ in range(5):
        assert (await anon.post("/v1/chat/completions", json=BODY, headers=headers)).is_success
    refused = await anon.post("/v1/chat/completions", json=BODY, headers=headers)
    expect_error(refused, 429, "RateLimitExceeded")
    assert int(refused.headers["Retry-After"]) >= 1


async def test_a_budget_that_cannot_cover_the_call_is_402(
    app, anon, user, make_api_key, expect_error
):
    headers = {"X-API-Key": (await make_api_key())["key"]}
    async with app.state.db.transaction() as session:
        await session.execute(
            update(User).where(User.id == uuid.UUID(user.id)).values(monthly_budget_micro_usd=0)
        )
    app.state.api_key_cache.evict_user(uuid.UUID(user.id))  # as the admin API does
    body = {**BODY, "model": "openai/gpt-4o-mini"}
    refused = await anon.post("/v1/chat/completions", json=body, headers=headers)
    expect_error(refused, 402, "BudgetExceeded")


async def test_a_revoked_key_stops_at_once_in_the_worker_that_revoked_it(
    anon, user, make_api_key, expect_error
):
    created = await make_api_key()
    headers = {"X-API-Key": created["key"]}
    assert (await anon.get("/v1/models", headers=headers)).status_code == 200  # now cached
    revoked = await anon.delete(f"/api/v1/api-keys/{created['id']}", headers=user.headers)
    assert revoked.status_code == 204
    expect_error(await anon.get("/v1/models", headers=headers), 401, "NotAuthenticated")


async def test_a_change_behind_the_apis_back_is_seen_within_a_second(
    app, anon, make_api_key, expect_error
):
    created = await make_api_key()
    headers = {"X-API-Key": created["key"]}
    assert (await anon.get("/v1/models", headers=headers)).status_code == 200  # now cached
    async with app.state.db.transaction() as session:  # another worker revoked it
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id == uuid.UUID(created["id"]))
            .values(revoked_at=ApiKey.created_at)
        )
    assert (await anon.get("/v1/models", headers=headers)).status_code == 200  # still trusted
    await asyncio.sleep(1.1)
    expect_error(await anon.get("/v1/models", headers=headers), 401, "NotAuthenticated")
