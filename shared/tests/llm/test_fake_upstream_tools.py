"""The fake upstream's tool calls on the wire: parsed strictly by the real SDKs, checked
frame by frame, and the 400s it gives a broken tool history, in each API's error shape."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from genai_shared.testing.fake_upstream import FAKE_OPENAI_KEY, RunningFakeUpstream
from genai_shared.testing.fake_upstream_tools import (
    TOOL_CALLS_HEADER,
    ScriptedReply,
    ScriptedToolCall,
    ScriptError,
    parse_scripted_reply,
    tool_calls_header,
)

CALLS = (
    ScriptedToolCall("search_documents", {"query": "pin a version in a uv workspace"}),
    ScriptedToolCall("calculator", {"expression": "6 * 7"}),
)
HEADERS = tool_calls_header(*CALLS, text="Two lookups.")
OPENAI_TOOLS = [
    {"type": "function", "function": {"name": c.name, "parameters": {"type": "object"}}}
    for c in CALLS
]
ANTHROPIC_TOOLS = [{"name": c.name, "input_schema": {"type": "object"}} for c in CALLS]
QUESTION = {"role": "user", "content": "pin uv, and 6*7?"}


@pytest.fixture
async def openai_client(fake_upstream: RunningFakeUpstream) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(
        api_key=FAKE_OPENAI_KEY,
        base_url=fake_upstream.openai_base_url,
        max_retries=0,
        _strict_response_validation=True,
    )
    yield client
    await client.close()


@pytest.fixture
async def anthropic_client(
    fake_upstream: RunningFakeUpstream,
) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(
        api_key="sk-ant-test",
        base_url=fake_upstream.anthropic_base_url,
        max_retries=0,
        _strict_response_validation=True,
    )
    yield client
    await client.close()


@pytest.fixture
async def raw_client(fake_upstream: RunningFakeUpstream) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake_upstream.base_url, timeout=5) as client:
        yield client


def frames(body: str) -> list[tuple[str | None, Any]]:
    """(event name, data) of each server-sent event; data parsed unless it is [DONE]."""
    out: list[tuple[str | None, Any]] = []
    for frame in filter(None, body.split("\n\n")):
        lines = dict(line.split(": ", 1) for line in frame.split("\n"))
        data = lines["data"]
        out.append((lines.get("event"), data if data == "[DONE]" else json.loads(data)))
    return out


class TestOpenAIWire:
    async def test_strict_sdk_parses_parallel_calls(
        self, openai_client: openai.AsyncOpenAI
    ) -> None:
        completion = await openai_client.chat.completions.create(
            model="gpt-4o",
            messages=[QUESTION],  # type: ignore[list-item]
            tools=OPENAI_TOOLS,  # type: ignore[arg-type]
            extra_headers=HEADERS,
        )

        choice = completion.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.content == "Two lookups."
        calls = choice.message.tool_calls or []
        assert [(c.type, c.function.name, json.loads(c.function.arguments)) for c in calls] == [  # type: ignore[union-attr]
            ("function", c.name, c.arguments) for c in CALLS
        ]

    async def test_sdk_stream_helper_assembles_the_calls(
        self, openai_client: openai.AsyncOpenAI
    ) -> None:
        async with openai_client.chat.completions.stream(
            model="gpt-4o",
            messages=[QUESTION],  # type: ignore[list-item]
            tools=OPENAI_TOOLS,  # type: ignore[arg-type]
            extra_headers=HEADERS,
        ) as stream:
            final = await stream.get_final_completion()

        calls = final.choices[0].message.tool_calls or []
        assert [c.function.name for c in calls] == ["search_documents", "calculator"]
        assert final.choices[0].finish_reason == "tool_calls"

    async def test_chunks_open_each_call_then_stream_its_arguments(
        self, raw_client: httpx.AsyncClient
    ) -> None:
        response = await raw_client.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [QUESTION], "tools": OPENAI_TOOLS, "stream": True},
            headers=tool_calls_header(*CALLS),
        )

        chunks = [data for _, data in frames(response.text)]
        assert chunks[-1] == "[DONE]"
        deltas = [c["choices"][0]["delta"] for c in chunks[1:-2]]
        tool_deltas = [d["tool_calls"][0] for d in deltas]
        openings = [d for d in tool_deltas if "id" in d]
        assert [(o["index"], o["type"], o["function"]) for o in openings] == [
            (0, "function", {"name": "search_documents", "arguments": ""}),
            (1, "function", {"name": "calculator", "arguments": ""}),
        ]
        for index, call in enumerate(CALLS):
            pieces = [
                d["function"]["arguments"]
                for d in tool_deltas
                if d["index"] == index and "id" not in d
            ]
            assert len(pieces) > 1
            assert json.loads("".join(pieces)) == call.arguments
        assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"

    async def test_named_tool_choice_forces_that_tool(self, raw_client: httpx.AsyncClient) -> None:
        response = await raw_client.post(
            "/v1/chat/completions",
            json={
                "model": "gpt-4o",
                "messages": [QUESTION],
                "tools": OPENAI_TOOLS,
                "tool_choice": {"type": "function", "function": {"name": "calculator"}},
            },
        )

        [call] = response.json()["choices"][0]["message"]["tool_calls"]
        assert call["function"]["name"] == "calculator"


class TestAnthropicWire:
    async def test_strict_sdk_parses_text_and_tool_use_blocks(
        self, anthropic_client: anthropic.AsyncAnthropic
    ) -> None:
        message = await anthropic_client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=100,
            messages=[QUESTION],  # type: ignore[list-item]
            tools=ANTHROPIC_TOOLS,  # type: ignore[arg-type]
            extra_headers=HEADERS,
        )

        assert message.stop_reason == "tool_use"
        assert [b.type for b in message.content] == ["text", "tool_use", "tool_use"]
        uses = [b for b in message.content if b.type == "tool_use"]
        assert [(b.name, b.input) for b in uses] == [(c.name, c.arguments) for c in CALLS]
        assert all(b.id.startswith("toolu_") for b in uses)

    async def test_sdk_stream_helper_parses_the_json_fragments(
        self, anthropic_client: anthropic.AsyncAnthropic
    ) -> None:
        async with anthropic_client.messages.stream(
            model="claude-haiku-4-5",
            max_tokens=100,
            messages=[QUESTION],  # type: ignore[list-item]
            tools=ANTHROPIC_TOOLS,  # type: ignore[arg-type]
            extra_headers=HEADERS,
        ) as stream:
            final = await stream.get_final_message()

        uses = [b for b in final.content if b.type == "tool_use"]
        assert [(b.name, b.input) for b in uses] == [(c.name, c.arguments) for c in CALLS]
        assert final.stop_reason == "tool_use"

    async def test_one_block_per_call_each_started_filled_and_stopped(
        self, raw_client: httpx.AsyncClient
    ) -> None:
        response = await raw_client.post(
            "/v1/messages",
            json={
                "model": "claude-haiku-4-5",
                "max_tokens": 100,
                "messages": [QUESTION],
                "tools": ANTHROPIC_TOOLS,
                "stream": True,
            },
            headers=HEADERS,
        )

        events = frames(response.text)
        names = [name for name, _ in events]
        assert names[:3] == ["message_start", "content_block_start", "ping"]
        assert names[-2:] == ["message_delta", "message_stop"]
        starts = [data for name, data in events if name == "content_block_start"]
        assert [(s["index"], s["content_block"]["type"]) for s in starts] == [
            (0, "text"),
            (1, "tool_use"),
            (2, "tool_use"),
        ]
        assert all(s["content_block"]["input"] == {} for s in starts[1:])
        for index, call in enumerate(CALLS, start=1):
            pieces = [
                data["delta"]["partial_json"]
                for name, data in events
                if name == "content_block_delta" and data["index"] == index
            ]
            assert pieces[0] == ""  # the real API opens with an empty fragment too
            assert json.loads("".join(pieces)) == call.arguments
        stops = [data["index"] for name, data in events if name == "content_block_stop"]
        assert stops == [0, 1, 2]
        assert events[-2][1]["delta"]["stop_reason"] == "tool_use"

    async def test_named_tool_choice_forces_that_tool(self, raw_client: httpx.AsyncClient) -> None:
        response = await raw_client.post(
            "/v1/messages",
            json={
                "model": "claude-haiku-4-5",
                "max_tokens": 100,
                "messages": [QUESTION],
                "tools": ANTHROPIC_TOOLS,
                "tool_choice": {"type": "tool", "name": "calculator"},
            },
        )

        [block] = response.json()["content"]
        assert (block["type"], block["name"]) == ("tool_use", "calculator")


def _openai_history(*tail: dict[str, Any]) -> dict[str, Any]:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "calculator", "arguments": "{}"},
    }
    return {
        "model": "gpt-4o",
        "tools": OPENAI_TOOLS,
        "messages": [QUESTION, {"role": "assistant", "content": None, "tool_calls": [call]}, *tail],
    }


def _anthropic_history(*tail: dict[str, Any]) -> dict[str, Any]:
    use = {"type": "tool_use", "id": "toolu_1", "name": "calculator", "input": {}}
    return {
        "model": "claude-haiku-4-5",
        "max_tokens": 100,
        "tools": ANTHROPIC_TOOLS,
        "messages": [QUESTION, {"role": "assistant", "content": [use]}, *tail],
    }


def _result(tool_use_id: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": "42"}


class TestOpenAIRefusals:
    async def test_accepted_history(self, raw_client: httpx.AsyncClient) -> None:
        body = _openai_history({"role": "tool", "tool_call_id": "call_1", "content": "42"})

        response = await raw_client.post("/v1/chat/completions", json=body)

        assert response.status_code == 200
        assert response.json()["choices"][0]["message"]["content"] == "Tool result: 42"

    @pytest.mark.parametrize(
        ("tail", "param", "words"),
        [
            ([{"role": "user", "content": "and?"}], "messages.[1].role", "call_1"),
            (
                [{"role": "tool", "tool_call_id": "call_9", "content": "1"}],
                "messages.[2].role",
                "'tool'",
            ),
            ([{"role": "tool", "content": "1"}], "messages.[2].tool_call_id", "tool_call_id"),
            ([], "messages.[1].role", "call_1"),
        ],
        ids=["unanswered", "unknown id", "no id", "last message unanswered"],
    )
    async def test_broken_history(
        self, raw_client: httpx.AsyncClient, tail: list[dict[str, Any]], param: str, words: str
    ) -> None:
        response = await raw_client.post("/v1/chat/completions", json=_openai_history(*tail))

        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["type"], error["param"]) == ("invalid_request_error", param)
        assert words in error["message"]
        assert response.headers["x-request-id"].startswith("req_")

    async def test_bad_tool_name(self, raw_client: httpx.AsyncClient) -> None:
        tools = [{"type": "function", "function": {"name": "no spaces allowed"}}]

        response = await raw_client.post(
            "/v1/chat/completions", json={"model": "gpt-4o", "messages": [QUESTION], "tools": tools}
        )

        assert response.status_code == 400
        assert response.json()["error"]["param"] == "tools[0].function.name"

    async def test_tool_choice_without_tools(self, raw_client: httpx.AsyncClient) -> None:
        response = await raw_client.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [QUESTION], "tool_choice": "auto"},
        )

        assert (response.status_code, response.json()["error"]["param"]) == (400, "tool_choice")


class TestAnthropicRefusals:
    async def test_accepted_history(self, raw_client: httpx.AsyncClient) -> None:
        body = _anthropic_history({"role": "user", "content": [_result("toolu_1")]})

        response = await raw_client.post("/v1/messages", json=body)

        assert response.status_code == 200
        assert response.json()["content"][0]["text"] == "Tool result: 42"

    @pytest.mark.parametrize(
        ("tail", "words"),
        [
            (
                [{"role": "user", "content": [_result("toolu_9")]}],
                "messages.2.content.0: unexpected",
            ),
            ([{"role": "user", "content": "and?"}], "messages.2: Did not find 1"),
            (
                [{"role": "user", "content": [{"type": "text", "text": "so"}, _result("toolu_1")]}],
                "messages.2: Did not find 1",
            ),
            (
                [
                    {"role": "user", "content": [_result("toolu_1")]},
                    {"role": "assistant", "content": "42."},
                    {"role": "user", "content": [_result("toolu_1")]},
                ],
                "messages.4.content.0: unexpected",
            ),
        ],
        ids=["unknown id", "no result", "text before the result", "result of an older turn"],
    )
    async def test_broken_history(
        self, raw_client: httpx.AsyncClient, tail: list[dict[str, Any]], words: str
    ) -> None:
        response = await raw_client.post("/v1/messages", json=_anthropic_history(*tail))

        assert response.status_code == 400
        body = response.json()
        assert (body["type"], body["error"]["type"]) == ("error", "invalid_request_error")
        assert body["error"]["message"].startswith(words)
        assert response.headers["request-id"].startswith("req_")

    async def test_results_split_over_two_messages(self, raw_client: httpx.AsyncClient) -> None:
        """Two calls, their results in separate user messages: the second call is unanswered."""
        body = _anthropic_history()
        body["messages"][1]["content"].append(
            {"type": "tool_use", "id": "toolu_2", "name": "search_documents", "input": {}}
        )
        body["messages"] += [
            {"role": "user", "content": [_result("toolu_1")]},
            {"role": "user", "content": [_result("toolu_2")]},
        ]

        response = await raw_client.post("/v1/messages", json=body)

        assert response.status_code == 400
        assert response.json()["error"]["message"].startswith("messages.2: Did not find 2")

    async def test_tool_without_input_schema(self, raw_client: httpx.AsyncClient) -> None:
        response = await raw_client.post(
            "/v1/messages",
            json={
                "model": "claude-haiku-4-5",
                "max_tokens": 10,
                "messages": [QUESTION],
                "tools": [{"name": "calculator"}],
            },
        )

        assert response.status_code == 400
        assert response.json()["error"]["message"] == "tools.0.custom.input_schema: Field required"


class TestScripts:
    def test_header_round_trip(self) -> None:
        header = tool_calls_header(*CALLS, ScriptedToolCall("calculator", "{bad", id="call_x"))

        reply = parse_scripted_reply(header[TOOL_CALLS_HEADER])

        assert reply == ScriptedReply((*CALLS, ScriptedToolCall("calculator", "{bad", "call_x")))

    def test_header_with_text(self) -> None:
        header = tool_calls_header(CALLS[0], text="Looking.")

        assert parse_scripted_reply(header[TOOL_CALLS_HEADER]) == ScriptedReply(
            (CALLS[0],), "Looking."
        )

    @pytest.mark.parametrize("header", ["not json", '{"tool_calls": 3}', '[{"arguments": {}}]'])
    def test_unreadable_header(self, header: str) -> None:
        with pytest.raises(ScriptError):
            parse_scripted_reply(header)

    async def test_unreadable_header_is_a_400(self, raw_client: httpx.AsyncClient) -> None:
        response = await raw_client.post(
            "/v1/messages",
            json={"model": "claude-haiku-4-5", "max_tokens": 10, "messages": [QUESTION]},
            headers={TOOL_CALLS_HEADER: "[{"},
        )

        assert response.status_code == 400
        assert TOOL_CALLS_HEADER in response.json()["error"]["message"]

    async def test_queue_answers_in_order_and_clear_drops_it(
        self, raw_client: httpx.AsyncClient, fake_upstream_script: RunningFakeUpstream
    ) -> None:
        fake_upstream_script.script_reply(
            ScriptedReply((CALLS[1],)),
            ScriptedReply(text="Scripted text."),
            ScriptedReply((CALLS[0],)),
        )
        body = {"model": "gpt-4o", "messages": [QUESTION]}

        first = (await raw_client.post("/v1/chat/completions", json=body)).json()
        second = (await raw_client.post("/v1/chat/completions", json=body)).json()
        fake_upstream_script.clear()
        third = (await raw_client.post("/v1/chat/completions", json=body)).json()

        assert first["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "calculator"
        assert second["choices"][0]["message"]["content"] == "Scripted text."
        assert third["choices"][0]["message"]["content"] == "Echo: pin uv, and 6*7?"
