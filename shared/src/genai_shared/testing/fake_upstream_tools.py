"""Tool use in the fake upstream: scripted tool calls, and the history checks of both APIs.

A test scripts the fake's next reply as tool calls in one of two ways:

* per request, with the ``X-Fake-Tool-Calls`` header (``tool_calls_header(...)`` builds
  it; pass it as ``ChatRequest.extra_headers``): a JSON list of calls, or an object with
  ``tool_calls`` and ``text`` for a reply that mixes both;
* for whatever request comes next, with ``fake_upstream.script_reply(...)`` (a FIFO
  queue, emptied by ``clear()``), when the request is made by code the test does not
  control, such as a project's agent behind its HTTP API.

The follow-up request that carries the tool results is checked as the real APIs check
it, so a history that would fail upstream fails against the fake too (400, in the
provider's error format). The messages paraphrase the real ones and keep their shape
(the offending position, then the ids).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

TOOL_CALLS_HEADER = "x-fake-tool-calls"
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_TOOL_USE_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


@dataclass(frozen=True)
class ScriptedToolCall:
    """One call the fake's next reply makes; ``arguments`` is an object or raw JSON text.

    Raw text is sent as it is, so a test can script arguments that do not parse (the
    OpenAI format and Anthropic's stream carry text; a non-streamed Anthropic reply needs
    an object, and sends ``{}`` for text that is not one). ``id`` defaults to a fresh
    ``call_...`` (OpenAI) or ``toolu_...`` (Anthropic) id.
    """

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


@dataclass(frozen=True)
class ScriptedReply:
    """The fake's next reply: optional text, then the tool calls (none: text only)."""

    tool_calls: tuple[ScriptedToolCall, ...] = ()
    text: str = ""


class ScriptError(ValueError):
    """An ``X-Fake-Tool-Calls`` header the fake cannot read."""


def tool_calls_header(*calls: ScriptedToolCall, text: str = "") -> dict[str, str]:
    """The header that scripts one request's reply: ``extra_headers=tool_calls_header(...)``."""
    items = [
        {"name": c.name, "arguments": c.arguments, **({"id": c.id} if c.id else {})} for c in calls
    ]
    value: Any = {"tool_calls": items, "text": text} if text else items
    return {TOOL_CALLS_HEADER: json.dumps(value)}


def parse_scripted_reply(header: str) -> ScriptedReply:
    """Read an ``X-Fake-Tool-Calls`` header: a list of calls, or ``{tool_calls, text}``."""
    try:
        value = json.loads(header)
    except json.JSONDecodeError as exc:
        raise ScriptError(f"{TOOL_CALLS_HEADER} is not JSON: {exc}") from None
    text = ""
    if isinstance(value, dict):
        text = str(value.get("text") or "")
        value = value.get("tool_calls") or []
    if not isinstance(value, list):
        raise ScriptError(f"{TOOL_CALLS_HEADER} must be a list of calls")
    calls = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ScriptError(f"{TOOL_CALLS_HEADER}: every call needs a name")
        arguments = item.get("arguments", {})
        if not isinstance(arguments, dict | str):
            raise ScriptError(f"{TOOL_CALLS_HEADER}: arguments must be an object or text")
        call_id = item.get("id")
        calls.append(ScriptedToolCall(item["name"], arguments, str(call_id) if call_id else None))
    return ScriptedReply(tuple(calls), text)


@dataclass(frozen=True)
class HistoryError:
    """Why a request's tools or history would be refused, and where (OpenAI's ``param``)."""

    message: str
    param: str | None = None


# --- OpenAI -----------------------------------------------------------------------------


def openai_request_error(body: dict[str, Any]) -> HistoryError | None:
    """The 400 OpenAI gives for malformed tools or a tool exchange out of order."""
    tools = body.get("tools") or []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            return HistoryError(f"Invalid value for 'tools[{i}].type': expected 'function'.")
        name = (tool.get("function") or {}).get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            return HistoryError(
                f"Invalid 'tools[{i}].function.name': expected a string of letters, digits, "
                "underscores or dashes, at most 64 long.",
                f"tools[{i}].function.name",
            )
    if body.get("tool_choice") is not None and not tools:
        return HistoryError(
            "Invalid value for 'tool_choice': 'tool_choice' is allowed only when 'tools' "
            "are given.",
            "tool_choice",
        )
    return _openai_history_error(body.get("messages") or [])


