"""The gateway's fast lane (``gateway/fast_lane.py``), on the real PostgreSQL and Redis.

The lane answers ``POST /v1/chat/completions`` itself on the hot path; anything it does
not take goes to the router. Each test below checks both halves: that the lane (or the
router) really served the request, and that the client cannot tell which one did: the
same status, error envelope, headers, metrics and access-log line. A call with an
``Idempotency-Key`` always goes through the router, so it is the reference here.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import update

from production_deployment.gateway.fast_lane import GatewayFastLane
from production_deployment.users.models import User

pytestmark = pytest.mark.integration

BODY = {"model": "mock/echo-1", "messages": [{"role": "user", "content": "fast lane"}]}
URL = "/v1/chat/completions"


@pytest.fixture
def backend() -> str:
    return "postgres"  # Redis comes with it


@pytest.fixture
def settings_overrides(hot_path_overrides) -> dict[str, Any]:
    return {**hot_path_overrides, "rate_limit_chat": 50}


def lane_of(app: FastAPI) -> GatewayFastLane:
    """The lane in the app's middleware stack (built on the first request)."""
    layer: Any = app.middleware_stack
    while layer is not None:
        if isinstance(layer, GatewayFastLane):
            return layer
        layer = getattr(layer, "app", None)
    raise AssertionError("no GatewayFastLane in the middleware stack")


def routed(headers: dict[str, str]) -> dict[str, str]:
    """The same request, sent through the router (the lane never takes a keyed one)."""
    return {**headers, "Idempotency-Key": uuid.uuid4().hex}


def comparable(payload: dict[str, Any]) -> dict[str, Any]:
    """A completion without what differs on every call."""
    return {k: v for k, v in payload.items() if k not in ("id", "created")}


@pytest.fixture
async def key_headers(make_api_key) -> dict[str, str]:
    return {"Authorization": f"Bearer {(await make_api_key())['key']}"}


async def test_a_call_is_served_by_the_lane_as_the_router_would(app, anon, key_headers):
    via_router = await anon.post(URL, json=BODY, headers=routed(key_headers))
    lane = lane_of(app)
    served = lane.served
    via_lane = await anon.post(URL, json=BODY, headers=key_headers)
    assert lane.served == served + 1
    assert via_lane.status_code == via_router.status_code == 200
    assert comparable(via_lane.json()) == comparable(via_router.json())
    for name in ("content-type", "ratelimit-limit", "ratelimit-policy"):
        assert via_lane.headers.get(name) == via_router.headers.get(name), name
    assert int(via_lane.headers["ratelimit-remaining"]) == (
        int(via_router.headers["ratelimit-remaining"]) - 1
    )
    assert via_lane.headers["x-request-id"] != via_router.headers["x-request-id"]


async def test_a_stream_is_served_by_the_lane_as_the_router_would(app, anon, key_headers):
    body = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
    via_router = await anon.post(URL, json=body, headers=routed(key_headers))
    lane = lane_of(app)
    served = lane.served
    via_lane = await anon.post(URL, json=body, headers=key_headers)
    assert lane.served == served + 1
    assert via_lane.headers["content-type"].startswith("text/event-stream")
    assert "ratelimit-limit" in via_lane.headers

    def events(text: str) -> list[Any]:
        data = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
        return [d if d == "[DONE]" else comparable(json.loads(d)) for d in data]

    assert events(via_lane.text) == events(via_router.text)
    assert events(via_lane.text)[-1] == "[DONE]"


