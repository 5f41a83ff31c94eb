"""Tool exchanges stored as messages replay to the next turn, to either provider.

The provider tests run the agent through the real OpenAI and Anthropic SDKs against the
fake upstream, which refuses a broken tool history with the APIs' own 400.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from genai_shared.llm.types import ChatMessage, ToolCall
from genai_shared.testing.fake_upstream import RunningFakeUpstream
from genai_shared.testing.fake_upstream_tools import ScriptedToolCall
from production_deployment.agent.history import replayable

OPENAI, ANTHROPIC = "openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-latest"


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def asks(*ids: str, text: str = "") -> ChatMessage:
    calls = [ToolCall(id=i, name="calculator", arguments="{}") for i in ids]
    return ChatMessage(role="assistant", content=text, tool_calls=calls)


def result(call_id: str) -> ChatMessage:
    return ChatMessage(role="tool", content="{}", tool_call_id=call_id)


def answer(text: str) -> ChatMessage:
    return ChatMessage(role="assistant", content=text)


class TestReplayable:
    def test_a_whole_history_is_kept_as_it_is(self) -> None:
        history = [user("q"), asks("a", "b"), result("a"), result("b"), answer("x"), user("q2")]
        assert replayable(history) == history

    def test_results_are_put_in_the_order_of_the_calls(self) -> None:
        history = [user("q"), asks("a", "b"), result("b"), result("a"), answer("x")]
        assert replayable(history) == [
            user("q"),
            asks("a", "b"),
            result("a"),
            result("b"),
            answer("x"),
        ]

    def test_results_cut_from_their_call_are_dropped(self) -> None:
        """The window starts inside a tool exchange: its results have no call."""
        history = [result("a"), result("b"), answer("x"), user("q2")]
        assert replayable(history) == [user("q2")]

    def test_a_call_left_without_all_its_results_keeps_only_its_text(self) -> None:
        history = [user("q"), asks("a", "b", text="Checking."), result("a"), user("q2")]
        assert replayable(history) == [user("q"), answer("Checking."), user("q2")]

    def test_empty_assistant_messages_and_a_leading_answer_are_dropped(self) -> None:
        system = ChatMessage(role="system", content="be brief")
        history = [system, answer("from before"), user("q"), answer(""), user("q2")]
        assert replayable(history) == [system, user("q"), user("q2")]


# --- through the SDKs, against the fake upstream ------------------------------------------


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
