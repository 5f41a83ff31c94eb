"""The weather client and ``get_weather`` against a local fake weather service."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from agentic_rag.agent.models import ToolStatus
from agentic_rag.agent.registry import Caller, ToolContext, ToolRegistry
from agentic_rag.tools.definitions import weather_tool
from genai_shared.db.session import Database
from genai_shared.llm.types import ToolCall
from genai_shared.testing.live_server import live_server
from genai_shared.tools.weather import MAX_RESPONSE_BYTES, WeatherClient, WeatherError

KEY = "weather-key-123"


def fake_weather(seen: list[dict[str, Any]]) -> Starlette:
    """``/current`` answers by location: a few names trigger the failures under test."""

    async def current(request: Request) -> Response:
        params = dict(request.query_params)
        seen.append({"params": params, "authorization": request.headers.get("authorization")})
        location = params.get("location", "")
        if location == "Atlantis":
            return JSONResponse({"error": "unknown"}, status_code=404)
        if location == "Broken":
            return PlainTextResponse("oops", status_code=500)
        if location == "Moved":
            return RedirectResponse("http://169.254.169.254/latest/meta-data", status_code=302)
        if location == "Huge":
            return JSONResponse({"padding": "x" * (MAX_RESPONSE_BYTES + 10)})
        if location == "Garbled":
            return PlainTextResponse("<html>not json</html>")
        if location == "Slow":
            await asyncio.sleep(5)
        temperature = 21.5 if params.get("units") == "metric" else 70.7
        return JSONResponse(
            {"location": location, "temperature": temperature, "conditions": "sunny"}
        )

    return Starlette(routes=[Route("/current", current)])


@pytest.fixture(scope="module")
def weather_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    with live_server(fake_weather(seen), lifespan="off") as url:
        yield url, seen


@pytest.fixture
def weather(weather_server: tuple[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The requests the fake received during this test."""
    seen = weather_server[1]
    seen.clear()
    return seen


async def test_current_weather_with_the_key(
    weather_server: tuple[str, list[dict[str, Any]]], weather: list[dict[str, Any]]
) -> None:
    client = WeatherClient(base_url=weather_server[0] + "/", api_key=KEY)
    try:
        data = await client.current(location="Lisbon, PT", units="metric")
    finally:
        await client.aclose()
    assert data == {"location": "Lisbon, PT", "temperature": 21.5, "conditions": "sunny"}
    assert weather == [
        {"params": {"location": "Lisbon, PT", "units": "metric"}, "authorization": f"Bearer {KEY}"}
    ]


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("Atlantis", "does not know 'Atlantis'"),
        ("Broken", "answered with status 500"),
        ("Moved", "answered with status 302"),  # a redirect is never followed
        ("Huge", "too large"),
        ("Garbled", "not JSON"),
        ("Slow", "did not answer in time"),
    ],
)
async def test_failures_are_weather_errors(
    weather_server: tuple[str, list[dict[str, Any]]],
    weather: list[dict[str, Any]],
    location: str,
    reason: str,
) -> None:
    client = WeatherClient(base_url=weather_server[0], timeout_seconds=0.5)
    try:
        with pytest.raises(WeatherError, match=reason):
            await client.current(location=location)
    finally:
        await client.aclose()
    assert weather[0]["authorization"] is None  # no key configured, none sent


async def test_an_unreachable_service_is_a_weather_error() -> None:
    client = WeatherClient(base_url="http://127.0.0.1:9", timeout_seconds=0.5)
    try:
        with pytest.raises(WeatherError, match="could not be reached"):
            await client.current(location="Lisbon")
    finally:
        await client.aclose()


async def test_the_tool_hands_the_model_the_answer_or_the_reason(
    weather_server: tuple[str, list[dict[str, Any]]], weather: list[dict[str, Any]]
) -> None:
    client = WeatherClient(base_url=weather_server[0], timeout_seconds=0.5)
    registry = ToolRegistry([weather_tool(client, timeout_seconds=0.5)])
    context = ToolContext(
        caller=Caller(user_id=uuid.uuid4(), role="user", scopes=frozenset({"chat"})),
        db=cast(Database, None),
    )
    try:
        ok, unknown, bad = await registry.run_all(
            [
                ToolCall(id="1", name="get_weather", arguments='{"location": "Oslo"}'),
                ToolCall(id="2", name="get_weather", arguments='{"location": "Atlantis"}'),
                ToolCall(
                    id="3", name="get_weather", arguments='{"location": "Oslo", "units": "K"}'
                ),
            ],
            context=context,
        )
    finally:
        await client.aclose()
    assert ok.status is ToolStatus.OK
    assert json.loads(ok.content)["temperature"] == 21.5
    assert unknown.status is ToolStatus.ERROR
    assert "does not know 'Atlantis'" in (unknown.error or "")
    assert bad.status is ToolStatus.INVALID_ARGUMENTS
    assert [call["params"]["location"] for call in weather] == ["Oslo", "Atlantis"]
