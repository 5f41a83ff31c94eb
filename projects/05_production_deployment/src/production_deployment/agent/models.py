"""Project 05's agent tables: the shared columns (``genai_shared.agent.models``) on this
project's own ``Base``, so they live in its metadata and its Alembic history."""

from __future__ import annotations

from genai_shared.agent.models import (
    AgentRunColumns,
    RunStatus,
    StopReason,
    ToolExecutionColumns,
    ToolStatus,
)
from production_deployment.core.database import Base

__all__ = ["AgentRun", "RunStatus", "StopReason", "ToolExecution", "ToolStatus"]


class AgentRun(AgentRunColumns, Base):
    __tablename__ = "agent_run"


class ToolExecution(ToolExecutionColumns, Base):
    __tablename__ = "tool_execution"
