"""A fake OpenAI + Anthropic upstream that speaks both providers' real wire formats.

The real SDKs (openai, anthropic, and litellm on top of them) talk to it over loopback
HTTP, so tests exercise the same parsing, streaming and error paths as production.

Endpoints
    POST /v1/chat/completions, GET /v1/models   OpenAI format (also under /api/v1, the
                                                path OpenRouter uses)
    POST /v1/messages                           Anthropic format
    POST /v1/embeddings                         OpenAI format (vectors: fake_embedding)

The reply is deterministic: "Echo: <last user text>"; "Tool result: <content>" for each
tool result the request ends with; a call of the first tool offered, with
`{"query": <last user text>}`, when the request offers tools and ends with the user's
question (`tool_choice` none / required / a named tool is honoured). Usage is a real
tiktoken count. `max_tokens` truncates the reply (finish_reason length / max_tokens) and
`stop` sequences cut it.

Scripted tool calls (`fake_upstream_tools`): the `X-Fake-Tool-Calls` header, or
`RunningFakeUpstream.script_tool_calls(...)` for the next request, makes the reply a set
of tool calls (optionally after some text), in each format's exact shape: OpenAI's
`message.tool_calls` / streamed `delta.tool_calls[index]` with the arguments in
fragments; Anthropic's `tool_use` blocks / `content_block_start`, `input_json_delta`
fragments and `content_block_stop` per block. Tools and the tool-call history of every
request are checked as the real APIs check them (a result must answer a call of the
assistant turn just before it; every call must be answered): 400 in the API's format.

Scripted faults, chosen per request by the `X-Fake-Fault` header or a model-name suffix
(`gpt-4o@fault=rate_limit`), comma-separated, some with a value (`truncate_after=2`):
    rate_limit[=seconds]   429 with Retry-After, in the provider's error JSON
    server_error           500 whose body echoes the Authorization / x-api-key received
    overloaded             529 overloaded_error (Anthropic) / 503 (OpenAI)
    hang[=seconds]         sleep (default 30 s) until the client gives up
    malformed_json         200 with a broken body (or a broken stream event)
    truncate_after=N       stream ends after N text deltas, without final events / [DONE]
    error_event_after=N    after N deltas an Anthropic `event: error` / OpenAI error chunk
    slow_drip=ms           delay before every streamed text delta
    auth_error             401
    bad_request            400
    content_policy         400 content-policy rejection
    content_filter         finish_reason content_filter / stop_reason refusal

Prompt-cache reports, through the same channel (the reply itself does not change):
    cache_read=N           N of the prompt's tokens were read from the prompt cache
    cache_write=N          N were written to it (Anthropic: the 5-minute cache)
    cache_write_1h=N       N were written to Anthropic's 1-hour cache
Each is clamped to the prompt tokens left. Anthropic then reports `input_tokens` without
them plus `cache_read_input_tokens`, `cache_creation_input_tokens` and the `cache_creation`
split (in message_start; message_delta repeats the cumulative counts); the OpenAI format
keeps them inside `prompt_tokens` and adds `prompt_tokens_details.cached_tokens` (and, as
OpenRouter does, `cache_write_tokens`).

Run it on its own with `python -m genai_shared.testing.fake_upstream --port 8900`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import math
import re
import socket
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from genai_shared.llm.settings import ProviderSettings
from genai_shared.llm.tokens import count_text, truncate_to_tokens
from genai_shared.testing.fake_upstream_tools import (
    TOOL_CALLS_HEADER,
    HistoryError,
    ScriptedReply,
    ScriptedToolCall,
    ScriptError,
    anthropic_request_error,
    openai_request_error,
    parse_scripted_reply,
)

FAULT_HEADER = "x-fake-fault"
# Test credentials: the server_error fault echoes them back, so tests can assert they
# never leak into our errors. Not real keys.
FAKE_OPENAI_KEY = "sk-test-openai-S3CRET-0123456789"
FAKE_ANTHROPIC_KEY = "sk-ant-test-S3CRET-0123456789"
FAKE_OPENROUTER_KEY = "sk-or-test-S3CRET-0123456789"
FAKE_KEYS = (FAKE_OPENAI_KEY, FAKE_ANTHROPIC_KEY, FAKE_OPENROUTER_KEY)
_SECRET_HEADERS = frozenset(
    {"authorization", "x-api-key", "api-key", "cookie", "proxy-authorization"}
)
_TOKENS_PER_MESSAGE = 3
_DEFAULT_HANG_SECONDS = 30.0
_KNOWN_MODELS = ("gpt-4o", "gpt-4o-mini", "claude-haiku-4-5", "claude-sonnet-4-5")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    fault: str | None


@dataclass
class FakeUpstreamState:
    """The request log and the queue of scripted replies (see `fake_upstream_tools`)."""

    requests: list[RecordedRequest] = field(default_factory=list)
    scripted: deque[ScriptedReply] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, entry: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(entry)

    def script(self, *replies: ScriptedReply) -> None:
        with self._lock:
            self.scripted.extend(replies)

    def next_scripted(self) -> ScriptedReply | None:
        with self._lock:
            return self.scripted.popleft() if self.scripted else None

    def drop_scripted(self) -> None:
        with self._lock:
            self.scripted.clear()

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.scripted.clear()


@dataclass(frozen=True)
class Faults:
    values: dict[str, str | None]

    def has(self, name: str) -> bool:
        return name in self.values

    def number(self, name: str, default: float) -> float:
        raw = self.values.get(name)
        try:
            return float(raw) if raw else default
        except ValueError:
            return default

    def describe(self) -> str | None:
        if not self.values:
            return None
        return ",".join(k if v is None else f"{k}={v}" for k, v in self.values.items())


def parse_faults(header: str | None, model: str) -> tuple[str, Faults]:
    """Split `gpt-4o@fault=truncate_after=2` into the bare model and the fault spec."""
    specs: list[str] = [header] if header else []
    bare, *suffixes = model.split("@")
    specs.extend(s.removeprefix("fault=") for s in suffixes if s.startswith("fault="))
    values: dict[str, str | None] = {}
    for spec in specs:
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, _, value = item.partition("=")
            values[name.strip()] = value.strip() or None
    return bare, Faults(values)


@dataclass(frozen=True)
class PromptCache:
    """How many prompt tokens a request scripted as cache reads and writes."""

    read: int = 0
    write_5m: int = 0
    write_1h: int = 0
    scripted: bool = False

    @classmethod
    def scripted_by(cls, faults: Faults, prompt_tokens: int) -> PromptCache:
        names = ("cache_read", "cache_write", "cache_write_1h")
        if not any(faults.has(name) for name in names):
            return cls()
        left, counts = prompt_tokens, []
        for name in names:
            count = min(max(int(faults.number(name, 0)), 0), left)
            counts.append(count)
            left -= count
        read, write_5m, write_1h = counts
        return cls(read, write_5m, write_1h, scripted=True)

    @property
    def write(self) -> int:
        return self.write_5m + self.write_1h


# --- the deterministic "model" ----------------------------------------------------------


@dataclass(frozen=True)
class FakeToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model wrote it


@dataclass
class Completion:
    text: str
    finish: str  # "stop" | "length" | "tool_calls" | "content_filter"
    input_tokens: int
    output_tokens: int
    tool_calls: list[FakeToolCall] = field(default_factory=list)


def _text_of(content: Any) -> str:
    """Text of an OpenAI or Anthropic content value (a string or a list of parts/blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces = []
        for part in content:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text":
                pieces.append(str(part.get("text", "")))
            elif part.get("type") == "tool_result":
                pieces.append(_text_of(part.get("content", "")))
        return "".join(pieces)
    return ""


def _tool_results(messages: list[dict[str, Any]]) -> list[str]:
    """The results the request ends with: OpenAI's trailing `tool` messages, or the
    `tool_result` blocks of Anthropic's last user message."""
    results: list[str] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.insert(0, _text_of(message.get("content")))
    if results or not messages:
        return results
    content = messages[-1].get("content")
    if messages[-1].get("role") == "user" and isinstance(content, list):
        results = [
            _text_of(block.get("content", ""))
            for block in content
            if isinstance(block, dict) and block.get("type") == "tool_result"
        ]
    return results


def split_chunks(text: str) -> list[str]:
    """Word-sized pieces whose concatenation is exactly `text`."""
    return re.findall(r"\S+\s*|\s+", text)


@dataclass(frozen=True)
class ToolUse:
    """What a request says about tools: their names, and whether calls are allowed
    (`choice` "none"), left to the model ("auto") or forced ("required")."""

    names: tuple[str, ...] = ()
    choice: str = "auto"
    id_prefix: str = "call_"


def generate(
    *,
    messages: list[dict[str, Any]],
    system: str,
    model: str,
    max_tokens: int | None,
    stop: list[str],
    tools: ToolUse,
    faults: Faults,
    scripted: ScriptedReply | None = None,
) -> Completion:
    """The reply: a scripted one, else a call of the first tool for a user's question when
    tools are offered, else "Tool result: ..." after tool results, else an echo."""
    last = messages[-1] if messages else {}
    input_tokens = count_text(system, model) + sum(
        _TOKENS_PER_MESSAGE + count_text(_text_of(m.get("content")), model) for m in messages
    )
    if faults.has("content_filter"):
        return Completion("", "content_filter", input_tokens, 0)
    results = _tool_results(messages)
    calls: list[FakeToolCall] = []
    if scripted is not None and (tools.choice != "none" or scripted.text):
        text = scripted.text
        if tools.choice != "none":
            calls = [
                FakeToolCall(c.id or _new_call_id(tools.id_prefix), c.name, c.arguments_json())
                for c in scripted.tool_calls
            ]
    elif tools.names and (
        tools.choice == "required"
        or (tools.choice == "auto" and last.get("role") == "user" and not results)
    ):
        text = ""
        arguments = json.dumps({"query": _text_of(last.get("content"))})
        calls = [FakeToolCall(_new_call_id(tools.id_prefix), tools.names[0], arguments)]
    elif results:
        text = " ".join(f"Tool result: {result}" for result in results)
    else:
        text = f"Echo: {_text_of(last.get('content'))}"
    if calls:
        output = count_text(text, model) + sum(count_text(c.arguments, model) for c in calls)
        return Completion(text, "tool_calls", input_tokens, output, calls)
    finish = "stop"
    for sequence in stop:
        if sequence and sequence in text:
            text = text[: text.index(sequence)]
    if max_tokens is not None:
        shorter = truncate_to_tokens(text, max_tokens, model)
        if shorter != text:
            text, finish = shorter, "length"
    return Completion(text, finish, input_tokens, count_text(text, model))


def _new_call_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


# --- shared request handling ------------------------------------------------------------


def _safe_headers(request: Request) -> dict[str, str]:
    return {
        key: "[redacted]" if key in _SECRET_HEADERS else value
        for key, value in request.headers.items()
    }


def _credential(request: Request) -> str:
    return request.headers.get("authorization") or request.headers.get("x-api-key") or ""


async def _read_json(request: Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


async def _sleep_until_disconnected(request: Request, seconds: float) -> None:
    """Sleep up to `seconds`, returning early once the client has gone away."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.05)


def _sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {payload}\n\n".encode()


def _new_request_id() -> str:
    return f"req_{uuid.uuid4().hex[:24]}"


# --- OpenAI ---------------------------------------------------------------------------


def _openai_error(
    status: int,
    message: str,
    error_type: str,
    code: str | None,
    *,
    param: str | None = None,
    **headers: str,
) -> Response:
    body = {"error": {"message": message, "type": error_type, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


async def _openai_fault_response(request: Request, faults: Faults) -> Response | None:
    if faults.has("hang"):
        await _sleep_until_disconnected(request, faults.number("hang", _DEFAULT_HANG_SECONDS))
    if faults.has("rate_limit"):
        seconds = faults.number("rate_limit", 1.0)
        return _openai_error(
            429,
            "Rate limit reached for requests per min (RPM). Please try again later.",
            "requests",
            "rate_limit_exceeded",
            **{
                "retry-after": str(max(1, round(seconds))),
                "retry-after-ms": str(int(seconds * 1000)),
            },
        )
    if faults.has("server_error"):
        return _openai_error(
            500,
            "The server had an error processing your request "
            f"(authorization: {_credential(request)})",
            "server_error",
            None,
        )
    if faults.has("overloaded"):
        return _openai_error(
            503, "The engine is currently overloaded, please try again later", "server_error", None
        )
    if faults.has("auth_error"):
        return _openai_error(
            401,
            "Incorrect API key provided: sk-te****7890.",
            "invalid_request_error",
            "invalid_api_key",
        )
    if faults.has("bad_request"):
        return _openai_error(
            400,
            "Invalid value for 'temperature': must be between 0 and 2.",
            "invalid_request_error",
            "invalid_value",
        )
    if faults.has("content_policy"):
        return _openai_error(
            400,
            "Your request was rejected as a result of our safety system.",
            "invalid_request_error",
            "content_policy_violation",
        )
    return None


def _header_script(request: Request) -> ScriptedReply | None:
    """The reply scripted by this request's X-Fake-Tool-Calls header, if any."""
    header = request.headers.get(TOOL_CALLS_HEADER)
    return parse_scripted_reply(header) if header else None


def _openai_tool_use(body: dict[str, Any]) -> ToolUse:
    names = tuple(str(t["function"]["name"]) for t in body.get("tools") or ())
    choice = body.get("tool_choice") or "auto"
    if isinstance(choice, dict):  # {"type": "function", "function": {"name": ...}}
        forced = str((choice.get("function") or {}).get("name", ""))
        return ToolUse((forced,), "required", "call_")
    return ToolUse(names, str(choice), "call_")


async def openai_chat_completions(request: Request) -> Response:
    state: FakeUpstreamState = request.app.state.fake
    body = await _read_json(request)
    model_raw = str(body.get("model", "")) if isinstance(body, dict) else ""
    model, faults = parse_faults(request.headers.get(FAULT_HEADER), model_raw)
    state.record(
        RecordedRequest("POST", request.url.path, _safe_headers(request), body, faults.describe())
    )
    request_id = _new_request_id()
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not model:
        return _openai_error(
            400,
            "'model' and 'messages' are required.",
            "invalid_request_error",
            None,
            **{"x-request-id": request_id},
        )
    try:
        header_script = _header_script(request)
        refused = openai_request_error(body)
    except ScriptError as exc:
        refused = HistoryError(str(exc))
    if refused is not None:
        return _openai_error(
            400,
            refused.message,
            "invalid_request_error",
            None,
            param=refused.param,
            **{"x-request-id": request_id},
        )
    fault_response = await _openai_fault_response(request, faults)
    if fault_response is not None:
        fault_response.headers["x-request-id"] = request_id
        return fault_response

    stop = body.get("stop") or []
    completion = generate(
        messages=body["messages"],
        system="",
        model=model,
        max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        stop=[stop] if isinstance(stop, str) else list(stop),
        tools=_openai_tool_use(body),
        faults=faults,
        scripted=header_script or state.next_scripted(),
    )
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    headers = {"x-request-id": request_id, "openai-processing-ms": "1"}
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = _openai_stream(completion, completion_id, created, model, include_usage, faults)
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)
    if faults.has("malformed_json") or faults.has("truncate_after"):
        return Response(
            '{"id": "' + completion_id + '", "object": "chat.completion", "choices": [{"ind',
            media_type="application/json",
            headers=headers,
        )
    message: dict[str, Any] = {"role": "assistant", "content": completion.text, "refusal": None}
    if completion.tool_calls:
        message["content"] = completion.text or None
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in completion.tool_calls
        ]
    payload = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": completion.finish}
        ],
        "usage": _openai_usage(completion, faults),
    }
    return JSONResponse(payload, headers=headers)


