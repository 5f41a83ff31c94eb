"""Any provider litellm supports, through `litellm.acompletion`.

Model names are litellm's own (`openai/gpt-4o`, `anthropic/claude-haiku-4-5`,
`openrouter/openai/gpt-4o`); the api_base and api_key for openai, anthropic and
openrouter come from our settings, other providers use litellm's own environment variables.

litellm is imported on first use, not at module import: `import litellm` takes seconds.
litellm caches the HTTP clients it creates in a process-wide cache that is never closed,
so for the providers we configure this adapter creates the clients itself (an AsyncOpenAI
for openai, litellm's AsyncHTTPHandler for anthropic and openrouter), hands them to
litellm with `client=`, and closes them in `aclose()`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import httpx
from pydantic import SecretStr

from genai_shared.llm.base import LLMProvider
from genai_shared.llm.errors import (
    ContentFiltered,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    describe,
    parse_retry_after,
)
from genai_shared.llm.providers.openai_provider import (
    estimate_usage,
    map_openai_error,
    openai_finish_reason,
    openai_messages,
    openai_tool_params,
)
from genai_shared.llm.providers.streamed_tool_calls import ToolCallAssembler
from genai_shared.llm.settings import ProviderSettings
from genai_shared.llm.types import (
    ChatRequest,
    ChatResponse,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)

_OPENAI_SDK_ROUTES = frozenset({"openai"})
_HTTP_HANDLER_ROUTES = frozenset({"anthropic", "openrouter"})


def import_litellm() -> Any:
    """Import litellm offline and quietly.

    LITELLM_LOCAL_MODEL_COST_MAP / LITELLM_OFFLINE_MODE keep it on its bundled price map,
    tokenizers and header configs instead of fetching them from GitHub at run time;
    `suppress_debug_info` drops the "Give Feedback / Get Help" banner it prints on errors.
    """
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


@dataclass(frozen=True)
class LiteLLMRoute:
    """Where litellm sends one upstream provider's calls."""

    api_base: str | None = None
    api_key: str | None = None
    headers: Mapping[str, str] | None = None


