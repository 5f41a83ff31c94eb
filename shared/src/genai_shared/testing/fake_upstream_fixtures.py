"""Pytest fixtures for the fake OpenAI + Anthropic upstream.

Loaded by the genai_shared plugin, or explicitly with
`pytest -p genai_shared.testing.fake_upstream_fixtures`.

    async def test_reply(fake_upstream, fake_upstream_requests):
        client = openai.AsyncOpenAI(base_url=fake_upstream.openai_base_url, api_key="sk-test")
        ...
        assert fake_upstream_requests[0].path == "/v1/chat/completions"
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from genai_shared.testing.fake_upstream import (
    RecordedRequest,
    RunningFakeUpstream,
    serve_in_thread,
)


@pytest.fixture(scope="session")
def fake_upstream() -> Iterator[RunningFakeUpstream]:
    """One fake upstream for the whole session, on a free loopback port."""
    with serve_in_thread() as upstream:
        yield upstream


@pytest.fixture
def fake_upstream_requests(fake_upstream: RunningFakeUpstream) -> list[RecordedRequest]:
    """The fake upstream's request log, emptied before this test."""
    fake_upstream.clear()
    return fake_upstream.requests
