"""A byte-level relay to OpenAI-compatible upstreams, for the OpenAI-compatible gateway.

When a caller already speaks the OpenAI wire format and the upstream does too (OpenAI,
OpenRouter, vLLM, Ollama ...), translating through the SDK's object model and back costs
two or three milliseconds of CPU per call for nothing. The relay forwards the validated
request body and passes the upstream's answer through, over one pooled ``aiohttp``
session, while still doing what the gateway owes its callers:

- every upstream failure becomes the same ``ProviderError`` taxonomy the SDK adapters
  raise (status and error type only; the upstream body never reaches a message);
- a stream that breaks off (no ``[DONE]``) or carries an error chunk raises instead of
  ending quietly;
- usage is captured (the relay always asks for ``include_usage`` and hides that chunk
  from callers who did not ask for it), so callers can account for every call.

The SDK adapters stay the path for everything that needs translation (Anthropic, the
chat API's normalised types, tools across formats).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp

from genai_shared.llm.errors import (
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    build_error,
    parse_retry_after,
)
from genai_shared.llm.settings import ProviderSettings
from genai_shared.llm.types import Usage

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"


def usage_of(payload: Any) -> Usage | None:
    if not isinstance(payload, dict):
        return None
    usage = payload.get("usage")
    if not isinstance(usage, dict):
        return None
    # The cached part of prompt_tokens is billed at its own rate: take it out, as the SDK
    # adapter does (``openai_usage``), without paying for a model parse on the hot path.
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    read = int(details.get("cached_tokens") or 0)
    write = int(details.get("cache_write_tokens") or 0)
    return Usage(
        input_tokens=max(int(usage.get("prompt_tokens") or 0) - read - write, 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        cache_read_tokens=read,
        cache_write_tokens=write,
    )


class RelayStream:
    """The upstream's SSE chunks, re-emitted as ``data: ...`` events; ``usage`` at the end.

    What was relayed is noted on the way (the completion's ``id`` and ``created``, the
    text, the finish reason), so a caller can account for the call or send it again.
    """

    def __init__(self, response: aiohttp.ClientResponse, relay: OpenAIRelay, forward_usage: bool):
        self._response = response
        self._relay = relay
        self._forward_usage = forward_usage
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.id: str | None = None
        self.created: int | None = None
        self._text: list[str] = []
        self._events = self._run()

    @property
    def text(self) -> str:
        """The reply text relayed so far (to estimate usage when a stream breaks off)."""
        return "".join(self._text)

    def __aiter__(self) -> RelayStream:
        return self

    async def __anext__(self) -> bytes:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        await self._events.aclose()
        self._response.release()

    async def _run(self) -> AsyncGenerator[bytes, None]:
        try:
            async for raw in self._response.content:
                line = raw.strip()
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    yield b"data: [DONE]\n\n"
                    return
                try:
                    chunk = json.loads(data)
                except ValueError:
                    raise self._relay.broken("the provider sent a malformed stream event") from None
                if isinstance(chunk, dict) and "error" in chunk:
                    error = chunk["error"] if isinstance(chunk["error"], dict) else {}
                    raise build_error(
                        provider=self._relay.provider,
                        status_code=None,
                        error_type=error.get("type") or error.get("code"),
                    )
                usage = usage_of(chunk)
                if usage is not None:
                    self.usage = usage
                if self.id is None and isinstance(chunk, dict):
                    self.id, self.created = chunk.get("id"), chunk.get("created")
                choices = chunk.get("choices") if isinstance(chunk, dict) else None
                if choices:
                    delta = choices[0].get("delta") or {}
                    if isinstance(delta.get("content"), str):
                        self._text.append(delta["content"])
                    if choices[0].get("finish_reason"):
                        self.finish_reason = choices[0]["finish_reason"]
                if usage is not None and not choices and not self._forward_usage:
                    continue
                yield b"data: " + data + b"\n\n"
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self._relay.transport_error(exc) from None
        raise self._relay.broken("the provider's stream ended before [DONE]")


class OpenAIRelay:
    """One upstream that speaks OpenAI's Chat Completions format."""

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        api_key: str | None,
        timeout_seconds: float,
        connect_timeout_seconds: float,
        headers: dict[str, str] | None = None,
        max_tokens_field: str = "max_tokens",
    ) -> None:
        self.provider = provider
        # Where this upstream reads the reply's token cap: OpenAI's newer models refuse
        # ``max_tokens``; most other OpenAI-compatible servers only know that one.
        self.max_tokens_field = max_tokens_field
        self.url = base_url.rstrip("/") + "/chat/completions"
        self._secrets = (api_key,) if api_key else ()
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout_seconds, sock_read=timeout_seconds
        )
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def for_provider(cls, name: str, settings: ProviderSettings) -> OpenAIRelay | None:
        """The relay for a configured OpenAI-format provider, or None."""
        timeout, connect = settings.llm_timeout_seconds, settings.llm_connect_timeout_seconds
        if name == "openai" and settings.openai_configured():
            key = settings.openai_api_key
            return cls(
                provider="openai",
                base_url=settings.openai_base_url or OPENAI_DEFAULT_BASE_URL,
                api_key=key.get_secret_value() if key else None,
                timeout_seconds=timeout,
                connect_timeout_seconds=connect,
                max_tokens_field="max_completion_tokens",
            )
        if name == "openrouter" and settings.openrouter_configured():
            key = settings.openrouter_api_key
            return cls(
                provider="openrouter",
                base_url=settings.openrouter_base_url,
                api_key=key.get_secret_value() if key else None,
                headers={
                    "HTTP-Referer": settings.openrouter_site_url,
                    "X-Title": settings.openrouter_app_name,
                },
                timeout_seconds=timeout,
                connect_timeout_seconds=connect,
            )
        return None

    @classmethod
    def all_configured(cls, settings: ProviderSettings) -> dict[str, OpenAIRelay]:
        """A relay for each configured OpenAI-format provider, by provider name."""
        relays = {name: cls.for_provider(name, settings) for name in ("openai", "openrouter")}
        return {name: relay for name, relay in relays.items() if relay is not None}

    def __repr__(self) -> str:
        return f"OpenAIRelay(provider={self.provider!r}, url={self.url!r})"

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def broken(self, what: str) -> ProviderUnavailable:
        return ProviderUnavailable(what, provider=self.provider)

    def transport_error(self, exc: BaseException) -> ProviderError:
        if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
            return ProviderTimeout("the provider timed out", provider=self.provider)
        return ProviderUnavailable(
            f"could not reach the provider ({type(exc).__name__})", provider=self.provider
        )

    async def _post(self, body: dict[str, Any]) -> aiohttp.ClientResponse:
        try:
            response = await self._client().post(
                self.url, data=json.dumps(body).encode(), headers=self._headers
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self.transport_error(exc) from None
        if response.status >= 400:
            try:
                raw = await response.read()
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise self.transport_error(exc) from None
            finally:
                response.release()
            raise self._http_error(response, raw)
        return response

    def _http_error(self, response: aiohttp.ClientResponse, raw: bytes) -> ProviderError:
        error_type: str | None = None
        detail: str | None = None
        try:
            payload = json.loads(raw)
            error = payload.get("error") if isinstance(payload, dict) else None
            if isinstance(error, dict):
                # The code is the more specific of the two ("invalid_api_key" on a 401
                # whose type is the generic "invalid_request_error").
                error_type = error.get("code") or error.get("type")
                detail = error.get("message")
        except ValueError:
            pass
        return build_error(
            provider=self.provider,
            status_code=response.status,
            error_type=error_type if isinstance(error_type, str) else None,
            request_id=response.headers.get("x-request-id"),
            retry_after=parse_retry_after(dict(response.headers)),
            detail=detail if isinstance(detail, str) else None,
            secrets=self._secrets,
        )

    async def complete(self, body: dict[str, Any]) -> tuple[dict[str, Any], Usage]:
        """POST a non-streaming request; return the upstream's JSON and its usage."""
        response = await self._post({**body, "stream": False})
        try:
            raw = await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self.transport_error(exc) from None
        finally:
            response.release()
        try:
            payload = json.loads(raw)
        except ValueError:
            raise self.broken("the provider sent a malformed response") from None
        if not isinstance(payload, dict) or not payload.get("choices"):
            raise self.broken("the provider sent a response without choices")
        return payload, usage_of(payload) or Usage()

    async def stream(self, body: dict[str, Any]) -> RelayStream:
        """Open a stream. HTTP errors raise here, before any byte goes to the caller."""
        options = body.get("stream_options") or {}
        forward_usage = bool(options.get("include_usage"))
        upstream_body = {**body, "stream": True, "stream_options": {"include_usage": True}}
        response = await self._post(upstream_body)
        return RelayStream(response, self, forward_usage)
