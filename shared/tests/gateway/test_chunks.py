"""The chunk writer and the replay of a stored completion as a stream."""

from __future__ import annotations

import json

import pytest

from genai_shared.gateway.service import DONE, ChunkWriter, replay_chunks
from genai_shared.llm.types import Usage


def _payloads(chunks: list[bytes]) -> list[dict]:
    assert chunks[-1] == DONE
    return [json.loads(chunk.removeprefix(b"data: ")) for chunk in chunks[:-1]]


@pytest.mark.parametrize("include_usage", [False, True])
def test_a_replay_is_the_stream_the_writer_sent(include_usage):
    writer = ChunkWriter("mock/echo-1")
    usage = Usage(input_tokens=7, output_tokens=3)
    sent = [writer.role(), writer.content("Hel"), writer.content("lo"), writer.finish("length")]
    sent += [writer.usage(usage)] if include_usage else []
    sent.append(DONE)

    replayed = _payloads(replay_chunks(writer.completion("Hello", "length", usage), include_usage))
    original = _payloads(sent)

    assert {c["id"] for c in replayed} == {writer.id}
    assert {(c["created"], c["model"]) for c in replayed} == {(writer.created, "mock/echo-1")}
    assert replayed[0] == original[0]  # the role chunk
    assert replayed[1]["choices"][0]["delta"] == {"content": "Hello"}
    assert replayed[2:] == original[3:]  # finish (and usage) unchanged


def test_an_empty_reply_has_no_content_chunk():
    writer = ChunkWriter("m")
    chunks = _payloads(replay_chunks(writer.completion("", "stop", Usage()), False))
    assert [c["choices"][0]["delta"] for c in chunks] == [{"role": "assistant", "content": ""}, {}]
