"""An agent run streaming when the server stops: at the drain deadline the stream ends
with an ``error`` event (``ServerShuttingDown``) and ``done``, not cut off by the server's
grace period; the run and its model call in flight are stored as ended in error, the
reply with the words streamed before the cut (and its usage counted from them)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
from sqlalchemy import select

from genai_shared.llm.providers.mock_provider import MockProvider, MockScript
from production_deployment.chat.models import Message
from production_deployment.usage.models import UsageRecord


def sse_events(body: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in body.strip().split("\n\n"):
        name, data = block.split("\n", 1)
        events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


async def test_a_run_at_the_drain_deadline_ends_with_an_error_event(
    app: Any, client: httpx.AsyncClient, mock: MockProvider, make_conversation: Any, ask: Any
) -> None:
    # 100 words at 50 ms: far longer than the drain (it begins at 0.5 s, for 0.3 s).
    mock.script = MockScript(reply=" ".join(["word"] * 100), chunk_delay=0.05, use_tools=False)
    conversation = await make_conversation()
    asyncio.get_running_loop().call_later(0.5, app.state.drain.begin, 0.3)

    response = await asyncio.wait_for(ask(conversation["id"], "talk for a while", stream=True), 20)

    assert response.status_code == 200, response.text
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert "delta" in names
    assert names[-2:] == ["error", "done"]
    assert events[-2][1]["type"] == "ServerShuttingDown"
    done = events[-1][1]
    assert done["stop_reason"] == "error"
    run = await client.get(f"/api/v1/agent-runs/{done['run_id']}")
    assert run.json()["stop_reason"] == "error"
    async with app.state.db.transaction() as session:
        rows = list(
            await session.scalars(
                select(UsageRecord).where(
                    UsageRecord.conversation_id == uuid.UUID(conversation["id"])
                )
            )
        )
    assert [(row.status, row.error_type) for row in rows] == [("error", "DrainDeadlineReached")]
    assert rows[0].input_tokens > 0  # estimated: the provider never reported usage
    assert rows[0].output_tokens > 0  # counted from the words streamed before the cut
    streamed = "".join(data["text"] for name, data in events if name == "delta")
    async with app.state.db.transaction() as session:
        reply = await session.scalar(
            select(Message).where(
                Message.conversation_id == uuid.UUID(conversation["id"]),
                Message.role == "assistant",
            )
        )
    assert reply is not None
    assert (reply.status, reply.content) == ("error", streamed)
    assert reply.id == rows[0].message_id
