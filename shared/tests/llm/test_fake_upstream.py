"""The fake upstream's wire formats, checked by the real SDKs (strictly) and byte by byte."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import anthropic
import httpx
import openai
import pytest

from genai_shared.testing.fake_upstream import (
    FAKE_OPENAI_KEY,
    RecordedRequest,
    RunningFakeUpstream,
    parse_faults,
    split_chunks,
)

MESSAGES = [{"role": "user", "content": "hello there"}]


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


class TestOpenAIFormat:
    async def test_strict_sdk_parses_a_completion(self, openai_client: openai.AsyncOpenAI) -> None:
        completion = await openai_client.chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,  # type: ignore[arg-type]
        )

        assert completion.object == "chat.completion"
        assert completion.choices[0].message.content == "Echo: hello there"
        assert completion.usage is not None
        assert completion.usage.total_tokens == (
            completion.usage.prompt_tokens + completion.usage.completion_tokens
        )

    async def test_sdk_stream_helper_accumulates_the_chunks(
        self, openai_client: openai.AsyncOpenAI
    ) -> None:
        async with openai_client.chat.completions.stream(
            model="gpt-4o",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream_options={"include_usage": True},
        ) as stream:
            final = await stream.get_final_completion()

        assert final.choices[0].message.content == "Echo: hello there"
        assert final.choices[0].finish_reason == "stop"
        assert final.usage is not None
        assert final.usage.completion_tokens == 4

    async def test_models_list(self, openai_client: openai.AsyncOpenAI) -> None:
        page = await openai_client.models.list()

        assert "gpt-4o" in [model.id for model in page.data]

    async def test_raw_stream_bytes(self, raw_client: httpx.AsyncClient) -> None:
        body = {
            "model": "gpt-4o",
            "messages": MESSAGES,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        response = await raw_client.post("/v1/chat/completions", json=body)

        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-request-id"].startswith("req_")
        frames = response.text.split("\n\n")
        assert frames[-2:] == ["data: [DONE]", ""]
        chunks = [json.loads(frame.removeprefix("data: ")) for frame in frames[:-2]]
        assert all(frame.startswith("data: {") for frame in frames[:-2])
        assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
        assert chunks[-1]["choices"] == []
        assert chunks[-1]["usage"]["completion_tokens"] == 4
        assert all(chunk["usage"] is None for chunk in chunks[:-1])

    async def test_no_usage_chunk_unless_asked(self, raw_client: httpx.AsyncClient) -> None:
        response = await raw_client.post(
            "/v1/chat/completions", json={"model": "gpt-4o", "messages": MESSAGES, "stream": True}
        )

        chunks = [json.loads(f[6:]) for f in response.text.split("\n\n")[:-2]]
        assert all("usage" not in chunk for chunk in chunks)

    async def test_rate_limit_error_shape(self, raw_client: httpx.AsyncClient) -> None:
        response = await raw_client.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o", "messages": MESSAGES},
            headers={"X-Fake-Fault": "rate_limit=2"},
        )

        assert response.status_code == 429
        assert response.headers["retry-after"] == "2"
        assert response.headers["retry-after-ms"] == "2000"
        assert response.json()["error"]["code"] == "rate_limit_exceeded"

    async def test_server_error_echoes_the_credential(self, raw_client: httpx.AsyncClient) -> None:
        response = await raw_client.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o@fault=server_error", "messages": MESSAGES},
            headers={"Authorization": "Bearer sk-echo-me"},
        )

        assert response.status_code == 500
        assert "sk-echo-me" in response.text  # what our adapters must scrub


class TestAnthropicFormat:
    async def test_strict_sdk_parses_a_message(
        self, anthropic_client: anthropic.AsyncAnthropic
    ) -> None:
        message = await anthropic_client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=50,
            messages=MESSAGES,  # type: ignore[arg-type]
        )

        assert message.content[0].type == "text"
        assert message.content[0].text == "Echo: hello there"
        assert message.stop_reason == "end_turn"
        assert message.usage.output_tokens == 4

    async def test_sdk_stream_helper_accumulates_the_events(
        self, anthropic_client: anthropic.AsyncAnthropic
    ) -> None:
        async with anthropic_client.messages.stream(
            model="claude-haiku-4-5",
            max_tokens=50,
            messages=MESSAGES,  # type: ignore[arg-type]
        ) as stream:
            final = await stream.get_final_message()

        assert final.content[0].type == "text"
        assert final.content[0].text == "Echo: hello there"
        assert final.stop_reason == "end_turn"
        assert final.usage.output_tokens == 4

    async def test_raw_stream_bytes(self, raw_client: httpx.AsyncClient) -> None:
        response = await raw_client.post(
            "/v1/messages",
            json={
                "model": "claude-haiku-4-5",
                "max_tokens": 50,
                "messages": MESSAGES,
                "stream": True,
            },
        )

        assert response.headers["request-id"].startswith("req_")
        frames = [f for f in response.text.split("\n\n") if f]
        names = [f.split("\n")[0].removeprefix("event: ") for f in frames]
        assert names == [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
        assert frames[-1] == 'event: message_stop\ndata: {"type":"message_stop"}'
        delta = json.loads(frames[-2].split("\n")[1].removeprefix("data: "))
        assert delta["delta"]["stop_reason"] == "end_turn"
        assert delta["usage"] == {"output_tokens": 4}

    async def test_error_event_mid_stream(self, raw_client: httpx.AsyncClient) -> None:
        response = await raw_client.post(
            "/v1/messages",
            json={
                "model": "claude-haiku-4-5@fault=error_event_after=1",
                "max_tokens": 50,
                "messages": MESSAGES,
                "stream": True,
            },
        )

        last = [f for f in response.text.split("\n\n") if f][-1]
        assert last.startswith("event: error\ndata: ")
        assert json.loads(last.split("data: ", 1)[1])["error"]["type"] == "overloaded_error"

    async def test_max_tokens_is_required(self, raw_client: httpx.AsyncClient) -> None:
        response = await raw_client.post(
            "/v1/messages", json={"model": "claude-haiku-4-5", "messages": MESSAGES}
        )

        assert response.status_code == 400
        assert response.json()["error"]["type"] == "invalid_request_error"


CACHE_SCRIPT = "cache_read=5,cache_write=3,cache_write_1h=2"
LONG_PROMPT = [{"role": "user", "content": "a prompt long enough to cache " * 4}]


class TestPromptCacheReports:
    """`cache_*` scripts report part of the prompt as cache traffic, in each wire format."""

    async def test_anthropic_message(self, anthropic_client: anthropic.AsyncAnthropic) -> None:
        plain = await anthropic_client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=50,
            messages=LONG_PROMPT,  # type: ignore[arg-type]
        )
        cached = await anthropic_client.messages.create(
            model=f"claude-haiku-4-5@fault={CACHE_SCRIPT}",
            max_tokens=50,
            messages=LONG_PROMPT,  # type: ignore[arg-type]
        )

        usage = cached.usage
        assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (5, 5)
        assert usage.cache_creation is not None
        assert usage.cache_creation.ephemeral_5m_input_tokens == 3
        assert usage.cache_creation.ephemeral_1h_input_tokens == 2
        assert usage.input_tokens == plain.usage.input_tokens - 10
        assert plain.usage.cache_read_input_tokens is None  # nothing scripted, nothing reported

    async def test_anthropic_stream_frames(self, raw_client: httpx.AsyncClient) -> None:
        response = await raw_client.post(
            "/v1/messages",
            json={
                "model": "claude-haiku-4-5",
                "max_tokens": 50,
                "messages": LONG_PROMPT,
                "stream": True,
            },
            headers={"X-Fake-Fault": CACHE_SCRIPT},
        )

        frames = [f for f in response.text.split("\n\n") if f]
        data = {
            f.split("\n")[0].removeprefix("event: "): json.loads(f.split("\n")[1][6:])
            for f in frames
        }
        start = data["message_start"]["message"]["usage"]
        delta = data["message_delta"]["usage"]
        assert start["cache_creation"] == {
            "ephemeral_5m_input_tokens": 3,
            "ephemeral_1h_input_tokens": 2,
        }
        assert (start["cache_read_input_tokens"], start["cache_creation_input_tokens"]) == (5, 5)
        assert "cache_creation" not in delta  # only message_start splits the writes by TTL
        assert {k: v for k, v in delta.items() if k != "output_tokens"} == {
            "input_tokens": start["input_tokens"],
            "cache_read_input_tokens": 5,
            "cache_creation_input_tokens": 5,
        }

    async def test_anthropic_stream_through_the_sdk(
        self, anthropic_client: anthropic.AsyncAnthropic
    ) -> None:
        async with anthropic_client.messages.stream(
            model=f"claude-haiku-4-5@fault={CACHE_SCRIPT}",
            max_tokens=50,
            messages=LONG_PROMPT,  # type: ignore[arg-type]
        ) as stream:
            final = await stream.get_final_message()

        assert final.usage.cache_read_input_tokens == 5
        assert final.usage.cache_creation_input_tokens == 5

    async def test_openai_keeps_cached_tokens_inside_prompt_tokens(
        self, openai_client: openai.AsyncOpenAI
    ) -> None:
        plain = await openai_client.chat.completions.create(
            model="gpt-4o",
            messages=LONG_PROMPT,  # type: ignore[arg-type]
        )
        cached = await openai_client.chat.completions.create(
            model="gpt-4o@fault=cache_read=6",
            messages=LONG_PROMPT,  # type: ignore[arg-type]
        )

        assert plain.usage is not None
        assert cached.usage is not None
        assert cached.usage.prompt_tokens == plain.usage.prompt_tokens
        assert cached.usage.prompt_tokens_details is not None
        assert cached.usage.prompt_tokens_details.cached_tokens == 6
        assert cached.usage.prompt_tokens_details.cache_write_tokens is None

    async def test_openai_stream_usage_chunk(self, openai_client: openai.AsyncOpenAI) -> None:
        async with openai_client.chat.completions.stream(
            model="gpt-4o@fault=cache_read=6,cache_write=2",
            messages=LONG_PROMPT,  # type: ignore[arg-type]
            stream_options={"include_usage": True},
        ) as stream:
            final = await stream.get_final_completion()

        assert final.usage is not None
        details = final.usage.prompt_tokens_details
        assert details is not None
        assert (details.cached_tokens, details.cache_write_tokens) == (6, 2)

    async def test_counts_are_clamped_to_the_prompt(self, raw_client: httpx.AsyncClient) -> None:
        response = await raw_client.post(
            "/v1/messages",
            json={"model": "claude-haiku-4-5", "max_tokens": 50, "messages": LONG_PROMPT},
            headers={"X-Fake-Fault": "cache_read=100000,cache_write=7"},
        )

        usage = response.json()["usage"]
        assert usage["input_tokens"] == 0
        assert usage["cache_creation_input_tokens"] == 0
        assert usage["cache_read_input_tokens"] > 0


class TestRequestLog:
    async def test_log_hides_secrets(
        self, raw_client: httpx.AsyncClient, fake_upstream_requests: list[RecordedRequest]
    ) -> None:
        await raw_client.post(
            "/v1/messages",
            json={
                "model": "claude-haiku-4-5@fault=slow_drip=1",
                "max_tokens": 5,
                "messages": MESSAGES,
            },
            headers={"x-api-key": "sk-ant-secret", "X-Trace": "t-1"},
        )

        [entry] = fake_upstream_requests
        assert entry.method == "POST"
        assert entry.path == "/v1/messages"
        assert entry.headers["x-api-key"] == "[redacted]"
        assert entry.headers["x-trace"] == "t-1"
        assert entry.fault == "slow_drip=1"
        assert entry.body["max_tokens"] == 5


def test_parse_faults() -> None:
    model, faults = parse_faults("slow_drip=5", "gpt-4o@fault=truncate_after=2,overloaded")

    assert model == "gpt-4o"
    assert faults.values == {"slow_drip": "5", "truncate_after": "2", "overloaded": None}


def test_split_chunks_round_trips() -> None:
    text = "  Echo:  two  spaces\nnew line "

    assert "".join(split_chunks(text)) == text


def test_runs_as_a_module() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "genai_shared.testing.fake_upstream", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        assert response.status_code == 200
        assert response.json()["object"] == "list"
    finally:
        process.terminate()
        process.wait(timeout=10)
