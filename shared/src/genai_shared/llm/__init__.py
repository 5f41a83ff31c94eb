"""The LLM provider layer: one request/response shape and one error taxonomy over
OpenAI, Anthropic, OpenRouter, LiteLLM and an offline mock.

    registry = ProviderRegistry.from_settings(ProviderSettings())
    reply = await registry.complete(ChatRequest(model="mock/echo-1", messages=[...]))
"""

from genai_shared.llm.base import LLMProvider
from genai_shared.llm.errors import (
    AuthenticationFailed,
    ContentFiltered,
    InvalidRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from genai_shared.llm.fallback import Attempt, FallbackChain, FallbackResult, FallbackStream, Target
from genai_shared.llm.pricing import cost_usd, estimate_cost
from genai_shared.llm.registry import ModelInfo, ProviderRegistry
from genai_shared.llm.settings import ProviderSettings
from genai_shared.llm.types import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolSpec,
    Usage,
)

__all__ = [
    "Attempt",
    "AuthenticationFailed",
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "ContentFiltered",
    "FallbackChain",
    "FallbackResult",
    "FallbackStream",
    "InvalidRequest",
    "LLMProvider",
    "ModelInfo",
    "ProviderError",
    "ProviderRegistry",
    "ProviderSettings",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimited",
    "StreamEnd",
    "StreamEvent",
    "Target",
    "TextDelta",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "ToolSpec",
    "Usage",
    "cost_usd",
    "estimate_cost",
]
