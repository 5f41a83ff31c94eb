"""The gateway: OpenAI-format requests in, any configured provider behind, OpenAI out.

Two paths to the upstream:

- **relay**: when the chosen provider speaks OpenAI's format itself (OpenAI, OpenRouter,
  any OpenAI-compatible server), the validated body is forwarded and the answer passed
  through as bytes (``genai_shared.llm.relay``): no translation cost;
- **adapter**: otherwise (Anthropic, LiteLLM routes, the mock) the request goes through
  the provider layer's normalised types and SDK adapters, and the reply is rendered back
  in OpenAI's format.

Both keep the same promises: an upstream failure before the first byte is an HTTP error
with its real status; a stream that fails later ends with an OpenAI error chunk and no
``[DONE]`` (the official SDK raises it), and so does one still running at the drain
deadline when the server stops (``ServerShuttingDown``); a retriable failure falls back along
``LLM_FALLBACKS`` before anything was sent. Every call fills a ``CallRecord`` (provider,
model, usage, outcome, the attempts that failed over, and for streams what was sent) for
whoever keeps accounts, streams included, via ``on_end`` (``genai_shared.llm.calls``).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import anyio

from genai_shared.gateway.schemas import (
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
from genai_shared.llm.calls import Attempt, CallRecord, OnCallEnd, Outcome, Target
from genai_shared.llm.errors import ProviderError
from genai_shared.llm.fallback import FallbackChain, FallbackStream
from genai_shared.llm.http_errors import to_app_error
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.relay import OpenAIRelay, RelayStream
from genai_shared.llm.tokens import count_messages, count_text
from genai_shared.llm.types import (
    ChatRequest,
    ChatResponse,
    StreamEnd,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from genai_shared.web.drain import DrainDeadlineReached, drain_deadline


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
        usage=_wire_usage(reply.usage),
    )


def sse_data(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


class ChunkWriter:
    """OpenAI's ``chat.completion.chunk`` events of one streamed completion.

    Every chunk of a completion carries the same ``id``, ``created`` and ``model``; the
    sequence is a ``role`` chunk, ``content`` chunks, one ``finish`` chunk, an optional
    ``usage`` chunk (``stream_options.include_usage``), then ``DONE``.
    """

    def __init__(self, model: str, *, id: str | None = None, created: int | None = None) -> None:
        self.id = id or completion_id()
        self.created = int(time.time()) if created is None else created
        self.model = model

    def _base(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
        }

    def _choice(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return sse_data({**self._base(), "choices": [choice]})

    def role(self) -> bytes:
        return self._choice({"role": "assistant", "content": ""})

    def content(self, text: str) -> bytes:
        return self._choice({"content": text})

    def tool_call(self, delta: ToolCallDelta) -> bytes:
        """A fragment of a tool call, as OpenAI streams one (id and name in the first)."""
        call: dict[str, Any] = {"index": delta.index, "function": {"arguments": delta.arguments}}
        if delta.id is not None:
            call["id"], call["type"] = delta.id, "function"
        if delta.name is not None:
            call["function"]["name"] = delta.name
        return self._choice({"tool_calls": [call]})

    def finish(self, reason: str) -> bytes:
        return self._choice({}, finish=reason)

    def usage(self, usage: Usage) -> bytes:
        return sse_data({**self._base(), "choices": [], "usage": _wire_usage(usage).model_dump()})

    def completion(self, text: str, finish_reason: str, usage: Usage) -> ChatCompletion:
        """The non-streamed form of what this writer sent (same id and timestamp)."""
        return ChatCompletion(
            id=self.id,
            created=self.created,
            model=self.model,
            choices=[Choice(message=AssistantMessage(content=text), finish_reason=finish_reason)],
            usage=_wire_usage(usage),
        )


def replay_chunks(completion: ChatCompletion, include_usage: bool) -> list[bytes]:
    """A finished completion sent again as the chunk stream that first delivered it
    (an idempotent retry of a streamed call): one content chunk with the whole text."""
    writer = ChunkWriter(completion.model, id=completion.id, created=completion.created)
    choice = completion.choices[0]
    chunks = [writer.role()]
    if choice.message.content:
        chunks.append(writer.content(choice.message.content))
    chunks.append(writer.finish(choice.finish_reason))
    if include_usage:
        usage = completion.usage
        chunks.append(
            writer.usage(
                Usage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens)
            )
        )
    chunks.append(DONE)
    return chunks


def _wire_usage(usage: Usage) -> CompletionUsage:
    return CompletionUsage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.output_tokens,
        total_tokens=usage.total,
    )


def error_chunk(error: ProviderError) -> bytes:
    """OpenAI's in-stream error object; the official SDK raises it as an APIError."""
    app_error = to_app_error(error)
    return _error_chunk(app_error.error_type, app_error.message)


