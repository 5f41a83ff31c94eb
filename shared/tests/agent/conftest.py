"""A harness for the shared agent runner, without any project: tables of its own (the
shared column mixins on a test ``Base``), the mock model, a ledger that counts what is
reserved and settled, and the tools a test gives it.

``agent.run("Go.", max_tool_calls=1)`` starts a turn and drains its events;
``agent.start(...)`` gives the runner for a test that drives the events itself.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from pydantic import Field
from sqlalchemy import JSON, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from genai_shared.agent.config import AgentSettings
from genai_shared.agent.models import AgentRunColumns, ToolExecutionColumns
from genai_shared.agent.registry import (
    Caller,
    Tool,
    ToolArguments,
    ToolContext,
    ToolFailed,
    ToolRegistry,
)
from genai_shared.agent.schemas import AgentTurnRequest
from genai_shared.agent.service import AgentEvent, AgentRunner, AgentService
from genai_shared.chat.cache import RecentConversationsCache
from genai_shared.chat.models import ChatMessageColumns, ConversationColumns
from genai_shared.chat.settings import ChatSettings
from genai_shared.db.base import UUIDPrimaryKeyMixin, new_metadata
from genai_shared.db.session import Database
from genai_shared.llm.calls import CallRecord, Target
from genai_shared.llm.providers.mock_provider import MockProvider, MockScript
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.types import ChatMessage
from genai_shared.tools.calculator import CalculatorError, evaluate
from genai_shared.web.errors import NotFound

Json = dict[str, Any]


# --- tables -----------------------------------------------------------------------------------


class Base(DeclarativeBase):
    metadata = new_metadata()


class User(UUIDPrimaryKeyMixin, Base):
    __tablename__ = "user"


class Conversation(ConversationColumns, Base):
    __tablename__ = "conversation"


class Message(ChatMessageColumns, Base):
    """With the tool columns a project's agent messages have (and role ``tool``)."""

    __tablename__ = "message"

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        return ()

    tool_calls: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JSON(none_as_null=True), default=None
    )
    tool_call_id: Mapped[str | None] = mapped_column(String(128), default=None)


class AgentRun(AgentRunColumns, Base):
    __tablename__ = "agent_run"


class ToolExecution(ToolExecutionColumns, Base):
    __tablename__ = "tool_execution"


class NoSuchConversation(NotFound):
    message = "Conversation not found"


class OverBudget(Exception):
    """The harness's budget error (a project's is its 402)."""


AGENT = AgentService(
    conversation_model=Conversation,
    message_model=Message,
    run_model=AgentRun,
    execution_model=ToolExecution,
    conversation_not_found=NoSuchConversation,
    budget_exceeded=OverBudget,
)


class Settings(AgentSettings, ChatSettings):
    pass


# --- the ledger --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settled:
    status: str
    error_type: str | None
    input_tokens: int
    output_tokens: int
    estimated: bool
    text: str
    message_id: uuid.UUID | None


@dataclass
class Ledger:
    """Model calls reserved and settled; ``calls_left`` is the budget, in calls."""

    calls_left: int | None = None
    held: int = 0
    reserved: list[int] = field(default_factory=list)
    settled: list[Settled] = field(default_factory=list)

    async def reserve(
        self,
        session: AsyncSession,
        targets: Sequence[Target],
        messages: list[ChatMessage],
        max_tokens: int,
    ) -> _Meter:
        if self.calls_left is not None:
            if self.calls_left == 0:
                raise OverBudget
            self.calls_left -= 1
        self.held += 1
        self.reserved.append(max_tokens)
        return _Meter(self)


@dataclass
class _Meter:
    ledger: Ledger
    done: bool = False

    async def settle(
        self,
        record: CallRecord,
        *,
        session: AsyncSession | None = None,
        message_id: uuid.UUID | None = None,
    ) -> None:
        if self.done:
            return
        self.done = True
        self.ledger.held -= 1
        self.ledger.settled.append(
            Settled(
                status=record.outcome.value,
                error_type=record.error_type,
                input_tokens=record.usage.input_tokens,
                output_tokens=record.usage.output_tokens,
                estimated=record.usage_estimated,
                text=record.text,
                message_id=message_id,
            )
        )


