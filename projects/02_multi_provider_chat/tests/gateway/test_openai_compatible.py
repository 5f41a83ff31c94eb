"""/v1/chat/completions and /v1/models, driven by the official ``openai`` SDK.

All from the shared contract: project 02 checks no caller key, so any string will do.
"""

from __future__ import annotations

import httpx

from genai_shared.testing.contracts import gateway


class TestOnEmbeddedDefaults(gateway.OnEmbeddedDefaultsContract):
    """The offline mock answers."""


class TestThroughTheFakeUpstream(gateway.ThroughTheFakeUpstreamContract):
    """OpenAI, Anthropic and OpenRouter, each through its real SDK to the fake upstream."""


async def test_no_caller_key_is_checked(default_gateway: gateway.Gateway) -> None:
    """Project 02 has no accounts yet: a request without ``Authorization`` is answered."""
    body = {"model": "mock/echo-1", "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(base_url=default_gateway.base_url, timeout=10) as client:
        response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "Echo: hi"