async def test_the_request_id_given_is_echoed(anon, key_headers):
    response = await anon.post(URL, json=BODY, headers={**key_headers, "X-Request-ID": "lane-1"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "lane-1"


@pytest.mark.parametrize(
    ("change", "status", "error_type"),
    [
        ({"max_tokens": 10**7}, 422, "MaxTokensTooLarge"),
        ({"model": "nowhere/none"}, 422, "UnknownModel"),
        ({"messages": [{"role": "user", "content": "x"}] * 1000}, 422, "TooManyMessages"),
    ],
)
async def test_a_refused_call_gets_the_routers_envelope(
    app, anon, key_headers, expect_error, change, status, error_type
):
    body = {**BODY, **change}
    reference = expect_error(
        await anon.post(URL, json=body, headers=routed(key_headers)), status, error_type
    )
    lane = lane_of(app)
    served = lane.served
    response = await anon.post(URL, json=body, headers=key_headers)
    assert lane.served == served + 1
    error = expect_error(response, status, error_type)
    assert {**error, "request_id": None} == {**reference, "request_id": None}
    assert error["request_id"] == response.headers["x-request-id"]


async def test_an_unknown_key_is_401_without_saying_why(anon, expect_error):
    headers = {"X-API-Key": "sk-" + "0" * 8 + "_" + "x" * 40}
    response = await anon.post(URL, json=BODY, headers=headers)
    expect_error(response, 401, "NotAuthenticated")


async def test_a_read_only_key_is_403(app, anon, make_api_key, expect_error):
    key = (await make_api_key(scopes=["read"]))["key"]
    response = await anon.post(URL, json=BODY, headers={"X-API-Key": key})
    expect_error(response, 403, "InsufficientScope")
    assert lane_of(app).served >= 1


async def test_budget_and_rate_refusals_are_the_same_through_the_lane(
    app, anon, user, key_headers, expect_error
):
    body = {**BODY, "model": "openai/gpt-4o-mini"}
    async with app.state.db.transaction() as session:
        await session.execute(
            update(User).where(User.id == uuid.UUID(user.id)).values(monthly_budget_micro_usd=0)
        )
    app.state.api_key_cache.evict_user(uuid.UUID(user.id))
    refusals = app.state.metrics.registry.get_sample_value("budget_refusals_total") or 0
    expect_error(await anon.post(URL, json=body, headers=key_headers), 402, "BudgetExceeded")
    after = app.state.metrics.registry.get_sample_value("budget_refusals_total")
    assert after == refusals + 1


class TestRateLimit:
    @pytest.fixture
    def settings_overrides(self, hot_path_overrides) -> dict[str, Any]:
        return {**hot_path_overrides, "rate_limit_chat": 2}

    async def test_the_third_call_is_429_with_its_headers(self, anon, key_headers, expect_error):
        for _ in range(2):
            assert (await anon.post(URL, json=BODY, headers=key_headers)).status_code == 200
        refused = await anon.post(URL, json=BODY, headers=key_headers)
        expect_error(refused, 429, "RateLimitExceeded")
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["ratelimit-remaining"] == "0"


@pytest.mark.parametrize(
    ("body", "headers", "why"),
    [
        ({"messages": []}, {}, "a body the schema refuses: FastAPI's 422"),
        (BODY, {"Content-Type": "text/plain"}, "not JSON"),
        (BODY, {"Idempotency-Key": "k-1"}, "an idempotent retry"),
    ],
)
async def test_what_the_lane_does_not_take_goes_to_the_router(
    app, anon, key_headers, body, headers, why
):
    await anon.get("/health/live")  # builds the middleware stack
    lane = lane_of(app)
    served = lane.served
    content = json.dumps(body).encode()
    response = await anon.post(
        URL,
        content=content,
        headers={"Content-Type": "application/json", **key_headers, **headers},
    )
    assert lane.served == served, why
    if body is BODY and "Content-Type" not in headers:
        assert response.status_code == 200
    else:
        assert response.status_code == 422
        assert response.json()["error"]["type"] == "ValidationError"


async def test_an_access_token_goes_to_the_router(app, anon, user):
    await anon.get("/health/live")
    lane = lane_of(app)
    served = lane.served
    response = await anon.post(URL, json=BODY, headers=user.headers)
    assert response.status_code == 200
    assert lane.served == served


async def test_two_credentials_are_refused_by_the_router(anon, user, key_headers, expect_error):
    headers = {"X-API-Key": key_headers["Authorization"].split()[1], **user.headers}
    expect_error(await anon.post(URL, json=BODY, headers=headers), 401, "NotAuthenticated")


async def test_metrics_and_access_log_name_the_route_and_the_user(
    app, anon, user, key_headers, caplog
):
    registry = app.state.metrics.registry
    labels = {"method": "POST", "route": URL, "status": "200"}
    before = registry.get_sample_value("http_requests_total", labels) or 0
    with caplog.at_level(logging.INFO, logger="production_deployment.access"):
        assert (await anon.post(URL, json=BODY, headers=key_headers)).status_code == 200
    assert registry.get_sample_value("http_requests_total", labels) == before + 1
    [line] = [r for r in caplog.records if r.name == "production_deployment.access"]
    assert line.route == URL
    assert line.user_id == user.id
