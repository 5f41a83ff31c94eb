"""The tool registry: every tool defined once, offered by role and scope, run defensively.

A tool is its name, a description, a Pydantic model for its arguments (the JSON schema
the model sees is generated from it), an async handler, a timeout, whether it has side
effects, and who may call it. The model's calls are untrusted input, so ``run`` checks
everything again whatever was offered: a tool the caller may not use (or that does not
exist) is refused, arguments are validated, the handler is cut off at its timeout, and
any failure comes back as an error *result* for the model, never as an exception. Who
the caller is comes from the authenticated principal in the ``ToolContext``, never from
the model's arguments.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from genai_shared.agent.models import ToolStatus
from genai_shared.db.session import Database
from genai_shared.llm.types import ToolCall, ToolSpec

logger = logging.getLogger(__name__)

TRUNCATED = " ... [cut: the result was too long]"


class ToolArguments(BaseModel):
    """Base of every tool's arguments: unknown fields are an error the model is told of."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ToolFailed(Exception):
    """Raised by a handler for a failure the model should read (its message is shown)."""


class _Account(Protocol):
    @property
    def role(self) -> str: ...


class Authenticated(Protocol):
    """What ``Caller.of`` reads from a project's authenticated principal."""

    @property
    def user_id(self) -> uuid.UUID: ...

    @property
    def user(self) -> _Account: ...

    @property
    def scopes(self) -> frozenset[str]: ...


@dataclass(frozen=True)
class Caller:
    """Who the tools act for: taken from the authenticated principal, nothing else."""

    user_id: uuid.UUID
    role: str
    scopes: frozenset[str]

    @classmethod
    def of(cls, principal: Authenticated) -> Caller:
        return cls(user_id=principal.user_id, role=principal.user.role, scopes=principal.scopes)


@dataclass(frozen=True)
class Source:
    """A chunk a tool handed to the model, which the answer may cite as ``[marker]``."""

    chunk_id: uuid.UUID
    document_id: uuid.UUID
    collection_id: uuid.UUID
    title: str
    page: int | None
    last_page: int | None
    char_start: int
    char_end: int
    heading_path: tuple[str, ...] = ()


@dataclass
class Sources:
    """The sources of one run, numbered in the order they were first seen (1, 2, ...).

    Shared by every tool call of the run, so a chunk found twice keeps its number and
    two searches never hand out the same marker.
    """

    _numbers: dict[uuid.UUID, int] = field(default_factory=dict)
    _sources: dict[int, Source] = field(default_factory=dict)

    def number(self, source: Source) -> int:
        marker = self._numbers.get(source.chunk_id)
        if marker is None:
            marker = self._numbers[source.chunk_id] = len(self._numbers) + 1
            self._sources[marker] = source
        return marker

    def get(self, marker: int) -> Source | None:
        return self._sources.get(marker)


@dataclass(frozen=True)
class ToolContext:
    """What a handler may use besides its arguments."""

    caller: Caller
    db: Database
    sources: Sources = field(default_factory=Sources)
    request_id: str | None = None


ArgsT = TypeVar("ArgsT", bound=ToolArguments)
Handler = Callable[[ToolContext, ArgsT], Awaitable[Any]]


@dataclass(frozen=True)
class Tool(Generic[ArgsT]):
    """One tool. ``roles`` None: any signed-in user; ``scopes``: all of them are needed
    (an API key has only the scopes it was given; an access token has every scope)."""

    name: str
    description: str
    arguments: type[ArgsT]
    handler: Handler[ArgsT]
    timeout_seconds: float = 10.0
    side_effects: bool = False
    roles: frozenset[str] | None = None
    scopes: frozenset[str] = frozenset()

    def spec(self) -> ToolSpec:
        return ToolSpec(
            name=self.name,
            description=self.description,
            parameters=_without_titles(self.arguments.model_json_schema()),
        )

    def allows(self, caller: Caller) -> bool:
        if self.roles is not None and caller.role not in self.roles:
            return False
        return self.scopes <= caller.scopes


@dataclass(frozen=True)
class ToolResult:
    """One call's outcome. ``content`` is what the model reads (JSON text)."""

    call: ToolCall
    status: ToolStatus
    content: str
    duration_ms: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is ToolStatus.OK


