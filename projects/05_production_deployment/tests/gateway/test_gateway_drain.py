"""A gateway stream still running when the server stops: at the drain deadline it ends as
a broken OpenAI stream does (an error chunk, no ``[DONE]``: the official SDK raises it),
not cut off by the server's grace period, and its call is settled in the usage ledger."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import select

from genai_shared.llm.providers.mock_provider import MockProvider, MockScript
from genai_shared.llm.registry import ProviderRegistry
from production_deployment.usage.models import UsageRecord

BODY = {
    "model": "mock/echo-1",
    "messages": [{"role": "user", "content": "talk for a while"}],
    "stream": True,
}


@pytest.fixture
def llm_registry() -> ProviderRegistry:
    # 100 words at 50 ms: far longer than the drain (it begins at 0.5 s, for 0.3 s).
    slow = MockProvider(MockScript(reply=" ".join(["word"] * 100), chunk_delay=0.05))
    return ProviderRegistry({"mock": slow})


def _begin_drain(app: Any) -> None:
    asyncio.get_running_loop().call_later(0.5, app.state.drain.begin, 0.3)


async def test_the_stream_ends_with_an_error_chunk_and_is_settled(app, client):
    _begin_drain(app)
    response = await asyncio.wait_for(client.post("/v1/chat/completions", json=BODY), 20)

    assert response.status_code == 200, response.text
    data = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert "[DONE]" not in data
    chunks = [json.loads(item) for item in data]
    assert any(c.get("choices") and c["choices"][0]["delta"].get("content") for c in chunks)
    assert chunks[-1]["error"]["type"] == "ServerShuttingDown"
    async with app.state.db.transaction() as session:
        rows = list(
            await session.scalars(
                select(UsageRecord).where(
                    UsageRecord.request_id == response.headers["x-request-id"]
                )
            )
        )
    assert [(r.route, r.status, r.error_type) for r in rows] == [
        ("gateway", "error", "DrainDeadlineReached")
    ]
    assert rows[0].usage_estimated is True
    assert rows[0].output_tokens > 0  # the words sent before the deadline


async def test_the_openai_sdk_raises_it(app, client, user):
    _begin_drain(app)
    sdk = openai.AsyncOpenAI(
        api_key=user.tokens["access_token"],
        base_url=f"{client.base_url}/v1",
        http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=app)),
        max_retries=0,
    )
    async with sdk:
        stream = await sdk.chat.completions.create(**BODY)
        with pytest.raises(openai.APIError, match="restarting"):
            async for _ in stream:
                pass
