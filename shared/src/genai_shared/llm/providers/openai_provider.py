"""OpenAI chat completions through the official AsyncOpenAI client.

Also the base of the OpenRouter adapter (same wire format). The SDK's own retries are
off (`max_retries=0`): the fallback chain decides what to retry. OpenAI counts cached
prompt tokens inside `prompt_tokens`; `openai_usage` splits them out (see `Usage`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable, Mapping
from typing import Any

import httpx2
import openai
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import SecretStr

from genai_shared.llm.base import LLMProvider
from genai_shared.llm.errors import (
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    build_error,
    parse_retry_after,
)
from genai_shared.llm.providers.streamed_tool_calls import ToolCallAssembler
from genai_shared.llm.settings import ProviderSettings
from genai_shared.llm.tokens import count_messages, count_text
from genai_shared.llm.types import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    FinishReason,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)

_PLACEHOLDER_KEY = "not-needed"  # local OpenAI-compatible servers accept any key


def openai_finish_reason(value: str | None) -> FinishReason:
    """Normalise an OpenAI-format finish_reason (also used by OpenRouter and LiteLLM)."""
    mapping: dict[str, FinishReason] = {
        "stop": "stop",
        "length": "length",
        "tool_calls": "tool_calls",
        "function_call": "tool_calls",
        "content_filter": "content_filter",
    }
    return mapping.get(value or "", "error")


def openai_messages(messages: Iterable[ChatMessage]) -> list[dict[str, Any]]:
    """Our messages in the OpenAI chat format (also what LiteLLM takes).

    A tool message carries only its ``tool_call_id`` and text (the API takes no ``name``
    there and no null content); an assistant message with tool calls may have no text.
    """
    result: list[dict[str, Any]] = []
    for message in messages:
        item: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.role == "tool":
            item["tool_call_id"] = message.tool_call_id
            item["content"] = message.content or ""
        elif message.name:
            item["name"] = message.name
        if message.tool_calls:
            item["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in message.tool_calls
            ]
        result.append(item)
    return result


def openai_tool_params(request: ChatRequest) -> dict[str, Any]:
    """``tools`` and ``tool_choice`` for the request (empty without tools: the API
    rejects a ``tool_choice`` that comes without them)."""
    tools = openai_tools(request)
    if not tools:
        return {}
    if request.tool_choice is None:
        return {"tools": tools}
    return {"tools": tools, "tool_choice": request.tool_choice}


def openai_tools(request: ChatRequest) -> list[dict[str, Any]] | None:
    if not request.tools:
        return None
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
            },
        }
        for tool in request.tools
    ]


def map_openai_error(
    exc: Exception, *, provider: str, secrets: Iterable[str] = ()
) -> ProviderError:
    """Translate an openai SDK exception (or a parse failure) into our taxonomy."""
    if isinstance(exc, openai.APITimeoutError):
        return ProviderTimeout("the provider timed out", provider=provider)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderUnavailable("could not connect to the provider", provider=provider)
    if isinstance(exc, openai.APIResponseValidationError):
        return ProviderUnavailable(
            "the provider sent a malformed response",
            provider=provider,
            status_code=exc.status_code,
        )
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, Mapping) else {}
        return build_error(
            provider=provider,
            status_code=exc.status_code,
            error_type=_openai_error_type(exc.code, exc.type, exc.status_code),
            request_id=exc.request_id,
            retry_after=parse_retry_after(exc.response.headers),
            detail=str(body.get("message", "")) or None,
            secrets=secrets,
        )
    if isinstance(exc, openai.APIError):  # an error object inside a 200 stream
        return build_error(
            provider=provider,
            status_code=None,
            error_type=_openai_error_type(exc.code, exc.type, None) or "server_error",
            secrets=secrets,
        )
    if isinstance(exc, ValueError):  # json.JSONDecodeError, pydantic.ValidationError
        return ProviderUnavailable("the provider sent a malformed response", provider=provider)
    return ProviderUnavailable("unexpected provider failure", provider=provider)


def _openai_error_type(code: str | None, error_type: str | None, status: int | None) -> str | None:
    """`code` is the specific one (content_policy_violation, invalid_api_key, ...)."""
    specific = {"content_policy_violation", "content_filter", "invalid_api_key"}
    if code in specific:
        return code
    if status == 429:
        return "rate_limit_exceeded"
    return error_type or code


class OpenAIProvider(LLMProvider):
    """Chat completions against api.openai.com or any OpenAI-compatible base URL."""

    name = "openai"
    max_tokens_field = "max_completion_tokens"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout_seconds: float = 60.0,
        connect_timeout_seconds: float = 5.0,
        http_client: httpx2.AsyncClient | None = None,
        default_headers: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        if name:
            self.name = name
        self._api_key = api_key or _PLACEHOLDER_KEY
        self._owns_http_client = http_client is None
        self._client = openai.AsyncOpenAI(
            api_key=self._api_key,
            base_url=base_url,
            max_retries=0,
            timeout=httpx2.Timeout(timeout_seconds, connect=connect_timeout_seconds),
            http_client=http_client,
            default_headers=default_headers,
        )

    @classmethod
    def from_settings(
        cls, settings: ProviderSettings, *, http_client: httpx2.AsyncClient | None = None
    ) -> OpenAIProvider:
        return cls(
            api_key=_secret(settings.openai_api_key),
            base_url=settings.openai_base_url,
            timeout_seconds=settings.llm_timeout_seconds,
            connect_timeout_seconds=settings.llm_connect_timeout_seconds,
            http_client=http_client,
        )

    async def aclose(self) -> None:
        if self._owns_http_client:
            await self._client.close()

    def _error(self, exc: Exception) -> ProviderError:
        return map_openai_error(exc, provider=self.name, secrets=(self._api_key,))

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model,
            "messages": openai_messages(request.messages),
        }
        if request.max_tokens is not None:
            params[self.max_tokens_field] = request.max_tokens
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.stop:
            params["stop"] = request.stop
        params.update(openai_tool_params(request))
        if request.extra_headers:
            params["extra_headers"] = dict(request.extra_headers)
        return params

    async def complete(self, request: ChatRequest) -> ChatResponse:
        try:
            raw = await self._client.chat.completions.with_raw_response.create(
                **self._params(request)
            )
            completion: ChatCompletion = raw.parse()
            request_id = raw.headers.get("x-request-id")
        except (openai.OpenAIError, ValueError) as exc:
            # `from None`: the SDK exception's text can carry the upstream body.
            raise self._error(exc) from None
        if not completion.choices:
            raise ProviderUnavailable("the provider returned no choices", provider=self.name)
        choice = completion.choices[0]
        tool_calls = [
            ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments)
            for call in choice.message.tool_calls or ()
            if call.type == "function"
        ]
        return ChatResponse(
            content=choice.message.content or "",
            finish_reason=openai_finish_reason(choice.finish_reason),
            usage=openai_usage(completion.usage) if completion.usage else Usage(),
            provider=self.name,
            model=completion.model or request.model,
            request_id=request_id,
            tool_calls=tool_calls,
        )

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        try:
            stream: openai.AsyncStream[
                ChatCompletionChunk
            ] = await self._client.chat.completions.create(
                **self._params(request),
                stream=True,
                stream_options={"include_usage": True},
            )
        except (openai.OpenAIError, ValueError) as exc:
            raise self._error(exc) from None
        request_id = stream.response.headers.get("x-request-id")
        state = _ChunkAccumulator(model=request.model)
        try:
            try:
                async for chunk in stream:
                    for event in state.add(chunk):
                        yield event
            except (openai.OpenAIError, ValueError) as exc:
                raise self._error(exc) from None
            if state.finish_reason is None:
                raise ProviderUnavailable(
                    "the stream ended before the provider finished it", provider=self.name
                )
            yield StreamEnd(
                finish_reason=openai_finish_reason(state.finish_reason),
                usage=state.usage or estimate_usage(request, state.text),
                request_id=request_id,
                model=state.model,
                tool_calls=state.tool_calls(),
            )
        finally:
            await stream.close()


class _ChunkAccumulator:
    """Folds `chat.completion.chunk`s into text and tool-call deltas and the final facts."""

    def __init__(self, *, model: str) -> None:
        self.model = model
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self._calls = ToolCallAssembler()
        self._text: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self._text)

    def add(self, chunk: ChatCompletionChunk) -> list[TextDelta | ToolCallDelta]:
        if chunk.model:
            self.model = chunk.model
        if chunk.usage is not None:
            self.usage = openai_usage(chunk.usage)
        events: list[TextDelta | ToolCallDelta] = []
        for choice in chunk.choices[:1]:
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
            if text := choice.delta.content:
                self._text.append(text)
                events.append(TextDelta(text=text))
            for call in choice.delta.tool_calls or ():
                function = call.function
                delta = self._calls.add(
                    call.index,
                    id=call.id,
                    name=function.name if function else None,
                    arguments=(function.arguments if function else None) or "",
                )
                if delta is not None:
                    events.append(delta)
        return events

    def tool_calls(self) -> list[ToolCall]:
        return self._calls.calls()


def openai_usage(usage: CompletionUsage) -> Usage:
    """OpenAI-format usage as ours: the cached part of `prompt_tokens` taken out.

    `prompt_tokens_details.cached_tokens` (cache reads) are included in `prompt_tokens`;
    so are the `cache_write_tokens` OpenRouter reports when it caches for Anthropic models.
    """
    details = usage.prompt_tokens_details
    read = (details.cached_tokens if details else None) or 0
    write = (details.cache_write_tokens if details else None) or 0
    return Usage(
        input_tokens=max(usage.prompt_tokens - read - write, 0),
        output_tokens=usage.completion_tokens,
        cache_read_tokens=read,
        cache_write_tokens=write,
    )


def estimate_usage(request: ChatRequest, reply: str) -> Usage:
    """Local token counts, for a stream whose final usage chunk never came."""
    return Usage(
        input_tokens=count_messages(request.messages, request.model),
        output_tokens=count_text(reply, request.model),
    )


def _secret(value: SecretStr | None) -> str | None:
    """The plain value of an optional SecretStr."""
    return value.get_secret_value() if value is not None else None


__all__ = [
    "OpenAIProvider",
    "map_openai_error",
    "openai_finish_reason",
    "openai_messages",
    "openai_tool_params",
    "openai_tools",
    "openai_usage",
]
