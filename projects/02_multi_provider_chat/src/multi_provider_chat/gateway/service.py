"""Translate between the OpenAI wire format and the provider layer, both ways."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import anyio

from genai_shared.llm.errors import ProviderError
from genai_shared.llm.fallback import FallbackChain, FallbackStream
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.relay import OpenAIRelay, RelayStream
from genai_shared.llm.types import ChatRequest, ChatResponse, StreamEnd, TextDelta
from multi_provider_chat.gateway.schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    CompletionUsage,
    FunctionCall,
    ModelCard,
    ModelList,
    ToolCallIn,
)
from multi_provider_chat.llm.exceptions import to_app_error


def to_chat_request(body: ChatCompletionRequest) -> ChatRequest:
    return ChatRequest(
        model=body.model,
        messages=[m.to_chat_message() for m in body.messages],
        max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature,
        stop=body.stop_list(),
        tools=[t.to_spec() for t in body.tools] if body.tools else None,
    )


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def to_chat_completion(reply: ChatResponse, model: str) -> ChatCompletion:
    tool_calls = [
        ToolCallIn(id=c.id, function=FunctionCall(name=c.name, arguments=c.arguments))
        for c in reply.tool_calls
    ]
    return ChatCompletion(
        id=completion_id(),
        created=int(time.time()),
        model=model,
        choices=[
            Choice(
                message=AssistantMessage(content=reply.content, tool_calls=tool_calls or None),
                finish_reason=reply.finish_reason,
            )
        ],
        usage=CompletionUsage(
            prompt_tokens=reply.usage.input_tokens,
            completion_tokens=reply.usage.output_tokens,
            total_tokens=reply.usage.total,
        ),
    )


Relays = Mapping[str, OpenAIRelay]


def _chain(registry: ProviderRegistry, model: str) -> FallbackChain:
    try:
        return registry.fallback_chain(model)
    except ProviderError as error:
        raise to_app_error(error) from error


def _upstream_body(body: ChatCompletionRequest, model: str) -> dict[str, Any]:
    """The caller's (validated, allow-listed) body with the provider's own model name."""
    return {**body.model_dump(exclude_none=True), "model": model}


def _rest_of(chain: FallbackChain) -> FallbackChain | None:
    """The chain without its first target (which the relay already tried)."""
    if len(chain.targets) < 2:
        return None
    return FallbackChain(chain.targets[1:], max_retry_wait=chain.max_retry_wait)


async def complete(
    registry: ProviderRegistry, relays: Relays, body: ChatCompletionRequest
) -> ChatCompletion | dict[str, Any]:
    """Answer a non-streaming request: relayed as bytes when the upstream speaks OpenAI."""
    chain = _chain(registry, body.model)
    first = chain.targets[0]
    relay = relays.get(first.provider.name)
    if relay is not None:
        try:
            payload, _usage = await relay.complete(_upstream_body(body, first.model))
        except ProviderError as error:
            rest = _rest_of(chain) if error.retriable else None
            if rest is None:
                raise to_app_error(error) from error
            chain = rest
        else:
            payload["model"] = body.model
            return payload
    try:
        result = await chain.complete(to_chat_request(body))
    except ProviderError as error:
        raise to_app_error(error) from error
    return to_chat_completion(result.response, body.model)


def _data(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


async def open_stream(
    registry: ProviderRegistry, relays: Relays, body: ChatCompletionRequest
) -> AsyncIterator[bytes]:
    """Open the upstream stream before answering, so an early failure is a real status."""
    chain = _chain(registry, body.model)
    target = chain.targets[0]
    relay = relays.get(target.provider.name)
    if relay is not None:
        try:
            relayed = await relay.stream(_upstream_body(body, target.model))
        except ProviderError as error:
            rest = _rest_of(chain) if error.retriable else None
            if rest is None:
                raise to_app_error(error) from error
            chain = rest
        else:
            return _relayed_chunks(relayed)
    stream = chain.stream(to_chat_request(body))
    try:
        first = await anext(stream)
    except ProviderError as error:
        await stream.aclose()
        raise to_app_error(error) from error
    except BaseException:
        await stream.aclose()
        raise
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return _chunks(stream, first, body.model, include_usage)


async def _chunks(
    stream: FallbackStream, first: Any, model: str, include_usage: bool
) -> AsyncIterator[bytes]:
    """OpenAI's chunk sequence: role, content deltas, finish, optional usage, ``[DONE]``.

    A failure mid-stream sends OpenAI's error object as a chunk and no ``[DONE]``, which
    the official SDK raises as an error instead of returning a short answer.
    """
    base = {"id": completion_id(), "object": "chat.completion.chunk", "created": int(time.time())}
    base["model"] = model

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return _data({**base, "choices": [choice]})

    try:
        yield chunk({"role": "assistant", "content": ""})
        event = first
        while True:
            if isinstance(event, TextDelta):
                yield chunk({"content": event.text})
            elif isinstance(event, StreamEnd):
                yield chunk({}, finish=event.finish_reason)
                if include_usage:
                    usage = {
                        "prompt_tokens": event.usage.input_tokens,
                        "completion_tokens": event.usage.output_tokens,
                        "total_tokens": event.usage.total,
                    }
                    yield _data({**base, "choices": [], "usage": usage})
                yield b"data: [DONE]\n\n"
                return
            event = await anext(stream)
    except ProviderError as error:
        yield _error_chunk(error)
    finally:
        with anyio.CancelScope(shield=True):
            await stream.aclose()


def _error_chunk(error: ProviderError) -> bytes:
    app_error = to_app_error(error)
    return _data(
        {"error": {"message": app_error.message, "type": app_error.error_type, "code": None}}
    )


async def _relayed_chunks(stream: RelayStream) -> AsyncIterator[bytes]:
    try:
        async for chunk in stream:
            yield chunk
    except ProviderError as error:
        yield _error_chunk(error)
    finally:
        with anyio.CancelScope(shield=True):
            await stream.aclose()


def list_models(registry: ProviderRegistry) -> ModelList:
    return ModelList(data=[ModelCard(id=m.id, owned_by=m.provider) for m in registry.list_models()])
