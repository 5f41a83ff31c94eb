"""/v1/chat/completions and /v1/models, driven by the official ``openai`` SDK.

All from the shared contract: project 02 checks no caller key, so any string will do.
"""

from __future__ import annotations

from genai_shared.testing.contracts import gateway


class TestOnEmbeddedDefaults(gateway.OnEmbeddedDefaultsContract):
    """The offline mock answers."""


class TestThroughTheFakeUpstream(gateway.ThroughTheFakeUpstreamContract):
    """OpenAI, Anthropic and OpenRouter, each through its real SDK to the fake upstream."""