class _Refusals:
    def __init__(self) -> None:
        self.count = 0

    def inc(self, amount: float = 1) -> None:
        self.count += int(amount)


class _Metrics:
    def __init__(self) -> None:
        self.budget_refusals = _Refusals()


class _Cache:
    def __init__(self) -> None:
        self.invalidated: list[uuid.UUID] = []

    async def invalidate(self, user_id: uuid.UUID) -> None:
        self.invalidated.append(user_id)


# --- tools -----------------------------------------------------------------------------------


class Expression(ToolArguments):
    expression: str = Field(min_length=1, max_length=200)


async def _calculate(context: ToolContext, arguments: Expression) -> Json:
    try:
        return {"expression": arguments.expression, "result": evaluate(arguments.expression)}
    except CalculatorError as exc:
        raise ToolFailed(str(exc)) from exc


def calculator() -> Tool[Expression]:
    return Tool(
        name="calculator", description="Arithmetic", arguments=Expression, handler=_calculate
    )


# --- the harness -----------------------------------------------------------------------------


@dataclass
class Harness:
    db: Database
    mock: MockProvider
    user_id: uuid.UUID
    extra_tools: list[Tool[Any]]
    settings: Json = field(default_factory=dict)
    ledger: Ledger = field(default_factory=Ledger)
    metrics: _Metrics = field(default_factory=_Metrics)
    cache: _Cache = field(default_factory=_Cache)
    budget_error: type[Exception] = OverBudget

    async def conversation(self) -> uuid.UUID:
        async with self.db.transaction() as session:
            conversation = Conversation(user_id=self.user_id, title="t")
            session.add(conversation)
            await session.flush()
            return conversation.id

    async def start(
        self, content: str = "Go.", *, conversation_id: uuid.UUID | None = None, **body: Any
    ) -> AgentRunner:
        settings = Settings(**self.settings)
        tools = ToolRegistry(
            [calculator(), *self.extra_tools],
            roles=settings.agent_tool_roles,
            max_result_chars=settings.agent_tool_result_max_chars,
        )
        return await AGENT.start_turn(
            db=self.db,
            cache=cast(RecentConversationsCache, self.cache),
            registry=ProviderRegistry({"mock": self.mock}),
            tools=tools,
            metrics=self.metrics,
            settings=settings,
            caller=Caller(user_id=self.user_id, role="user", scopes=frozenset({"chat", "read"})),
            conversation_id=conversation_id or await self.conversation(),
            data=AgentTurnRequest(content=content, **body),
            request_id="req-1",
            reserve=self.ledger.reserve,
        )

    async def run(self, content: str = "Go.", **body: Any) -> tuple[AgentRunner, list[AgentEvent]]:
        runner = await self.start(content, **body)
        events = [event async for event in runner.events()]
        return runner, events

    async def stored_run(self, runner: AgentRunner) -> AgentRun:
        async with self.db.transaction() as session:
            return await AGENT.get_run(session=session, run_id=runner.run_id, user_id=self.user_id)

    async def messages(self, conversation_id: uuid.UUID) -> list[Message]:
        async with self.db.transaction() as session:
            rows = await session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation_id)
                .order_by(Message.created_at)
            )
            return list(rows)


@pytest.fixture
def mock() -> MockProvider:
    return MockProvider(MockScript())


@pytest.fixture
def extra_tools() -> list[Tool[Any]]:
    return []


@pytest.fixture
async def agent(
    sqlite_url: str, mock: MockProvider, extra_tools: list[Tool[Any]]
) -> AsyncIterator[Harness]:
    db = Database(sqlite_url)
    async with db.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    async with db.transaction() as session:
        user = User()
        session.add(user)
        await session.flush()
        user_id = user.id
    try:
        yield Harness(db=db, mock=mock, user_id=user_id, extra_tools=extra_tools)
    finally:
        await db.engine.dispose()
