"""The agent API's bodies: the shared ones (``genai_shared.agent.schemas``)."""

from __future__ import annotations

from genai_shared.agent.schemas import (
    AgentRunDetail,
    AgentRunPublic,
    AgentTurnRequest,
    AgentTurnResponse,
    AgentUsage,
    CitationPublic,
    StepPublic,
    ToolCallPublic,
    ToolExecutionPublic,
)

__all__ = [
    "AgentRunDetail",
    "AgentRunPublic",
    "AgentTurnRequest",
    "AgentTurnResponse",
    "AgentUsage",
    "CitationPublic",
    "StepPublic",
    "ToolCallPublic",
    "ToolExecutionPublic",
]