def _error_chunk(error_type: str, message: str) -> bytes:
    return sse_data({"error": {"message": message, "type": error_type, "code": None}})


SHUTTING_DOWN_CHUNK = _error_chunk(
    "ServerShuttingDown", "The server is restarting: retry the request."
)
"""The error chunk of a stream still running at the drain deadline."""


class Gateway:
    """The OpenAI-compatible service over a registry and the relays of OpenAI-format upstreams."""

    CHAIN_CACHE_SIZE = 256

    def __init__(self, registry: ProviderRegistry, relays: Mapping[str, OpenAIRelay]) -> None:
        self.registry = registry
        self.relays = dict(relays)
        self._chains: OrderedDict[str, FallbackChain] = OrderedDict()

    def _chain(self, model: str) -> FallbackChain:
        """The model's fallback chain, built once (chains keep no per-call state).

        Bounded, least recently used first out: model names come from callers.
        """
        chain = self._chains.get(model)
        if chain is not None:
            self._chains.move_to_end(model)
            return chain
        try:
            chain = self.registry.fallback_chain(model)
        except ProviderError as error:
            raise to_app_error(error) from error
        self._chains[model] = chain
        if len(self._chains) > self.CHAIN_CACHE_SIZE:
            self._chains.popitem(last=False)
        return chain

    @staticmethod
    def _rest_of(chain: FallbackChain) -> FallbackChain | None:
        """The chain without its first target (which the relay already tried)."""
        if len(chain.targets) < 2:
            return None
        return FallbackChain(chain.targets[1:], max_retry_wait=chain.max_retry_wait)

    @staticmethod
    def _upstream_body(
        body: ChatCompletionRequest, model: str, relay: OpenAIRelay
    ) -> dict[str, Any]:
        """The caller's (validated, allow-listed) body with the provider's own model name,
        and the token cap, if any, under the name this upstream reads."""
        payload = {**body.model_dump(exclude_none=True), "model": model}
        cap = payload.pop("max_completion_tokens", None) or payload.pop("max_tokens", None)
        if cap is not None:
            payload.pop("max_tokens", None)
            payload[relay.max_tokens_field] = cap
        return payload

    async def complete(
        self, body: ChatCompletionRequest, record: CallRecord | None = None
    ) -> ChatCompletion | dict[str, Any]:
        """A whole answer: the upstream's own JSON when relayed, else rendered here."""
        record = record or CallRecord()
        try:
            return await self._complete(body, record)
        finally:
            record.finish()

    async def _complete(
        self, body: ChatCompletionRequest, record: CallRecord
    ) -> ChatCompletion | dict[str, Any]:
        chain = self._chain(body.model)
        first = chain.targets[0]
        relay = self.relays.get(first.provider.name)
        if relay is not None:
            record.asking = first
            started = time.perf_counter()
            try:
                payload, usage = await relay.complete(self._upstream_body(body, first.model, relay))
            except ProviderError as error:
                rest = self._rest_of(chain) if error.retriable else None
                record.attempts.append(_attempt(first, started, error))
                record.asking = None
                if rest is None:
                    record.failed(error)
                    raise to_app_error(error) from error
                chain = rest
            except BaseException as error:
                record.failed(error)
                raise
            else:
                record.attempts.append(_attempt(first, started))
                record.asking = None
                record.usage = usage
                payload["model"] = body.model
                return payload
        try:
            result = await chain.complete(to_chat_request(body), record)
        except BaseException as error:
            record.failed(error)
            if isinstance(error, ProviderError):
                raise to_app_error(error) from error
            raise
        record.usage = result.response.usage
        return to_chat_completion(result.response, body.model)

    async def open_stream(
        self,
        body: ChatCompletionRequest,
        record: CallRecord | None = None,
        on_end: OnCallEnd | None = None,
    ) -> AsyncIterator[bytes]:
        """Open the upstream stream *before* answering: an early failure is a real status.

        ``on_end`` runs exactly once, when the call has ended however it ended (complete,
        an error before or during the stream, or the caller leaving, even before the first
        byte), with the record filled in; it is shielded from cancellation.
        """
        record = record or CallRecord()

        def prompt_tokens() -> int:
            # Counted only when the provider never reports usage (a broken or abandoned
            # stream): tokenizing every prompt up front would cost each request ~0.3 ms.
            return count_messages(to_chat_request(body).messages)

        async def give_up(error: BaseException) -> None:
            record.failed(error)
            if record.outcome is Outcome.CANCELLED:
                record.usage = Usage(input_tokens=prompt_tokens())
                record.usage_estimated = True
            with anyio.CancelScope(shield=True):
                await _finish(record, on_end)

        chain = self._chain(body.model)
        target = chain.targets[0]
        relay = self.relays.get(target.provider.name)
        if relay is not None:
            record.asking = target
            started = time.perf_counter()
            try:
                relayed = await relay.stream(self._upstream_body(body, target.model, relay))
            except ProviderError as error:
                rest = self._rest_of(chain) if error.retriable else None
                record.attempts.append(_attempt(target, started, error))
                record.asking = None
                if rest is None:
                    await give_up(error)
                    raise to_app_error(error) from error
                chain = rest
            except BaseException as error:
                await give_up(error)
                raise
            else:
                return self._relayed(relayed, record, target, started, prompt_tokens, on_end)
        stream = chain.stream(to_chat_request(body), record)
        try:
            first = await anext(stream)
        except BaseException as error:
            with anyio.CancelScope(shield=True):
                await stream.aclose()
            await give_up(error)
            if isinstance(error, ProviderError):
                raise to_app_error(error) from error
            raise
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return self._rendered(
            stream, first, body.model, include_usage, record, prompt_tokens, on_end
        )

    async def _relayed(
        self,
        stream: RelayStream,
        record: CallRecord,
        target: Target,
        started: float,
        prompt_tokens: Callable[[], int],
        on_end: OnCallEnd | None,
    ) -> AsyncIterator[bytes]:
        try:
            while True:
                async with drain_deadline():
                    chunk = await anext(stream, None)
                if chunk is None:
                    break
                yield chunk
            record.usage = stream.usage or Usage()
            record.attempts.append(_attempt(target, started))
            record.asking = None
        except ProviderError as error:
            record.failed(error)
            record.attempts.append(_attempt(target, started, error))
            record.asking = None
            yield error_chunk(error)
        except DrainDeadlineReached as error:
            record.failed(error)  # the target was still being asked
            yield SHUTTING_DOWN_CHUNK
        except (asyncio.CancelledError, GeneratorExit) as error:
            record.failed(error, Outcome.CANCELLED)
            raise
        finally:
            record.completion_id, record.created = stream.id, stream.created
            record.text, record.finish_reason = stream.text, stream.finish_reason
            if record.outcome is not Outcome.COMPLETE or stream.usage is None:
                record.usage = stream.usage or Usage(
                    input_tokens=prompt_tokens(), output_tokens=count_text(stream.text)
                )
                record.usage_estimated = stream.usage is None
            with anyio.CancelScope(shield=True):
                await stream.aclose()
                await _finish(record, on_end)

    async def _rendered(
        self,
        stream: FallbackStream,
        first: Any,
        model: str,
        include_usage: bool,
        record: CallRecord,
        prompt_tokens: Callable[[], int],
        on_end: OnCallEnd | None,
    ) -> AsyncIterator[bytes]:
        """OpenAI's chunk sequence: role, content deltas, finish, optional usage, ``[DONE]``."""
        writer = ChunkWriter(model)
        record.completion_id, record.created = writer.id, writer.created
        text: list[str] = []
        ended = False
        try:
            yield writer.role()
            event = first
            while True:
                if isinstance(event, TextDelta):
                    text.append(event.text)
                    yield writer.content(event.text)
                elif isinstance(event, ToolCallDelta):
                    yield writer.tool_call(event)
                elif isinstance(event, StreamEnd):
                    ended = True
                    record.usage, record.finish_reason = event.usage, event.finish_reason
                    yield writer.finish(event.finish_reason)
                    if include_usage:
                        yield writer.usage(event.usage)
                    yield DONE
                    return
                async with drain_deadline():
                    event = await anext(stream)
        except ProviderError as error:
            record.failed(error)
            yield error_chunk(error)
        except DrainDeadlineReached as error:
            record.failed(error)
            yield SHUTTING_DOWN_CHUNK
        except (asyncio.CancelledError, GeneratorExit) as error:
            record.failed(error, Outcome.CANCELLED)
            raise
        finally:
            record.text = "".join(text)
            if not ended:
                record.usage = Usage(
                    input_tokens=prompt_tokens(), output_tokens=count_text(record.text)
                )
                record.usage_estimated = True
            with anyio.CancelScope(shield=True):
                await stream.aclose()
                await _finish(record, on_end)

    def targets(self, model: str) -> list[Target]:
        """The targets a call for ``model`` may reach, in order (422 for an unknown model)."""
        return list(self._chain(model).targets)

    def list_models(self) -> ModelList:
        return ModelList(
            data=[ModelCard(id=m.id, owned_by=m.provider) for m in self.registry.list_models()]
        )

    async def aclose(self) -> None:
        for relay in self.relays.values():
            await relay.aclose()


def _attempt(target: Target, started: float, error: ProviderError | None = None) -> Attempt:
    """An attempt of the relay path (which calls one target itself, outside a chain)."""
    return Attempt(
        provider=target.provider.name,
        model=target.model,
        duration_s=time.perf_counter() - started,
        error_type=type(error).__name__ if error else None,
        target_index=0,
    )


async def _finish(record: CallRecord, on_end: OnCallEnd | None) -> None:
    record.finish()
    if on_end is not None:
        await on_end(record)
