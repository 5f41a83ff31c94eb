"""Agent runs and tool executions, as column mixins for each project's own tables.

An ``agent_run`` is one agent turn: its counts, the tokens it used, and its
``stop_reason`` (null while it runs). A ``tool_execution`` is one tool call the run
made, with its duration, its status and, when it failed, the reason given to the model.
Both carry their owner (``user_id``) so that every read filters on the row.

Each project has its own ``Base`` and Alembic history, so it writes
``class AgentRun(AgentRunColumns, Base)`` with ``__tablename__ = "agent_run"`` (and
``ToolExecution`` likewise); the relationships name ``AgentRun`` and ``ToolExecution``,
which SQLAlchemy looks up in the project's own registry.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from genai_shared.db.base import UUIDPrimaryKeyMixin, utcnow


class StopReason(StrEnum):
    """Why a run ended: an answer, or the first cap it reached."""

    ANSWER = "answer"
    MAX_STEPS = "max_steps"
    MAX_TOOL_CALLS = "max_tool_calls"
    TIMEOUT = "timeout"
    TOKEN_BUDGET = "token_budget"  # noqa: S105 - token cap or monthly budget
    REPEATED_CALL = "repeated_call"
    ERROR = "error"  # the provider failed
    CANCELLED = "cancelled"  # the client left, or the server shut down


class RunStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"


class ToolStatus(StrEnum):
    """How one tool call ended. Everything but ``ok`` went back to the model as an error."""

    OK = "ok"
    ERROR = "error"  # the tool failed (its reason is in ``error``)
    INVALID_ARGUMENTS = "invalid_arguments"
    NOT_ALLOWED = "not_allowed"  # a tool this caller was not offered, or unknown
    TIMEOUT = "timeout"
    SKIPPED = "skipped"  # not run: the run stopped first (a cap), answered so the history holds


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{value.value}'" for value in values)


class AgentRunColumns(UUIDPrimaryKeyMixin):
    """One agent turn: who asked, with which model, what it used and why it stopped."""

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            CheckConstraint(f"status IN ({_in(RunStatus)})", name="status_is_known"),
            CheckConstraint(
                f"stop_reason IS NULL OR stop_reason IN ({_in(StopReason)})",
                name="stop_reason_is_known",
            ),
            CheckConstraint(
                "steps >= 0 AND tool_calls >= 0 AND input_tokens >= 0 AND output_tokens >= 0",
                name="counts_not_negative",
            ),
            Index("ix_agent_run_conversation_id_created_at", "conversation_id", "created_at"),
            Index("ix_agent_run_user_id_created_at", "user_id", "created_at"),
        )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversation.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user.id", ondelete="CASCADE"))
    user_message_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("message.id", ondelete="SET NULL"), default=None
    )
    answer_message_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("message.id", ondelete="SET NULL"), default=None
    )
    model: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.RUNNING.value)
    stop_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    steps: Mapped[int] = mapped_column(Integer, default=0)
    tool_calls: Mapped[int] = mapped_column(Integer, default=0)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(14, 8), default=Decimal(0))
    error_type: Mapped[str | None] = mapped_column(String(64), default=None)
    request_id: Mapped[str | None] = mapped_column(String(128), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    @declared_attr
    @classmethod
    def executions(cls) -> Mapped[list[Any]]:
        # "ToolExecution" is looked up in the project's own registry.
        return relationship(
            "ToolExecution",
            back_populates="run",
            cascade="all, delete-orphan",
            passive_deletes=True,
            order_by="[ToolExecution.step, ToolExecution.position]",
        )


class ToolExecutionColumns(UUIDPrimaryKeyMixin):
    """One tool call of a run: what was asked, how it ended and how long it took."""

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            CheckConstraint(f"status IN ({_in(ToolStatus)})", name="status_is_known"),
            CheckConstraint("duration_ms >= 0", name="duration_not_negative"),
            Index("ix_tool_execution_run_id", "run_id"),
            Index("ix_tool_execution_user_id_created_at", "user_id", "created_at"),
            Index("ix_tool_execution_created_at", "created_at"),  # the admin's list
        )

    run_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agent_run.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user.id", ondelete="CASCADE"))
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("message.id", ondelete="SET NULL"), default=None
    )
    step: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, doc="The call's place among its step's calls")
    tool_call_id: Mapped[str] = mapped_column(String(128))
    tool: Mapped[str] = mapped_column(String(64))
    arguments: Mapped[str] = mapped_column(Text, doc="As the model sent them (JSON text)")
    status: Mapped[str] = mapped_column(String(24))
    error: Mapped[str | None] = mapped_column(Text, default=None)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @declared_attr
    @classmethod
    def run(cls) -> Mapped[Any]:
        return relationship("AgentRun", back_populates="executions")