class ToolRegistry:
    """The tools of one app, built once at startup."""

    def __init__(
        self,
        tools: Iterable[Tool[Any]],
        *,
        roles: Mapping[str, Sequence[str]] | None = None,
        max_result_chars: int = 12_000,
    ) -> None:
        """``roles`` overrides who may call a tool, by name (``AGENT_TOOL_ROLES``)."""
        self._tools: dict[str, Tool[Any]] = {}
        for tool in tools:
            if tool.name in self._tools:
                raise ValueError(f"two tools are named {tool.name!r}")
            if roles and tool.name in roles:
                tool = dataclasses.replace(tool, roles=frozenset(roles[tool.name]))
            self._tools[tool.name] = tool
        self.max_result_chars = max_result_chars

    @property
    def names(self) -> list[str]:
        return sorted(self._tools)

    def get(self, name: str) -> Tool[Any] | None:
        return self._tools.get(name)

    def allowed(self, caller: Caller) -> list[Tool[Any]]:
        return [tool for tool in self._tools.values() if tool.allows(caller)]

    def specs_for(self, caller: Caller) -> list[ToolSpec]:
        """The tools offered to the model for this caller, and only those."""
        return [tool.spec() for tool in self.allowed(caller)]

    async def run(
        self, call: ToolCall, *, context: ToolContext, deadline: float | None = None
    ) -> ToolResult:
        """Run one call; every failure is an error result. ``deadline`` (``loop.time()``)
        cuts the tool off earlier than its own timeout when the run is almost over."""
        started = time.perf_counter()

        def result(status: ToolStatus, content: Any, error: str | None = None) -> ToolResult:
            return ToolResult(
                call=call,
                status=status,
                content=self._render(content),
                duration_ms=round((time.perf_counter() - started) * 1000),
                error=error,
            )

        def failure(status: ToolStatus, reason: str) -> ToolResult:
            return result(status, {"error": reason}, reason)

        tool = self._tools.get(call.name)
        if tool is None or not tool.allows(context.caller):
            return failure(ToolStatus.NOT_ALLOWED, f"no tool named {call.name!r} is available")
        try:
            arguments = tool.arguments.model_validate(_json_object(call.arguments))
        except ValueError as exc:  # ValidationError is a ValueError
            return failure(ToolStatus.INVALID_ARGUMENTS, _validation_message(exc))
        timeout = tool.timeout_seconds
        if deadline is not None:
            timeout = min(timeout, max(0.0, deadline - asyncio.get_running_loop().time()))
        try:
            async with asyncio.timeout(timeout):
                output = await tool.handler(context, arguments)
        except TimeoutError:
            return failure(ToolStatus.TIMEOUT, f"the tool did not finish within {timeout:.3g} s")
        except ToolFailed as exc:
            return failure(ToolStatus.ERROR, str(exc) or "the tool failed")
        except Exception as exc:
            # The type only: an exception's text may hold a URL, a key or a row of data.
            logger.warning("tool %s failed unexpectedly: %s", tool.name, type(exc).__name__)
            return failure(ToolStatus.ERROR, "the tool failed unexpectedly")
        return result(ToolStatus.OK, output)

    async def run_all(
        self, calls: Sequence[ToolCall], *, context: ToolContext, deadline: float | None = None
    ) -> list[ToolResult]:
        """Run one step's calls, results in call order: calls without side effects all at
        once, then those with side effects one at a time, in the order they were asked."""
        results: dict[int, ToolResult] = {}
        concurrent: list[int] = []
        in_order: list[int] = []
        for index, call in enumerate(calls):
            tool = self._tools.get(call.name)
            (in_order if tool is not None and tool.side_effects else concurrent).append(index)
        async with asyncio.TaskGroup() as group:
            tasks = {
                index: group.create_task(self.run(calls[index], context=context, deadline=deadline))
                for index in concurrent
            }
        results.update({index: task.result() for index, task in tasks.items()})
        for index in in_order:
            results[index] = await self.run(calls[index], context=context, deadline=deadline)
        return [results[index] for index in range(len(calls))]

    def _render(self, content: Any) -> str:
        text = (
            content
            if isinstance(content, str)
            else json.dumps(content, ensure_ascii=False, default=str)
        )
        if len(text) > self.max_result_chars:
            text = text[: self.max_result_chars - len(TRUNCATED)] + TRUNCATED
        return text


def _json_object(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"the arguments are not valid JSON ({exc.msg})") from exc
    if not isinstance(value, dict):
        raise ValueError("the arguments must be a JSON object")
    return value


def _validation_message(exc: ValueError) -> str:
    """What was wrong with the arguments, field by field, without echoing their values."""
    if not isinstance(exc, ValidationError):
        return str(exc)
    problems = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        problems.append(f"{where}: {error['msg']}")
    return "invalid arguments: " + "; ".join(problems)


def _without_titles(schema: Any, *, names: bool = False) -> Any:
    """Pydantic's JSON schema without its generated ``title`` keys (noise for a model).

    ``names``: ``schema`` is a ``properties`` mapping, whose keys are field names (a field
    may well be called ``title``) and whose values are schemas.
    """
    if isinstance(schema, dict):
        return {
            key: _without_titles(value, names=key == "properties" and not names)
            for key, value in schema.items()
            if names or not (key == "title" and isinstance(value, str))
        }
    if isinstance(schema, list):
        return [_without_titles(item) for item in schema]
    return schema
