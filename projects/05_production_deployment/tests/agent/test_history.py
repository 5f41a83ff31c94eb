"""Tool exchanges stored as messages replay to the next turn, to either provider.

These run the agent through the real OpenAI and Anthropic SDKs against the fake upstream,
which refuses a broken tool history with the APIs' own 400 (how a history is repaired is
tested once, in ``shared/tests/agent/test_history.py``).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from genai_shared.testing.fake_upstream import RunningFakeUpstream
from genai_shared.testing.fake_upstream_tools import ScriptedToolCall

OPENAI, ANTHROPIC = "openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-latest"


@pytest.fixture
def more_settings() -> dict[str, Any]:
    return {}


@pytest.fixture
def agent_overrides(
    fake_upstream: RunningFakeUpstream, more_settings: dict[str, Any]
) -> dict[str, Any]:
    return {**fake_upstream.provider_settings().model_dump(), **more_settings}


@pytest.fixture
def llm_registry() -> None:
    """The providers from settings: OpenAI and Anthropic, both pointed at the fake."""
    return None


def _events(body: str) -> list[tuple[str, Any]]:
    events = []
    for block in body.strip().split("\n\n"):
        name, data = block.split("\n", 1)
        events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


async def _turn(
    client: httpx.AsyncClient, conversation_id: str, content: str, model: str, stream: bool
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/conversations/{conversation_id}/agent",
        json={"content": content, "model": model, "stream": stream},
    )
    assert response.status_code == (200 if stream else 201), response.text
    if not stream:
        return dict(response.json())
    done = _events(response.text)[-1]
    assert done[0] == "done", response.text
    return dict(done[1])


def _tool_turns_sent(request_body: dict[str, Any]) -> list[Any]:
    """The tool exchange as the upstream received it, in either wire format."""
    found = []
    for message in request_body["messages"]:
        if message.get("tool_calls"):
            found.append(("call", message["tool_calls"][0]["id"]))
        if message["role"] == "tool":
            found.append(("result", message["tool_call_id"]))
        for block in message["content"] if isinstance(message.get("content"), list) else []:
            if block.get("type") == "tool_use":
                found.append(("call", block["id"]))
            if block.get("type") == "tool_result":
                found.append(("result", block["tool_use_id"]))
    return found


@pytest.mark.parametrize(
    ("first", "second", "stream"),
    [
        (OPENAI, OPENAI, False),
        (ANTHROPIC, ANTHROPIC, False),
        (OPENAI, OPENAI, True),
        (ANTHROPIC, ANTHROPIC, True),
        (OPENAI, ANTHROPIC, False),  # a history made with one provider, sent to the other
    ],
)
async def test_the_next_turn_replays_the_tool_exchange(
    client: httpx.AsyncClient,
    make_conversation: Any,
    fake_upstream_script: RunningFakeUpstream,
    fake_upstream_requests: list[Any],
    first: str,
    second: str,
    stream: bool,
) -> None:
    conversation = await make_conversation()
    fake_upstream_script.script_tool_calls(
        ScriptedToolCall(name="calculator", arguments={"expression": "6 * 7"})
    )

    one = await _turn(client, conversation["id"], "six times seven?", first, stream)
    two = await _turn(client, conversation["id"], "thanks", second, stream)

    assert one["stop_reason"] == "answer"
    assert two["stop_reason"] == "answer"
    requests = [r for r in fake_upstream_requests if r.method == "POST"]
    # The fake calls the first tool offered for any question it was not scripted for,
    # so each turn is two requests: its tool call, then its answer.
    assert len(requests) == 4
    replayed = _tool_turns_sent(requests[2].body)
    assert [kind for kind, _ in replayed] == ["call", "result"]
    assert replayed[0][1] == replayed[1][1]
    assert all(r.fault is None for r in requests)


@pytest.mark.parametrize("more_settings", [{"chat_history_messages": 3}])
async def test_a_window_cut_inside_a_tool_exchange_still_replays(
    client: httpx.AsyncClient,
    make_conversation: Any,
    fake_upstream_script: RunningFakeUpstream,
    fake_upstream_requests: list[Any],
) -> None:
    """Three messages back from the new one is the tool result, without its call."""
    conversation = await make_conversation()
    for model in (OPENAI, ANTHROPIC):
        fake_upstream_script.script_tool_calls(
            ScriptedToolCall(name="calculator", arguments={"expression": "1 + 1"})
        )
        await _turn(client, conversation["id"], "one plus one?", model, False)

    for model in (OPENAI, ANTHROPIC):
        again = await _turn(client, conversation["id"], "and again?", model, False)
        assert again["stop_reason"] == "answer"
    assert all(r.fault is None for r in fake_upstream_requests)
