"""Anthropic Messages API through the official AsyncAnthropic client.

Differences from the OpenAI format handled here: system messages go in `system`,
`max_tokens` is required (default from settings), tool results are `tool_result` blocks
at the start of the user turn that follows the assistant's `tool_use` blocks (all the
results of one turn in that one message), and the stream is a sequence of typed events
(message_start carries the input and prompt-cache usage, message_delta the stop reason,
the output usage and, in newer API versions, the input and cache counts again;
message_stop ends it). Anthropic's `input_tokens` exclude cache reads and writes, which
is what `Usage.input_tokens` means. anthropic>=1.0 dropped `temperature` from
`messages.create()`; the API still accepts it on models that support sampling, so it
travels in `extra_body` when a caller sets it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Iterable, Mapping
from typing import Any

import anthropic
import httpx2
from anthropic.types import Message, MessageDeltaUsage, RawMessageStreamEvent
from anthropic.types import Usage as AnthropicUsage
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

_PLACEHOLDER_KEY = "not-needed"
_STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def anthropic_finish_reason(value: str | None) -> FinishReason:
    return _STOP_REASONS.get(value or "", "error")


def split_system(messages: Iterable[ChatMessage]) -> tuple[str, list[dict[str, Any]]]:
    """Lift system messages into Anthropic's `system` and convert the rest.

    Consecutive tool messages become one user message of `tool_result` blocks, and a user
    message right after them joins it as a text block after the results: Anthropic wants
    every result of an assistant turn in the next message, results first.
    """
    system: list[str] = []
    converted: list[dict[str, Any]] = []
    for message in messages:
        results = _open_results(converted)
        if message.role == "system":
            if message.content:
                system.append(message.content)
        elif message.role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id or "",
                "content": message.content or "",
            }
            if results is not None:
                results.append(block)
            else:
                converted.append({"role": "user", "content": [block]})
        elif message.role == "user" and results is not None and message.content:
            results.append({"type": "text", "text": message.content})
        elif message.role == "assistant" and message.tool_calls:
            blocks: list[dict[str, Any]] = []
            if message.content:
                blocks.append({"type": "text", "text": message.content})
            blocks.extend(
                {
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.name,
                    "input": _json_object(call.arguments),
                }
                for call in message.tool_calls
            )
            converted.append({"role": "assistant", "content": blocks})
        else:
            converted.append({"role": message.role, "content": message.content or ""})
    return "\n\n".join(system), converted


def _open_results(converted: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The blocks of the last converted message if it is a user turn of tool results
    (which the next tool result or user text joins), else None."""
    if not converted or converted[-1]["role"] != "user":
        return None
    blocks = converted[-1]["content"]
    if isinstance(blocks, list) and blocks and blocks[0].get("type") == "tool_result":
        return blocks
    return None


def anthropic_tool_choice(choice: str | None) -> dict[str, str] | None:
    """Our `tool_choice` in Anthropic's shape (`required` is its `any`)."""
    if choice is None:
        return None
    return {"type": "any" if choice == "required" else choice}


