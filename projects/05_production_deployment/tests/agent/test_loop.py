"""The agent loop through its API: answers from tools, JSON and SSE, what it stores."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from sqlalchemy import select

from genai_shared.llm.providers.mock_provider import MockProvider, MockScript, MockTurn
from genai_shared.llm.types import ToolCall
from production_deployment.chat.models import Message

AddDocument = Ask = MakeCollection = Any


def sse_events(body: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in body.strip().split("\n\n"):
        lines = block.split("\n")
        name = lines[0].removeprefix("event: ")
        data = "\n".join(line.removeprefix("data: ") for line in lines[1:])
        events.append((name, json.loads(data)))
    return events


async def test_answers_from_search_and_calculator(
    client: httpx.AsyncClient,
    user: Any,
    make_conversation: Any,
    make_collection: MakeCollection,
    add_document: AddDocument,
    ask: Ask,
) -> None:
    collection = await make_collection("Handbook")
    document = await add_document(
        user.id,
        collection["id"],
        ["The Lisbon office has 40 desks and opened in 2019.", "Parking is on level -2."],
        title="Office handbook",
    )
    conversation = await make_conversation()

    response = await ask(conversation["id"], "How many desks in Lisbon? Also 40 * 3 + 2")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["stop_reason"] == "answer"
    first = body["steps"][0]["tool_calls"]
    assert [call["name"] for call in first] == ["search_documents", "calculator"]
    assert all(call["status"] == "ok" for call in first)
    assert json.loads(first[1]["content"])["result"] == 122
    assert "40 desks" in body["answer"]
    assert "122" in body["answer"]
    assert body["citations"], body["answer"]
    citation = body["citations"][0]
    assert citation["document_id"] == str(document.id)
    assert citation["title"] == "Office handbook"
    assert citation["page"] == 1
    assert citation["char_start"] == 0
    assert f"[{citation['marker']}]" in body["answer"]


async def test_the_exchange_is_stored_as_messages_in_order(
    app: Any, client: httpx.AsyncClient, make_conversation: Any, ask: Ask
) -> None:
    conversation = await make_conversation()

    response = await ask(conversation["id"], "what is 6 * 7")

    assert response.status_code == 201, response.text
    body = response.json()
    async with app.state.db.transaction() as session:
        rows = list(
            await session.scalars(
                select(Message)
                .where(Message.conversation_id == uuid.UUID(conversation["id"]))
                .order_by(Message.created_at)
            )
        )
    assert [row.role for row in rows] == ["user", "assistant", "tool", "assistant"]
    user_row, asks, result, answer = rows
    assert user_row.id == uuid.UUID(body["user_message"]["id"])
    [call] = asks.tool_calls or []
    assert call["name"] == "calculator"
    assert result.tool_call_id == call["id"]
    assert json.loads(result.content)["result"] == 42
    assert answer.id == uuid.UUID(body["answer_message_id"])
    assert answer.tool_calls is None
    assert "42" in answer.content
    run = await client.get(f"/api/v1/agent-runs/{body['run_id']}")
    assert run.status_code == 200
    detail = run.json()
    assert detail["stop_reason"] == "answer"
    assert (detail["steps"], detail["tool_calls"]) == (2, 1)
    [execution] = detail["executions"]
    assert (execution["tool"], execution["status"]) == ("calculator", "ok")
    assert execution["message_id"] == str(result.id)
    assert execution["tool_call_id"] == call["id"]


async def test_streams_the_run_as_events(
    client: httpx.AsyncClient, make_conversation: Any, ask: Ask
) -> None:
    conversation = await make_conversation()

    response = await ask(conversation["id"], "what is 6 * 7", stream=True)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names[:3] == ["step", "tool_call", "tool_result"]
    assert names[3] == "step"
    assert names[-1] == "done"
    assert "delta" in names[3:]
    done = events[-1][1]
    assert done["stop_reason"] == "answer"
    assert done["steps"] == 2
    text = "".join(data["text"] for name, data in events if name == "delta" and data["step"] == 2)
    assert "42" in text


async def test_scripted_turns_and_the_next_turn_replays_the_history(
    client: httpx.AsyncClient, make_conversation: Any, ask: Ask, mock: MockProvider
) -> None:
    call = ToolCall(id="call_1", name="calculator", arguments='{"expression": "2**10"}')
    mock.script = MockScript(turns=[MockTurn(text="Let me compute.", tool_calls=[call])])
    conversation = await make_conversation()

    first = await ask(conversation["id"], "two to the tenth?")
    second = await ask(conversation["id"], "and now?")

    assert first.status_code == 201, first.text
    assert second.status_code == 201, second.text
    seen: list[Any] = []
    original = mock.complete

    async def spy(request: Any) -> Any:
        seen.append(request)
        return await original(request)

    mock.complete = spy  # type: ignore[method-assign]
    third = await ask(conversation["id"], "once more")
    assert third.status_code == 201
    history = seen[0].messages
    roles = [m.role for m in history]
    assert roles[0] == "system"
    assistant = next(m for m in history if m.tool_calls)
    assert assistant.tool_calls[0].id == "call_1"
    assert assistant.content == "Let me compute."
    result = history[history.index(assistant) + 1]
    assert result.role == "tool"
    assert result.tool_call_id == "call_1"
    assert json.loads(result.content)["result"] == 1024
    assert history[-1].role == "user"
    assert history[-1].content == "once more"
