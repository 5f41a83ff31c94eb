"""Project 04's agent tables: the shared columns (``genai_shared.agent.models``) on this
project's own ``Base``, so they live in its metadata and its Alembic history."""

from __future__ import annotations

from agentic_rag.core.database import Base
from genai_shared.agent.models import (
    AgentRunColumns,
    RunStatus,
    StopReason,
    ToolExecutionColumns,
    ToolStatus,
)

__all__ = ["AgentRun", "RunStatus", "StopReason", "ToolExecution", "ToolStatus"]


class AgentRun(AgentRunColumns, Base):
    __tablename__ = "agent_run"


class ToolExecution(ToolExecutionColumns, Base):
    __tablename__ = "tool_execution"