def _json_object(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _error_type_of(body: object) -> str | None:
    """`{"type": "error", "error": {"type": "overloaded_error", ...}}` -> the inner type."""
    if isinstance(body, Mapping):
        inner = body.get("error")
        if isinstance(inner, Mapping) and isinstance(inner.get("type"), str):
            return str(inner["type"])
    return None


def _error_message_of(body: object) -> str | None:
    if isinstance(body, Mapping):
        inner = body.get("error")
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return None


def map_anthropic_error(
    exc: Exception, *, provider: str, secrets: Iterable[str] = ()
) -> ProviderError:
    """Translate an anthropic SDK exception (or a parse failure) into our taxonomy."""
    if isinstance(exc, anthropic.APITimeoutError):
        return ProviderTimeout("the provider timed out", provider=provider)
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderUnavailable("could not connect to the provider", provider=provider)
    if isinstance(exc, anthropic.APIResponseValidationError):
        return ProviderUnavailable(
            "the provider sent a malformed response",
            provider=provider,
            status_code=exc.status_code,
        )
    if isinstance(exc, anthropic.APIStatusError):
        error_type = _error_type_of(exc.body)
        detail = _error_message_of(exc.body)
        if detail and "content filtering" in detail.lower():
            error_type = "content_filter"
        # A mid-stream `event: error` arrives on a 200 response: classify by its type.
        status = exc.status_code if exc.status_code >= 400 else None
        return build_error(
            provider=provider,
            status_code=status,
            error_type=error_type,
            request_id=exc.request_id,
            retry_after=parse_retry_after(exc.response.headers),
            detail=detail,
            secrets=secrets,
        )
    if isinstance(exc, ValueError):  # json.JSONDecodeError, pydantic.ValidationError
        return ProviderUnavailable("the provider sent a malformed response", provider=provider)
    return ProviderUnavailable("unexpected provider failure", provider=provider)


class AnthropicProvider(LLMProvider):
    name = "anthropic"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout_seconds: float = 60.0,
        connect_timeout_seconds: float = 5.0,
        default_max_tokens: int = 1024,
        http_client: httpx2.AsyncClient | None = None,
    ) -> None:
        self._api_key = api_key or _PLACEHOLDER_KEY
        self._default_max_tokens = default_max_tokens
        self._owns_http_client = http_client is None
        self._client = anthropic.AsyncAnthropic(
            api_key=self._api_key,
            base_url=base_url,
            max_retries=0,
            timeout=httpx2.Timeout(timeout_seconds, connect=connect_timeout_seconds),
            http_client=http_client,
        )

    @classmethod
    def from_settings(
        cls, settings: ProviderSettings, *, http_client: httpx2.AsyncClient | None = None
    ) -> AnthropicProvider:
        key: SecretStr | None = settings.anthropic_api_key
        return cls(
            api_key=key.get_secret_value() if key else None,
            base_url=settings.anthropic_base_url,
            timeout_seconds=settings.llm_timeout_seconds,
            connect_timeout_seconds=settings.llm_connect_timeout_seconds,
            default_max_tokens=settings.llm_default_max_tokens,
            http_client=http_client,
        )

    async def aclose(self) -> None:
        if self._owns_http_client:
            await self._client.close()

    def _error(self, exc: Exception) -> ProviderError:
        return map_anthropic_error(exc, provider=self.name, secrets=(self._api_key,))

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        system, messages = split_system(request.messages)
        params: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "max_tokens": request.max_tokens or self._default_max_tokens,
        }
        if system:
            params["system"] = system
        if request.stop:
            params["stop_sequences"] = request.stop
        if request.tools:
            params["tools"] = [
                {
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": tool.parameters,
                }
                for tool in request.tools
            ]
            if choice := anthropic_tool_choice(request.tool_choice):
                params["tool_choice"] = choice
        if request.temperature is not None:
            params["extra_body"] = {"temperature": request.temperature}
        if request.extra_headers:
            params["extra_headers"] = dict(request.extra_headers)
        return params

    async def complete(self, request: ChatRequest) -> ChatResponse:
        try:
            raw = await self._client.messages.with_raw_response.create(**self._params(request))
            message: Message = await raw.parse()
        except (anthropic.AnthropicError, ValueError) as exc:
            raise self._error(exc) from None
        text = "".join(block.text for block in message.content if block.type == "text")
        tool_calls = [
            ToolCall(id=block.id, name=block.name, arguments=json.dumps(block.input))
            for block in message.content
            if block.type == "tool_use"
        ]
        return ChatResponse(
            content=text,
            finish_reason=anthropic_finish_reason(message.stop_reason),
            usage=anthropic_usage(message.usage),
            provider=self.name,
            model=message.model or request.model,
            request_id=raw.headers.get("request-id"),
            tool_calls=tool_calls,
        )

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        try:
            stream: anthropic.AsyncStream[
                RawMessageStreamEvent
            ] = await self._client.messages.create(**self._params(request), stream=True)
        except (anthropic.AnthropicError, ValueError) as exc:
            raise self._error(exc) from None
        state = _EventAccumulator(model=request.model)
        try:
            try:
                async for event in stream:
                    if delta := state.add(event):
                        yield delta
            except (anthropic.AnthropicError, ValueError) as exc:
                raise self._error(exc) from None
            if not state.stopped:
                raise ProviderUnavailable(
                    "the stream ended before message_stop", provider=self.name
                )
            yield StreamEnd(
                finish_reason=anthropic_finish_reason(state.stop_reason),
                usage=state.usage(),
                request_id=stream.response.headers.get("request-id"),
                model=state.model,
                tool_calls=state.tool_calls(),
            )
        finally:
            await stream.close()


