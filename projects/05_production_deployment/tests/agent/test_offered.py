"""Which tools the model is offered, by configuration, role and scope; and a run that is
abandoned or fails part-way."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from genai_shared.chat.dependencies import recent_conversations_for
from genai_shared.llm.errors import ProviderUnavailable
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript
from genai_shared.llm.types import ChatRequest, ChatResponse
from production_deployment.agent import service
from production_deployment.agent.models import AgentRun
from production_deployment.agent.schemas import AgentTurnRequest
from production_deployment.auth.dependencies import ALL_SCOPES, Principal
from production_deployment.usage.models import BudgetReservation, UsageRecord
from production_deployment.users.models import User

DEFAULT_TOOLS = {"calculator", "search_documents", "sql_query"}


@pytest.fixture
def spy(mock: MockProvider) -> list[ChatRequest]:
    seen: list[ChatRequest] = []
    original = mock.complete

    async def complete(request: ChatRequest) -> ChatResponse:
        seen.append(request)
        return await original(request)

    mock.complete = complete  # type: ignore[method-assign]
    return seen


async def offered(
    client: httpx.AsyncClient,
    conversation_id: str,
    spy: list[ChatRequest],
    headers: dict[str, str] | None = None,
) -> set[str]:
    spy.clear()
    response = await client.post(
        f"/api/v1/conversations/{conversation_id}/agent",
        json={"content": "hello"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return {tool.name for tool in spy[0].tools or []}


async def test_the_default_tools(
    client: httpx.AsyncClient, make_conversation: Any, spy: list[ChatRequest]
) -> None:
    """No weather service configured: no get_weather."""
    conversation = await make_conversation()
    assert await offered(client, conversation["id"], spy) == DEFAULT_TOOLS


@pytest.mark.parametrize("agent_overrides", [{"weather_api_base_url": "http://127.0.0.1:9"}])
async def test_get_weather_exists_once_configured(
    client: httpx.AsyncClient, make_conversation: Any, spy: list[ChatRequest]
) -> None:
    conversation = await make_conversation()
    assert await offered(client, conversation["id"], spy) == DEFAULT_TOOLS | {"get_weather"}


@pytest.mark.parametrize("agent_overrides", [{"agent_tool_roles": {"sql_query": ["admin"]}}])
async def test_roles_decide_who_is_offered_a_tool(
    client: httpx.AsyncClient, make_conversation: Any, make_user: Any, spy: list[ChatRequest]
) -> None:
    conversation = await make_conversation()
    assert await offered(client, conversation["id"], spy) == DEFAULT_TOOLS - {"sql_query"}
    boss = await make_user("boss@example.com", role="admin")
    theirs = await make_conversation(headers=boss.headers)
    assert await offered(client, theirs["id"], spy, boss.headers) == DEFAULT_TOOLS


async def test_an_api_key_without_the_read_scope_gets_no_reading_tools(
    client: httpx.AsyncClient,
    make_conversation: Any,
    make_api_key: Any,
    spy: list[ChatRequest],
) -> None:
    conversation = await make_conversation()
    key = await make_api_key(scopes=["chat"])
    headers = {"Authorization": f"Bearer {key['key']}"}
    assert await offered(client, conversation["id"], spy, headers) == {"calculator"}


# --- runs cut short ------------------------------------------------------------------------


async def test_a_client_that_leaves_mid_run_cancels_it_and_settles_the_call(
    app: Any, client: httpx.AsyncClient, user: Any, make_conversation: Any, mock: MockProvider
) -> None:
    """The stream's consumer closes it after the first event, while the model is asked."""
    mock.script = MockScript(chunk_delay=30)  # the first chunk, then a long wait
    conversation = await make_conversation()
    async with app.state.db.transaction() as session:
        row = await session.get_one(User, uuid.UUID(user.id))
    runner = await service.start_agent_turn(
        db=app.state.db,
        metering=app.state.metering,
        cache=recent_conversations_for(app.state.cache, app.state.settings),
        registry=app.state.llm,
        tools=app.state.agent_tools,
        metrics=app.state.metrics,
        settings=app.state.settings,
        principal=Principal(user=row, via="access_token", scopes=ALL_SCOPES),
        conversation_id=uuid.UUID(conversation["id"]),
        data=AgentTurnRequest(content="Tell me a long story please", stream=True),
        request_id=None,
    )
    events = runner.events()
    first = await anext(events)
    assert first.name == "step"
    await events.aclose()

    async with app.state.db.transaction() as session:
        run = await session.get_one(AgentRun, runner.run_id)
        assert run.stop_reason == "cancelled"
        assert run.status == "finished"
        assert await session.scalar(select(func.count()).select_from(BudgetReservation)) == 0
        statuses = list(await session.scalars(select(UsageRecord.status)))
        assert statuses == ["cancelled"]


class _FailsSecondStream:
    def __init__(self, mock: MockProvider) -> None:
        self.original, self.calls = mock.stream, 0

    def __call__(self, request: ChatRequest) -> Any:
        self.calls += 1
        if self.calls == 2:
            return _broken()
        return self.original(request)


async def _broken() -> Any:
    raise ProviderUnavailable("upstream went away", provider="mock")
    yield  # an async generator


async def test_a_provider_failure_mid_stream_is_an_error_event_then_done(
    client: httpx.AsyncClient, make_conversation: Any, mock: MockProvider
) -> None:
    mock.stream = _FailsSecondStream(mock)  # type: ignore[method-assign]
    conversation = await make_conversation()

    response = await client.post(
        f"/api/v1/conversations/{conversation['id']}/agent",
        json={"content": "what is 2 + 2", "stream": True},
    )

    assert response.status_code == 200, response.text
    events = [block.split("\n", 1) for block in response.text.strip().split("\n\n")]
    names = [name.removeprefix("event: ") for name, _ in events]
    assert names == ["step", "tool_call", "tool_result", "error", "done"]
    error = json.loads(events[3][1].removeprefix("data: "))
    assert error == {"step": 2, "type": "ProviderError", "message": error["message"]}
    done = json.loads(events[4][1].removeprefix("data: "))
    assert done["stop_reason"] == "error"


async def test_a_provider_failure_before_any_event_is_an_http_error_even_streamed(
    client: httpx.AsyncClient, make_conversation: Any, mock: MockProvider
) -> None:
    mock.script = MockScript(error=ProviderUnavailable("down", provider="mock"))
    conversation = await make_conversation()

    response = await client.post(
        f"/api/v1/conversations/{conversation['id']}/agent",
        json={"content": "hello", "stream": True},
    )

    assert response.status_code == 502
    assert response.json()["error"]["type"] == "ProviderDown"
