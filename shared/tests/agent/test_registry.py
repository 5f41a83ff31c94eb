"""The tool registry on its own: who is offered what, and every call checked again."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any, cast

import pytest
from pydantic import Field

from genai_shared.agent.models import ToolStatus
from genai_shared.agent.registry import (
    Caller,
    Tool,
    ToolArguments,
    ToolContext,
    ToolFailed,
    ToolRegistry,
)
from genai_shared.db.session import Database
from genai_shared.llm.types import ToolCall

USER = Caller(user_id=uuid.uuid4(), role="user", scopes=frozenset({"chat", "read"}))
ADMIN = Caller(user_id=uuid.uuid4(), role="admin", scopes=frozenset({"chat", "read"}))
CHAT_ONLY_KEY = Caller(user_id=uuid.uuid4(), role="user", scopes=frozenset({"chat"}))


class Echo(ToolArguments):
    text: str = Field(min_length=1, max_length=20)
    times: int = Field(default=1, ge=1, le=3)
    title: str = ""  # a field named like the schema keyword that is stripped


async def echo(context: ToolContext, arguments: Echo) -> dict[str, Any]:
    return {"said": arguments.text * arguments.times, "for": str(context.caller.user_id)}


def make_tool(name: str = "echo", **options: Any) -> Tool[Echo]:
    return Tool(name=name, description="Say it back", arguments=Echo, handler=echo, **options)


def context(caller: Caller = USER) -> ToolContext:
    return ToolContext(caller=caller, db=cast(Database, None))


def call(name: str, arguments: Any, call_id: str = "call_1") -> ToolCall:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return ToolCall(id=call_id, name=name, arguments=text)


class TestOffered:
    def test_specs_come_from_the_arguments_model(self) -> None:
        [spec] = ToolRegistry([make_tool()]).specs_for(USER)
        assert spec.name == "echo"
        assert spec.description == "Say it back"
        schema = spec.parameters
        assert schema["required"] == ["text"]
        assert schema["additionalProperties"] is False
        assert set(schema["properties"]) == {"text", "times", "title"}  # the field survives
        assert schema["properties"]["times"]["maximum"] == 3
        assert "title" not in schema
        assert "title" not in schema["properties"]["text"]

    def test_only_the_tools_a_caller_may_use(self) -> None:
        registry = ToolRegistry(
            [
                make_tool("anyone"),
                make_tool("admins", roles=frozenset({"admin"})),
                make_tool("readers", scopes=frozenset({"read"})),
            ]
        )
        assert [s.name for s in registry.specs_for(USER)] == ["anyone", "readers"]
        assert [s.name for s in registry.specs_for(ADMIN)] == ["anyone", "admins", "readers"]
        assert [s.name for s in registry.specs_for(CHAT_ONLY_KEY)] == ["anyone"]

    def test_settings_override_the_roles(self) -> None:
        registry = ToolRegistry([make_tool("echo")], roles={"echo": ["admin"]})
        assert registry.specs_for(USER) == []
        assert [s.name for s in registry.specs_for(ADMIN)] == ["echo"]

    def test_two_tools_of_one_name_are_refused(self) -> None:
        with pytest.raises(ValueError, match="two tools"):
            ToolRegistry([make_tool(), make_tool()])


class TestRun:
    async def test_a_valid_call_runs_for_the_caller(self) -> None:
        result = await ToolRegistry([make_tool()]).run(
            call("echo", {"text": "hi", "times": 2}), context=context()
        )
        assert result.status is ToolStatus.OK
        assert result.error is None
        assert json.loads(result.content) == {"said": "hihi", "for": str(USER.user_id)}

    @pytest.mark.parametrize("name", ["admins", "no_such_tool"])
    async def test_a_tool_not_offered_is_refused_not_run(self, name: str) -> None:
        ran: list[str] = []

        async def spy(context: ToolContext, arguments: Echo) -> str:
            ran.append(arguments.text)
            return "ran"

        admins = Tool(
            name="admins",
            description="",
            arguments=Echo,
            handler=spy,
            roles=frozenset({"admin"}),
        )
        result = await ToolRegistry([admins]).run(call(name, {"text": "x"}), context=context())
        assert result.status is ToolStatus.NOT_ALLOWED
        assert json.loads(result.content)["error"] == f"no tool named {name!r} is available"
        assert ran == []

    @pytest.mark.parametrize(
        ("arguments", "problem"),
        [
            ("{not json", "not valid JSON"),
            ("[1, 2]", "must be a JSON object"),
            ({}, "text: Field required"),
            ({"text": "x", "times": 9}, "times: Input should be less than or equal to 3"),
            ({"text": "x", "owner_id": "someone"}, "owner_id: Extra inputs are not permitted"),
        ],
    )
    async def test_invalid_arguments_are_an_error_result(
        self, arguments: Any, problem: str
    ) -> None:
        result = await ToolRegistry([make_tool()]).run(call("echo", arguments), context=context())
        assert result.status is ToolStatus.INVALID_ARGUMENTS
        assert problem in json.loads(result.content)["error"]

    async def test_a_tool_failure_is_told_to_the_model(self) -> None:
        async def refuse(context: ToolContext, arguments: Echo) -> None:
            raise ToolFailed("the printer is on fire")

        tool = Tool(name="echo", description="", arguments=Echo, handler=refuse)
        result = await ToolRegistry([tool]).run(call("echo", {"text": "x"}), context=context())
        assert result.status is ToolStatus.ERROR
        assert result.error == "the printer is on fire"

    async def test_a_crash_is_an_error_result_logged_without_its_message(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        async def crash(context: ToolContext, arguments: Echo) -> None:
            raise RuntimeError("password=hunter2 at https://key@internal")

        tool = Tool(name="echo", description="", arguments=Echo, handler=crash)
        with caplog.at_level(logging.WARNING):
            result = await ToolRegistry([tool]).run(call("echo", {"text": "x"}), context=context())
        assert result.status is ToolStatus.ERROR
        assert "hunter2" not in result.content
        assert "RuntimeError" in caplog.text
        assert "hunter2" not in caplog.text

    async def test_a_slow_tool_is_cut_off_at_its_timeout(self) -> None:
        never = asyncio.Event()

        async def hang(context: ToolContext, arguments: Echo) -> None:
            await never.wait()

        tool = Tool(name="echo", description="", arguments=Echo, handler=hang, timeout_seconds=0.05)
        result = await ToolRegistry([tool]).run(call("echo", {"text": "x"}), context=context())
        assert result.status is ToolStatus.TIMEOUT
        assert "did not finish" in (result.error or "")

    async def test_the_run_deadline_cuts_a_tool_before_its_own_timeout(self) -> None:
        never = asyncio.Event()

        async def hang(context: ToolContext, arguments: Echo) -> None:
            await never.wait()

        tool = Tool(name="echo", description="", arguments=Echo, handler=hang, timeout_seconds=60)
        deadline = asyncio.get_running_loop().time() + 0.05
        result = await ToolRegistry([tool]).run(
            call("echo", {"text": "x"}), context=context(), deadline=deadline
        )
        assert result.status is ToolStatus.TIMEOUT

    async def test_a_long_result_is_cut(self) -> None:
        async def long(context: ToolContext, arguments: Echo) -> str:
            return "x" * 5000

        tool = Tool(name="echo", description="", arguments=Echo, handler=long)
        result = await ToolRegistry([tool], max_result_chars=300).run(
            call("echo", {"text": "x"}), context=context()
        )
        assert len(result.content) == 300
        assert result.content.endswith("too long]")


class TestRunAll:
    async def test_independent_calls_run_at_the_same_time(self) -> None:
        """Each tool waits for the other to have started: run one after the other, the
        first would wait forever (its timeout turns that into a failed result)."""
        started = {"left": asyncio.Event(), "right": asyncio.Event()}

        def meets(me: str, other: str) -> Tool[Echo]:
            async def handler(context: ToolContext, arguments: Echo) -> str:
                started[me].set()
                await started[other].wait()
                return me

            return Tool(name=me, description="", arguments=Echo, handler=handler, timeout_seconds=5)

        registry = ToolRegistry([meets("left", "right"), meets("right", "left")])
        results = await registry.run_all(
            [call("right", {"text": "a"}, "c1"), call("left", {"text": "b"}, "c2")],
            context=context(),
        )
        assert [r.status for r in results] == [ToolStatus.OK, ToolStatus.OK]
        assert [r.call.id for r in results] == ["c1", "c2"]  # results in call order
        assert [r.content for r in results] == ["right", "left"]

    async def test_calls_with_side_effects_run_one_at_a_time_in_order(self) -> None:
        log: list[str] = []

        async def effect(context: ToolContext, arguments: Echo) -> str:
            log.append(f"start {arguments.text}")
            await asyncio.sleep(0)
            log.append(f"end {arguments.text}")
            return arguments.text

        tool = Tool(name="write", description="", arguments=Echo, handler=effect, side_effects=True)
        results = await ToolRegistry([tool]).run_all(
            [call("write", {"text": "a"}, "c1"), call("write", {"text": "b"}, "c2")],
            context=context(),
        )
        assert log == ["start a", "end a", "start b", "end b"]
        assert [r.content for r in results] == ["a", "b"]