def anthropic_usage(usage: AnthropicUsage) -> Usage:
    """Anthropic's usage as ours: its `input_tokens` already leave the cache tokens out."""
    return _CacheCounts.of(usage).usage(usage.input_tokens, usage.output_tokens)


class _CacheCounts:
    """The prompt-cache counts of an Anthropic usage object.

    `cache_creation_input_tokens` is every write; the newer `cache_creation` splits it by
    time to live (5 minutes, 1 hour). Only the `message_start` usage carries that split.
    """

    def __init__(self, *, read: int = 0, write: int = 0, write_1h: int = 0) -> None:
        self.read, self.write, self.write_1h = read, write, write_1h

    @classmethod
    def of(cls, usage: AnthropicUsage) -> _CacheCounts:
        split = usage.cache_creation
        write_1h = split.ephemeral_1h_input_tokens if split is not None else 0
        write = usage.cache_creation_input_tokens
        if write is None:
            write = split.ephemeral_5m_input_tokens + write_1h if split is not None else 0
        return cls(read=usage.cache_read_input_tokens or 0, write=write, write_1h=write_1h)

    def update(self, usage: MessageDeltaUsage) -> None:
        """Take the cumulative counts a `message_delta` may repeat."""
        if usage.cache_read_input_tokens is not None:
            self.read = usage.cache_read_input_tokens
        if usage.cache_creation_input_tokens is not None:
            self.write = usage.cache_creation_input_tokens

    def usage(self, input_tokens: int | None, output_tokens: int) -> Usage:
        return Usage(
            input_tokens=input_tokens or 0,
            output_tokens=output_tokens,
            cache_read_tokens=self.read,
            cache_write_tokens=self.write,
            cache_write_1h_tokens=min(self.write_1h, self.write),
        )


class _EventAccumulator:
    """Folds the raw stream events into text and tool-call deltas and the final facts.

    A `tool_use` block opens with its id and name (`content_block_start`), its input
    arrives as `input_json_delta` fragments of JSON text, and `content_block_stop`
    closes it; the fragments joined are the call's arguments.
    """

    def __init__(self, *, model: str) -> None:
        self.model = model
        self.stop_reason: str | None = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.cache = _CacheCounts()
        self.stopped = False
        self._calls = ToolCallAssembler()
        self._tool_blocks: set[int] = set()

    def add(self, event: RawMessageStreamEvent) -> TextDelta | ToolCallDelta | None:
        if event.type == "message_start":
            self.model = event.message.model or self.model
            self.input_tokens = event.message.usage.input_tokens
            self.output_tokens = event.message.usage.output_tokens
            self.cache = _CacheCounts.of(event.message.usage)
        elif event.type == "content_block_start":
            block = event.content_block
            if block.type == "tool_use":
                self._tool_blocks.add(event.index)
                return self._calls.add(event.index, id=block.id, name=block.name)
        elif event.type == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta":
                return TextDelta(text=delta.text) if delta.text else None
            if delta.type == "input_json_delta" and event.index in self._tool_blocks:
                return self._calls.add(event.index, arguments=delta.partial_json)
        elif event.type == "message_delta":
            self.stop_reason = event.delta.stop_reason or self.stop_reason
            self.output_tokens = event.usage.output_tokens  # cumulative, like the rest
            if event.usage.input_tokens is not None:
                self.input_tokens = event.usage.input_tokens
            self.cache.update(event.usage)
        elif event.type == "message_stop":
            self.stopped = True
        return None

    def usage(self) -> Usage:
        return self.cache.usage(self.input_tokens, self.output_tokens)

    def tool_calls(self) -> list[ToolCall]:
        return self._calls.calls()
