"""The agent API's request and response bodies."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field

from genai_shared.chat.schemas import ChatMessagePublic, ChatTurnRequest
from genai_shared.schemas import CustomModel, UTCDateTime


class AgentTurnRequest(ChatTurnRequest):
    """A user message for the agent. ``max_tokens`` applies to each model call; the caps
    can be lowered (never raised) for one turn."""

    max_steps: Annotated[int, Field(ge=1)] | None = None
    max_tool_calls: Annotated[int, Field(ge=1)] | None = None


class ToolCallPublic(CustomModel):
    id: str
    name: str
    arguments: str
    status: str
    content: str = Field(description="What the model was given back (JSON text)")
    error: str | None = None
    duration_ms: int


class StepPublic(CustomModel):
    step: int
    text: str = Field(description="What the model said at this step (the answer at the last)")
    tool_calls: list[ToolCallPublic] = []


class CitationPublic(CustomModel):
    marker: int = Field(description="The [n] the answer cites")
    chunk_id: uuid.UUID
    document_id: uuid.UUID
    collection_id: uuid.UUID
    title: str
    page: int | None = None
    last_page: int | None = None
    char_start: int
    char_end: int
    heading_path: list[str] = []


class AgentUsage(CustomModel):
    input_tokens: int
    output_tokens: int


class AgentTurnResponse(CustomModel):
    run_id: uuid.UUID
    stop_reason: str
    answer: str
    user_message: ChatMessagePublic
    answer_message_id: uuid.UUID | None
    steps: list[StepPublic]
    citations: list[CitationPublic]
    usage: AgentUsage
    cost_usd: Decimal
    model: str
    error: dict[str, Any] | None = Field(
        default=None, description="Set when the run stopped because the model provider failed"
    )


class ToolExecutionPublic(CustomModel):
    id: uuid.UUID
    run_id: uuid.UUID
    user_id: uuid.UUID
    message_id: uuid.UUID | None
    step: int
    position: int
    tool_call_id: str
    tool: str
    arguments: str
    status: str
    error: str | None
    duration_ms: int
    created_at: UTCDateTime


class AgentRunPublic(CustomModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    user_id: uuid.UUID
    user_message_id: uuid.UUID | None
    answer_message_id: uuid.UUID | None
    model: str
    status: Literal["running", "finished"]
    stop_reason: str | None
    steps: int
    tool_calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    error_type: str | None
    created_at: UTCDateTime
    finished_at: UTCDateTime | None


class AgentRunDetail(AgentRunPublic):
    executions: list[ToolExecutionPublic]