def routes_from_settings(settings: ProviderSettings) -> dict[str, LiteLLMRoute]:
    def plain(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None

    routes: dict[str, LiteLLMRoute] = {}
    if settings.openai_configured():
        routes["openai"] = LiteLLMRoute(settings.openai_base_url, plain(settings.openai_api_key))
    if settings.anthropic_configured():
        routes["anthropic"] = LiteLLMRoute(
            settings.anthropic_base_url, plain(settings.anthropic_api_key)
        )
    if settings.openrouter_configured():
        routes["openrouter"] = LiteLLMRoute(
            settings.openrouter_base_url,
            plain(settings.openrouter_api_key),
            {"HTTP-Referer": settings.openrouter_site_url, "X-Title": settings.openrouter_app_name},
        )
    return routes


def map_litellm_error(exc: Exception, *, provider: str, secrets: tuple[str, ...]) -> ProviderError:
    """litellm's exceptions subclass openai's; only a few need their own reading."""
    import_litellm()
    from litellm import exceptions as litellm_errors

    if isinstance(exc, litellm_errors.MidStreamFallbackError):
        original = getattr(exc, "original_exception", None)
        if isinstance(original, Exception) and original is not exc:
            return map_litellm_error(original, provider=provider, secrets=secrets)
        return ProviderUnavailable("the stream broke off", provider=provider)
    if isinstance(exc, litellm_errors.ContentPolicyViolationError):
        return ContentFiltered(
            describe("the provider's content filter blocked the request", "content_policy"),
            provider=provider,
            status_code=getattr(exc, "status_code", None),
        )
    error = map_openai_error(exc, provider=provider, secrets=secrets)
    if isinstance(error, RateLimited) and error.retry_after is None:
        # litellm's Anthropic path keeps the upstream headers here, not on `response`.
        headers = getattr(exc, "litellm_response_headers", None)
        error.retry_after = parse_retry_after(dict(headers) if headers else None)
    return error


class LiteLLMProvider(LLMProvider):
    name = "litellm"

    def __init__(
        self,
        *,
        routes: Mapping[str, LiteLLMRoute] | None = None,
        timeout_seconds: float = 60.0,
        connect_timeout_seconds: float = 5.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._routes = dict(routes or {})
        self._timeout = httpx.Timeout(timeout_seconds, connect=connect_timeout_seconds)
        self._http_client = http_client
        self._clients: dict[str, Any] = {}

    @classmethod
    def from_settings(
        cls, settings: ProviderSettings, *, http_client: httpx.AsyncClient | None = None
    ) -> LiteLLMProvider:
        return cls(
            routes=routes_from_settings(settings),
            timeout_seconds=settings.llm_timeout_seconds,
            connect_timeout_seconds=settings.llm_connect_timeout_seconds,
            http_client=http_client,
        )

    def _secrets(self) -> tuple[str, ...]:
        return tuple(route.api_key for route in self._routes.values() if route.api_key)

    def _client_for(self, upstream: str) -> Any:
        """The client this adapter owns for `upstream`, created on first use."""
        if upstream in self._clients:
            return self._clients[upstream]
        route = self._routes.get(upstream, LiteLLMRoute())
        client: Any = None
        if upstream in _OPENAI_SDK_ROUTES:
            import httpx2
            import openai

            client = openai.AsyncOpenAI(
                api_key=route.api_key or "not-needed",
                base_url=route.api_base,
                max_retries=0,
                timeout=httpx2.Timeout(**self._timeout.as_dict()),
                # The SDK takes an httpx (not only httpx2) client; its annotation lags.
                http_client=cast(Any, self._http_client),
            )
        elif upstream in _HTTP_HANDLER_ROUTES:
            import_litellm()
            from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

            client = AsyncHTTPHandler(timeout=self._timeout)
            if self._http_client is not None:
                client.client = self._http_client  # litellm then leaves it open on close()
        self._clients[upstream] = client
        return client

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for upstream, client in clients.items():
            if client is None:
                continue
            # AsyncOpenAI.close() would also close an injected http_client; the
            # AsyncHTTPHandler only closes a client it created.
            if upstream in _OPENAI_SDK_ROUTES and self._http_client is not None:
                continue
            await client.close()

    def _params(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        upstream = request.model.split("/", 1)[0]
        route = self._routes.get(upstream, LiteLLMRoute())
        headers = {**(route.headers or {}), **request.extra_headers}
        params: dict[str, Any] = {
            "model": request.model,
            "messages": openai_messages(request.messages),
            "timeout": self._timeout,
            "num_retries": 0,
            "max_retries": 0,
        }
        if route.api_base:
            params["api_base"] = route.api_base
        if route.api_key:
            params["api_key"] = route.api_key
        if (client := self._client_for(upstream)) is not None:
            params["client"] = client
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.stop:
            params["stop"] = request.stop
        params.update(openai_tool_params(request))
        if headers:
            params["extra_headers"] = headers
        if stream:
            params["stream"] = True
            params["stream_options"] = {"include_usage": True}
        return params

    async def complete(self, request: ChatRequest) -> ChatResponse:
        litellm = import_litellm()
        try:
            response = await litellm.acompletion(**self._params(request, stream=False))
        except Exception as exc:
            raise map_litellm_error(exc, provider=self.name, secrets=self._secrets()) from None
        if not response.choices:
            raise ProviderUnavailable("the provider returned no choices", provider=self.name)
        choice = response.choices[0]
        usage = getattr(response, "usage", None)
        return ChatResponse(
            content=choice.message.content or "",
            finish_reason=openai_finish_reason(choice.finish_reason),
            usage=litellm_usage(usage) if usage is not None else Usage(),
            provider=self.name,
            model=str(response.model or request.model),
            request_id=_request_id(getattr(response, "_hidden_params", None)),
            tool_calls=[
                ToolCall(
                    id=call.id,
                    name=call.function.name or "",
                    arguments=call.function.arguments or "{}",
                )
                for call in choice.message.tool_calls or ()
            ],
        )

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        litellm = import_litellm()
        try:
            wrapper = await litellm.acompletion(**self._params(request, stream=True))
        except Exception as exc:
            raise map_litellm_error(exc, provider=self.name, secrets=self._secrets()) from None
        finish_reason: str | None = None
        usage: Usage | None = None
        model = request.model
        pieces: list[str] = []
        calls = ToolCallAssembler()
        try:
            try:
                async for chunk in wrapper:
                    model = str(getattr(chunk, "model", None) or model)
                    chunk_usage = getattr(chunk, "usage", None)
                    if chunk_usage is not None:
                        usage = litellm_usage(chunk_usage)
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    finish_reason = choice.finish_reason or finish_reason
                    if text := choice.delta.content:
                        pieces.append(text)
                        yield TextDelta(text=text)
                    tool_deltas = getattr(choice.delta, "tool_calls", None) or ()
                    for position, call in enumerate(tool_deltas):
                        if delta := _tool_call_delta(calls, position, call):
                            yield delta
            except Exception as exc:
                raise map_litellm_error(exc, provider=self.name, secrets=self._secrets()) from None
            if finish_reason is None:
                raise ProviderUnavailable(
                    "the stream ended before the provider finished it", provider=self.name
                )
            yield StreamEnd(
                finish_reason=openai_finish_reason(finish_reason),
                usage=usage or estimate_usage(request, "".join(pieces)),
                request_id=_request_id(getattr(wrapper, "_hidden_params", None)),
                model=model,
                tool_calls=calls.calls(),
            )
        finally:
            await wrapper.aclose()


def _tool_call_delta(calls: ToolCallAssembler, position: int, call: Any) -> ToolCallDelta | None:
    """One of litellm's OpenAI-shaped tool-call deltas (its `index` may be missing)."""
    index = getattr(call, "index", None)
    function = getattr(call, "function", None)
    return calls.add(
        index if isinstance(index, int) else position,
        id=getattr(call, "id", None),
        name=getattr(function, "name", None),
        arguments=getattr(function, "arguments", None) or "",
    )


def litellm_usage(usage: Any) -> Usage:
    """litellm's usage (OpenAI-shaped for every upstream) as ours.

    Its `prompt_tokens` include the cache traffic, also for Anthropic, whose counts it
    moves into `prompt_tokens_details`: `cached_tokens` (reads), `cache_creation_tokens`
    (writes) and `cache_creation_token_details` (the writes by time to live).
    """
    details = getattr(usage, "prompt_tokens_details", None)
    read = _count(details, "cached_tokens")
    write = _count(details, "cache_creation_tokens") or _count(details, "cache_write_tokens")
    by_ttl = getattr(details, "cache_creation_token_details", None)
    return Usage(
        input_tokens=max(_count(usage, "prompt_tokens") - read - write, 0),
        output_tokens=_count(usage, "completion_tokens"),
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_1h_tokens=min(_count(by_ttl, "ephemeral_1h_input_tokens"), write),
    )


def _count(holder: object, name: str) -> int:
    value = getattr(holder, name, None)
    return value if isinstance(value, int) else 0


def _request_id(hidden_params: object) -> str | None:
    """The upstream's request id, from the response headers litellm keeps."""
    if not isinstance(hidden_params, Mapping):
        return None
    headers = hidden_params.get("additional_headers") or {}
    for key in ("llm_provider-x-request-id", "llm_provider-request-id"):
        if isinstance(headers, Mapping) and headers.get(key):
            return str(headers[key])
    return None