def _openai_history_error(messages: list[Any]) -> HistoryError | None:
    """Every assistant ``tool_calls`` message must be answered, id by id, by the ``tool``
    messages right after it, and a ``tool`` message may only answer such a call."""
    asked_at: int | None = None  # index of the assistant message whose calls are open
    unanswered: list[str] = []
    asked: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not call_id:
                return HistoryError(
                    f"Missing required parameter: 'messages.[{i}].tool_call_id'.",
                    f"messages.[{i}].tool_call_id",
                )
            if asked_at is None or call_id not in asked:
                return HistoryError(
                    "Invalid parameter: messages with role 'tool' must answer a tool call "
                    "of the preceding assistant message with 'tool_calls'.",
                    f"messages.[{i}].role",
                )
            if call_id in unanswered:
                unanswered.remove(call_id)
            continue
        if unanswered:
            return _unanswered_openai(asked_at, unanswered)
        asked_at, asked = None, set()
        calls = message.get("tool_calls") if role == "assistant" else None
        if calls:
            ids = [str(c["id"]) for c in calls if isinstance(c, dict) and c.get("id")]
            if len(ids) != len(calls):
                return HistoryError(
                    f"Missing required parameter: 'messages.[{i}].tool_calls[].id'.",
                    f"messages.[{i}].tool_calls",
                )
            asked_at, asked, unanswered = i, set(ids), list(ids)
    if unanswered:
        return _unanswered_openai(asked_at, unanswered)
    return None


def _unanswered_openai(index: int | None, ids: list[str]) -> HistoryError:
    return HistoryError(
        "An assistant message with 'tool_calls' must be followed by tool messages that "
        "answer each 'tool_call_id'. These tool_call_ids got no answer: " + ", ".join(ids),
        f"messages.[{index}].role",
    )


# --- Anthropic --------------------------------------------------------------------------


def anthropic_request_error(body: dict[str, Any]) -> str | None:
    """The 400 Anthropic gives for malformed tools or a tool exchange out of order."""
    for i, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            return f"tools.{i}.custom.name: Field required"
        if not _TOOL_NAME.match(tool["name"]):
            return f"tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            return f"tools.{i}.custom.input_schema: Field required"
        if schema.get("type") != "object":
            return f"tools.{i}.custom.input_schema.type: Input should be 'object'"
    return _anthropic_history_error(body.get("messages") or [])


def _blocks(message: Any) -> list[dict[str, Any]]:
    content = message.get("content") if isinstance(message, dict) else None
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _anthropic_history_error(messages: list[Any]) -> str | None:
    """A user turn after ``tool_use`` blocks must begin with one ``tool_result`` per call,
    and a ``tool_result`` may only answer a ``tool_use`` of the message just before."""
    previous_ids: list[str] = []
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        blocks = _blocks(message)
        for k, block in enumerate(blocks):
            if block.get("type") == "tool_result" and (
                role != "user" or block.get("tool_use_id") not in previous_ids
            ):
                return (
                    f"messages.{i}.content.{k}: unexpected `tool_use_id` found in "
                    f"`tool_result` blocks: {block.get('tool_use_id')}. A `tool_result` "
                    "block needs a matching `tool_use` block in the previous message."
                )
        if previous_ids:
            leading = 0
            while leading < len(blocks) and blocks[leading].get("type") == "tool_result":
                leading += 1
            if leading < len(previous_ids):
                return (
                    f"messages.{i}: Did not find {len(previous_ids)} `tool_result` block(s) "
                    "at the beginning of this message. A message after `tool_use` blocks "
                    "must begin with as many `tool_result` blocks."
                )
            answered = {b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"}
            if missing := [id_ for id_ in previous_ids if id_ not in answered]:
                return (
                    f"messages.{i - 1}: `tool_use` ids were found without `tool_result` "
                    f"blocks immediately after: {', '.join(missing)}. Every `tool_use` "
                    "block needs a `tool_result` block in the next message."
                )
        previous_ids = []
        if role != "assistant":
            continue
        for k, block in enumerate(blocks):
            if block.get("type") != "tool_use":
                continue
            where = f"messages.{i}.content.{k}.tool_use"
            if not isinstance(block.get("id"), str) or not _TOOL_USE_ID.match(block["id"]):
                return f"{where}.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
            if not isinstance(block.get("input"), dict):
                return f"{where}.input: Input should be a valid dictionary"
            previous_ids.append(block["id"])
    return None