def _openai_usage(completion: Completion, faults: Faults) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": completion.input_tokens,
        "completion_tokens": completion.output_tokens,
        "total_tokens": completion.input_tokens + completion.output_tokens,
    }
    cache = PromptCache.scripted_by(faults, completion.input_tokens)
    if cache.scripted:
        details = {"cached_tokens": cache.read, "audio_tokens": 0}
        if cache.write:
            details["cache_write_tokens"] = cache.write
        usage["prompt_tokens_details"] = details
    return usage


async def _openai_stream(
    completion: Completion,
    completion_id: str,
    created: int,
    model: str,
    include_usage: bool,
    faults: Faults,
) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            data["usage"] = None
        return data

    yield _sse(chunk({"role": "assistant", "content": "", "refusal": None}))
    if faults.has("malformed_json"):
        yield b'data: {"id": "' + completion_id.encode() + b'", "choices": [{"delta": \n\n'
        return
    deltas: list[dict[str, Any]] = [{"content": piece} for piece in split_chunks(completion.text)]
    for index, call in enumerate(completion.tool_calls):
        opening = {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        deltas.append({"tool_calls": [opening]})
        deltas.extend(
            {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
            for piece in _split_json(call.arguments)
        )
    error = {
        "error": {
            "message": "The server had an error while processing your request.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    for sent, delta in enumerate(deltas):
        if _stop_here(faults, sent):
            if faults.has("error_event_after"):
                yield _sse(error)
            return
        if faults.has("slow_drip"):
            await asyncio.sleep(faults.number("slow_drip", 0) / 1000)
        yield _sse(chunk(delta))
    if _interrupted(faults):
        if faults.has("error_event_after"):
            yield _sse(error)
        return
    yield _sse(chunk({}, completion.finish))
    if include_usage:
        final = chunk({})
        final["choices"] = []
        final["usage"] = _openai_usage(completion, faults)
        yield _sse(final)
    yield b"data: [DONE]\n\n"


def _interrupted(faults: Faults) -> bool:
    return faults.has("truncate_after") or faults.has("error_event_after")


def _stop_here(faults: Faults, sent: int) -> bool:
    """True when a truncate/error fault says the stream ends after `sent` deltas."""
    for name in ("truncate_after", "error_event_after"):
        if faults.has(name) and sent >= int(faults.number(name, 0)):
            return True
    return False


def _split_json(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


async def openai_models(request: Request) -> Response:
    state: FakeUpstreamState = request.app.state.fake
    state.record(RecordedRequest("GET", request.url.path, _safe_headers(request), None, None))
    data = [
        {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "fake-upstream"}
        for model in _KNOWN_MODELS
    ]
    return JSONResponse(
        {"object": "list", "data": data}, headers={"x-request-id": _new_request_id()}
    )


# --- OpenAI embeddings ----------------------------------------------------------------

# Native sizes; the text-embedding-3 models can also be shortened with `dimensions`.
_EMBEDDING_MODELS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
_SHORTENABLE_EMBEDDING_MODELS = frozenset({"text-embedding-3-small", "text-embedding-3-large"})
# OpenAI's documented limits for one /v1/embeddings request.
EMBEDDING_MAX_INPUTS = 2048
EMBEDDING_MAX_INPUT_TOKENS = 8192
EMBEDDING_MAX_REQUEST_TOKENS = 300_000
_EMBEDDING_HASHES_PER_WORD = 8
_EMBEDDING_TEXT_NOISE = 0.05


def fake_embedding(text: str, *, model: str, dimensions: int | None = None) -> list[float]:
    """A deterministic unit vector for `text` that behaves like an embedding, roughly.

    Each lowercased word adds a few signed components (feature hashing), so texts sharing
    words are close; a small per-text component keeps distinct texts apart and no vector
    zero. Shortening keeps the leading components and renormalises, as the text-embedding-3
    models do. Values are float32, so the float and base64 encodings carry the same numbers.
    """
    native = _EMBEDDING_MODELS[model]
    size = dimensions or native
    head = [0.0] * size
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.blake2b(f"{model}\0{word}".encode(), digest_size=32).digest()
        for i in range(_EMBEDDING_HASHES_PER_WORD):
            value = int.from_bytes(digest[4 * i : 4 * i + 4], "little")
            if (position := (value >> 1) % native) < size:
                head[position] += -1.0 if value & 1 else 1.0
    # SHAKE's output for a shorter length is a prefix of the longer one: shortening holds.
    noise = hashlib.shake_256(f"{model}\0{text}".encode()).digest(2 * size)
    scale = _EMBEDDING_TEXT_NOISE / 32768
    head = [x + scale * n for x, n in zip(head, struct.unpack(f"<{size}h", noise), strict=True)]
    norm = math.sqrt(sum(x * x for x in head))
    return list(struct.unpack(f"<{size}f", struct.pack(f"<{size}f", *(x / norm for x in head))))


def _is_embedding_input(item: Any) -> bool:
    """A non-empty text, or a non-empty array of token ids."""
    if isinstance(item, list):
        return bool(item) and all(isinstance(token, int) for token in item)
    return isinstance(item, str) and bool(item)


def _embedding_inputs(raw: Any) -> list[str | list[int]] | None:
    """The request's `input` as a list of texts or token arrays; None when it is invalid."""
    if isinstance(raw, str) or (_is_embedding_input(raw) and isinstance(raw, list)):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(map(_is_embedding_input, raw)):
        return None
    return list(raw)


def _embedding_request_error(body: Any, model: str) -> Response | None:
    """The 400/404 the real endpoint gives for a malformed or oversized request."""
    if not isinstance(body, dict) or not model or "input" not in body:
        return _openai_error(
            400, "'input' and 'model' are required.", "invalid_request_error", None
        )
    if model not in _EMBEDDING_MODELS:
        return _openai_error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        )
    inputs = _embedding_inputs(body["input"])
    if inputs is None:
        return _openai_error(
            400,
            "'$.input' is invalid. Please check the API reference.",
            "invalid_request_error",
            None,
        )
    if len(inputs) > EMBEDDING_MAX_INPUTS:
        return _openai_error(
            400,
            f"'$.input' is too long: {len(inputs)} inputs, at most {EMBEDDING_MAX_INPUTS}.",
            "invalid_request_error",
            None,
        )
    dimensions = body.get("dimensions")
    if dimensions is not None:
        if model not in _SHORTENABLE_EMBEDDING_MODELS:
            return _openai_error(
                400,
                "This model does not support specifying dimensions.",
                "invalid_request_error",
                None,
            )
        if not isinstance(dimensions, int) or not 1 <= dimensions <= _EMBEDDING_MODELS[model]:
            return _openai_error(
                400,
                f"Invalid value for 'dimensions': {dimensions!r}.",
                "invalid_request_error",
                None,
            )
    if body.get("encoding_format", "float") not in ("float", "base64"):
        return _openai_error(
            400,
            "Invalid value for 'encoding_format': expected 'float' or 'base64'.",
            "invalid_request_error",
            "invalid_value",
        )
    counts = [_embedding_input_tokens(item, model) for item in inputs]
    if max(counts) > EMBEDDING_MAX_INPUT_TOKENS:
        return _openai_error(
            400,
            f"This model's maximum context length is {EMBEDDING_MAX_INPUT_TOKENS} tokens, "
            f"however you requested {max(counts)} tokens in one input.",
            "invalid_request_error",
            None,
        )
    if sum(counts) > EMBEDDING_MAX_REQUEST_TOKENS:
        return _openai_error(
            400,
            f"Requested {sum(counts)} tokens, "
            f"max {EMBEDDING_MAX_REQUEST_TOKENS} tokens per request",
            "max_tokens_per_request",
            "max_tokens_per_request",
        )
    return None


def _embedding_input_tokens(item: str | list[int], model: str) -> int:
    return len(item) if isinstance(item, list) else count_text(item, model)


async def openai_embeddings(request: Request) -> Response:
    state: FakeUpstreamState = request.app.state.fake
    body = await _read_json(request)
    model_raw = str(body.get("model", "")) if isinstance(body, dict) else ""
    model, faults = parse_faults(request.headers.get(FAULT_HEADER), model_raw)
    state.record(
        RecordedRequest("POST", request.url.path, _safe_headers(request), body, faults.describe())
    )
    headers = {"x-request-id": _new_request_id(), "openai-processing-ms": "1"}
    error = _embedding_request_error(body, model)
    if error is None:
        error = await _openai_fault_response(request, faults)
    if error is not None:
        error.headers.update(headers)
        return error
    if faults.has("malformed_json"):
        return Response(
            '{"object": "list", "data": [{"object": "embedding", "ind',
            media_type="application/json",
            headers=headers,
        )
    inputs = _embedding_inputs(body["input"]) or []
    dimensions = body.get("dimensions")
    data = []
    for index, item in enumerate(inputs):
        text = item if isinstance(item, str) else " ".join(map(str, item))
        vector = fake_embedding(text, model=model, dimensions=dimensions)
        encoded: list[float] | str = vector
        if body.get("encoding_format") == "base64":
            encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(_embedding_input_tokens(item, model) for item in inputs)
    payload = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return JSONResponse(payload, headers=headers)


# --- Anthropic ------------------------------------------------------------------------


def _anthropic_error(
    status: int, error_type: str, message: str, request_id: str, **headers: str
) -> Response:
    body = {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": request_id,
    }
    return JSONResponse(body, status_code=status, headers={"request-id": request_id, **headers})


async def _anthropic_fault_response(
    request: Request, faults: Faults, request_id: str
) -> Response | None:
    if faults.has("hang"):
        await _sleep_until_disconnected(request, faults.number("hang", _DEFAULT_HANG_SECONDS))
    if faults.has("rate_limit"):
        seconds = faults.number("rate_limit", 1.0)
        return _anthropic_error(
            429,
            "rate_limit_error",
            "This request would exceed the rate limit for your organization.",
            request_id,
            **{"retry-after": str(max(1, round(seconds)))},
        )
    if faults.has("server_error"):
        return _anthropic_error(
            500,
            "api_error",
            f"Internal server error (x-api-key: {_credential(request)})",
            request_id,
        )
    if faults.has("overloaded"):
        return _anthropic_error(529, "overloaded_error", "Overloaded", request_id)
    if faults.has("auth_error"):
        return _anthropic_error(401, "authentication_error", "invalid x-api-key", request_id)
    if faults.has("bad_request"):
        return _anthropic_error(
            400, "invalid_request_error", "temperature: range: 0..1", request_id
        )
    if faults.has("content_policy"):
        return _anthropic_error(
            400, "invalid_request_error", "Output blocked by content filtering policy", request_id
        )
    return None


def _anthropic_tool_use(body: dict[str, Any]) -> ToolUse:
    names = tuple(str(t["name"]) for t in body.get("tools") or ())
    choice = body.get("tool_choice") or {}
    kind = choice.get("type", "auto") if isinstance(choice, dict) else "auto"
    if kind == "tool":
        return ToolUse((str(choice.get("name", "")),), "required", "toolu_")
    return ToolUse(names, "required" if kind == "any" else str(kind), "toolu_")


_ANTHROPIC_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


async def anthropic_messages(request: Request) -> Response:
    state: FakeUpstreamState = request.app.state.fake
    body = await _read_json(request)
    model_raw = str(body.get("model", "")) if isinstance(body, dict) else ""
    model, faults = parse_faults(request.headers.get(FAULT_HEADER), model_raw)
    state.record(
        RecordedRequest("POST", request.url.path, _safe_headers(request), body, faults.describe())
    )
    request_id = _new_request_id()
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not model:
        return _anthropic_error(
            400, "invalid_request_error", "messages: Field required", request_id
        )
    if not isinstance(body.get("max_tokens"), int):
        return _anthropic_error(
            400, "invalid_request_error", "max_tokens: Field required", request_id
        )
    try:
        header_script = _header_script(request)
        refused = anthropic_request_error(body)
    except ScriptError as exc:
        refused = str(exc)
    if refused is not None:
        return _anthropic_error(400, "invalid_request_error", refused, request_id)
    fault_response = await _anthropic_fault_response(request, faults, request_id)
    if fault_response is not None:
        return fault_response

    system = body.get("system") or ""
    completion = generate(
        messages=body["messages"],
        system=_text_of(system),
        model=model,
        max_tokens=body["max_tokens"],
        stop=list(body.get("stop_sequences") or []),
        tools=_anthropic_tool_use(body),
        faults=faults,
        scripted=header_script or state.next_scripted(),
    )
    message_id = f"msg_{uuid.uuid4().hex[:24]}"
    headers = {"request-id": request_id}
    if body.get("stream"):
        events = _anthropic_stream(completion, message_id, model, faults)
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)
    if faults.has("malformed_json") or faults.has("truncate_after"):
        return Response(
            '{"id": "' + message_id + '", "type": "message", "content": [{"ty',
            media_type="application/json",
            headers=headers,
        )
    content = [
        {**block, "input": _json_object(call.arguments)} if call else {**block, "text": text}
        for block, call, text in _anthropic_blocks(completion)
    ]
    if completion.finish == "content_filter":
        content = []
    payload = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _ANTHROPIC_STOP[completion.finish],
        "stop_sequence": None,
        "usage": _anthropic_usage(completion, faults, completion.output_tokens),
    }
    return JSONResponse(payload, headers=headers)


def _anthropic_usage(
    completion: Completion, faults: Faults, output_tokens: int, *, split: bool = True
) -> dict[str, Any]:
    """Anthropic's usage object: `input_tokens` leave the cache reads and writes out.
    `split=False` for message_delta, which carries no `cache_creation` breakdown."""
    cache = PromptCache.scripted_by(faults, completion.input_tokens)
    usage: dict[str, Any] = {
        "input_tokens": completion.input_tokens - cache.read - cache.write,
        "output_tokens": output_tokens,
    }
    if cache.scripted:
        usage["cache_creation_input_tokens"] = cache.write
        usage["cache_read_input_tokens"] = cache.read
        if split:
            usage["cache_creation"] = {
                "ephemeral_5m_input_tokens": cache.write_5m,
                "ephemeral_1h_input_tokens": cache.write_1h,
            }
    return usage


def _message_delta_usage(completion: Completion, faults: Faults) -> dict[str, Any]:
    """The output count; with a scripted cache, also the cumulative input and cache counts."""
    if not PromptCache.scripted_by(faults, completion.input_tokens).scripted:
        return {"output_tokens": completion.output_tokens}
    return _anthropic_usage(completion, faults, completion.output_tokens, split=False)


def _anthropic_blocks(
    completion: Completion,
) -> list[tuple[dict[str, Any], FakeToolCall | None, str]]:
    """The reply's content blocks as they open (a text block, if there is text or no tool
    call, then one `tool_use` block per call), each with its call or its text."""
    blocks: list[tuple[dict[str, Any], FakeToolCall | None, str]] = []
    if completion.text or not completion.tool_calls:
        blocks.append(({"type": "text", "text": ""}, None, completion.text))
    for call in completion.tool_calls:
        block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        blocks.append((block, call, ""))
    return blocks


def _json_object(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


async def _anthropic_stream(
    completion: Completion, message_id: str, model: str, faults: Faults
) -> AsyncIterator[bytes]:
    start = {
        "type": "message_start",
        "message": {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _anthropic_usage(completion, faults, 1),
        },
    }
    yield _sse(start, "message_start")
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    sent = 0
    blocks = _anthropic_blocks(completion)
    for index, (block, call, text) in enumerate(blocks):
        if call is not None:
            # Like the real API: the input starts empty, then arrives as JSON fragments.
            pieces = ["", *filter(None, _split_json(call.arguments))]
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
        else:
            deltas = [{"type": "text_delta", "text": piece} for piece in split_chunks(text)]
        yield _sse(
            {"type": "content_block_start", "index": index, "content_block": block},
            "content_block_start",
        )
        if index == 0:
            yield _sse({"type": "ping"}, "ping")
            if faults.has("malformed_json"):
                yield (
                    b"event: content_block_delta\n"
                    b'data: {"type": "content_block_delta", "index": 0, \n\n'
                )
                return
        for delta in deltas:
            if _stop_here(faults, sent):
                if faults.has("error_event_after"):
                    yield _sse(error, "error")
                return
            if faults.has("slow_drip"):
                await asyncio.sleep(faults.number("slow_drip", 0) / 1000)
            yield _sse(
                {"type": "content_block_delta", "index": index, "delta": delta},
                "content_block_delta",
            )
            sent += 1
        if _interrupted(faults) and index == len(blocks) - 1:
            if faults.has("error_event_after"):
                yield _sse(error, "error")
            return
        yield _sse({"type": "content_block_stop", "index": index}, "content_block_stop")
    yield _sse(
        {
            "type": "message_delta",
            "delta": {"stop_reason": _ANTHROPIC_STOP[completion.finish], "stop_sequence": None},
            "usage": _message_delta_usage(completion, faults),
        },
        "message_delta",
    )
    yield _sse({"type": "message_stop"}, "message_stop")


# --- the app and ways to run it ---------------------------------------------------------


def create_app(state: FakeUpstreamState | None = None) -> Starlette:
    routes = [
        Route("/v1/chat/completions", openai_chat_completions, methods=["POST"]),
        Route("/api/v1/chat/completions", openai_chat_completions, methods=["POST"]),
        Route("/v1/models", openai_models, methods=["GET"]),
        Route("/api/v1/models", openai_models, methods=["GET"]),
        Route("/v1/embeddings", openai_embeddings, methods=["POST"]),
        Route("/v1/messages", anthropic_messages, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.fake = state or FakeUpstreamState()
    return app


@dataclass
class RunningFakeUpstream:
    """A fake upstream listening on loopback; `requests` is its live request log."""

    base_url: str
    state: FakeUpstreamState

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.state.requests

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.base_url

    @property
    def openrouter_base_url(self) -> str:
        return f"{self.base_url}/api/v1"

    def clear(self) -> None:
        """Empty the request log and drop replies scripted but not yet given."""
        self.state.clear()

    def script_reply(self, *replies: ScriptedReply) -> None:
        """Queue the replies the next chat requests get, in order (either format)."""
        self.state.script(*replies)

    def script_tool_calls(self, *calls: ScriptedToolCall, text: str = "") -> None:
        """The next chat request gets these tool calls (after `text`, if any)."""
        self.state.script(ScriptedReply(tuple(calls), text))

    def drop_scripted_replies(self) -> None:
        self.state.drop_scripted()

    def provider_settings(self, **overrides: Any) -> ProviderSettings:
        """ProviderSettings with every provider pointed at this fake (no .env, short timeouts)."""
        values: dict[str, Any] = {
            "openai_api_key": FAKE_OPENAI_KEY,
            "openai_base_url": self.openai_base_url,
            "anthropic_api_key": FAKE_ANTHROPIC_KEY,
            "anthropic_base_url": self.anthropic_base_url,
            "openrouter_api_key": FAKE_OPENROUTER_KEY,
            "openrouter_base_url": self.openrouter_base_url,
            "llm_timeout_seconds": 5.0,
            "llm_connect_timeout_seconds": 1.0,
            **overrides,
        }
        return ProviderSettings(_env_file=None, **values)


@contextlib.contextmanager
def serve_in_thread(host: str = "127.0.0.1", port: int = 0) -> Iterator[RunningFakeUpstream]:
    """Run the fake upstream under uvicorn in a daemon thread until the block exits."""
    state = FakeUpstreamState()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(state),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="fake-upstream", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the fake upstream did not start")
        time.sleep(0.01)
    try:
        yield RunningFakeUpstream(base_url=f"http://{host}:{bound_port}", state=state)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI + Anthropic upstream.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    args = parser.parse_args(argv)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
