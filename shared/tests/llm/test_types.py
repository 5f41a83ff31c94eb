"""The normalised request/response/stream types."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from genai_shared.llm.types import (
    ChatMessage,
    ChatRequest,
    StreamEnd,
    StreamEvent,
    TextDelta,
    Usage,
)


def test_usage_total_is_computed_and_serialised() -> None:
    usage = Usage(input_tokens=3, output_tokens=4)

    assert usage.total == 7
    assert usage.model_dump() == {
        "input_tokens": 3,
        "output_tokens": 4,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "cache_write_1h_tokens": 0,
        "total": 7,
    }


def test_cache_tokens_are_part_of_the_prompt_and_the_total() -> None:
    usage = Usage(
        input_tokens=10,
        cache_read_tokens=200,
        cache_write_tokens=30,
        cache_write_1h_tokens=12,
        output_tokens=4,
    )

    assert usage.prompt_tokens == 10 + 200 + 30  # the 1-hour writes are within the 30
    assert usage.total == usage.prompt_tokens + 4
    assert Usage.model_validate(usage.model_dump()) == usage


def test_one_hour_writes_cannot_exceed_the_writes() -> None:
    with pytest.raises(ValidationError, match="part of cache_write_tokens"):
        Usage(cache_write_tokens=1, cache_write_1h_tokens=2)


def test_stream_events_are_a_tagged_union() -> None:
    adapter: TypeAdapter[StreamEvent] = TypeAdapter(StreamEvent)

    delta = adapter.validate_python({"type": "text_delta", "text": "hi"})
    end = adapter.validate_python(
        {"type": "stream_end", "finish_reason": "stop", "usage": {}, "model": "m"}
    )

    assert delta == TextDelta(text="hi")
    assert isinstance(end, StreamEnd)


@pytest.mark.parametrize(
    "bad",
    [
        {"model": "m", "messages": []},
        {"model": "", "messages": [{"role": "user", "content": "x"}]},
        {"model": "m", "messages": [{"role": "robot", "content": "x"}]},
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0},
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 3},
    ],
)
def test_request_validation(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ChatRequest.model_validate(bad)


def test_finish_reason_is_normalised_vocabulary() -> None:
    with pytest.raises(ValidationError):
        StreamEnd(finish_reason="end_turn", usage=Usage(), model="m")  # type: ignore[arg-type]


def test_message_with_only_tool_calls() -> None:
    message = ChatMessage(role="assistant", tool_calls=[{"id": "c1", "name": "f"}])  # type: ignore[list-item]

    assert message.content is None
    assert message.tool_calls
    assert message.tool_calls[0].arguments == "{}"
