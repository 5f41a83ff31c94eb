"""The conversations and messages API's request and response bodies."""

from __future__ import annotations

import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from genai_shared.schemas import CustomModel, RequestModel, UTCDateTime

MAX_MESSAGE_CHARS = 32_000
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Metadata = Annotated[dict[str, Any], Field(max_length=50, description="Free-form JSON object")]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("content must contain more than whitespace")
    return value


MessageText = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_CHARS), AfterValidator(_not_blank)
]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\w.:@/-]+$")]


class MessageRole(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


class MessageStatus(StrEnum):
    """Where an assistant reply ended up. User and system messages are always complete."""

    COMPLETE = "complete"
    STREAMING = "streaming"  # being generated right now
    ERROR = "error"  # the provider failed; content is what arrived before
    CANCELLED = "cancelled"  # the client went away; content is what arrived before


class ConversationCreate(RequestModel):
    title: Title
    metadata: Metadata = {}


class ConversationUpdate(RequestModel):
    """PATCH body: only the fields that are sent change."""

    title: Title | None = None
    metadata: Metadata | None = None


class ConversationPublic(CustomModel):
    id: uuid.UUID
    user_id: uuid.UUID
    title: str
    metadata: dict[str, Any] = Field(validation_alias="meta")
    created_at: UTCDateTime
    updated_at: UTCDateTime


class MessageCreate(RequestModel):
    role: MessageRole
    content: MessageText
    token_count: Annotated[int, Field(ge=0, le=10_000_000)] | None = None


class MessagePublic(CustomModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    role: MessageRole
    content: str
    token_count: int | None
    created_at: UTCDateTime


class ChatMessagePublic(MessagePublic):
    """A message of a chat API: an assistant reply also says how it was produced."""

    status: MessageStatus
    provider: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    usage_estimated: bool = False
    cost_usd: Decimal | None = None
    latency_ms: int | None = None
    finish_reason: str | None = None
    error_type: str | None = None


class ChatTurnRequest(RequestModel):
    """One user turn: the message, and how to answer it."""

    content: MessageText
    provider: Annotated[str, StringConstraints(pattern=r"^[a-z]+$", max_length=32)] | None = None
    model: ModelName | None = Field(
        default=None,
        description="A routed name (`openai/gpt-4o-mini`), a name for `provider`, or an alias",
    )
    stream: bool = False
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None

    @model_validator(mode="after")
    def _provider_needs_model(self) -> ChatTurnRequest:
        if self.provider is not None and self.model is None:
            raise ValueError("model is required when provider is given")
        return self

    def routed_model(self) -> str | None:
        """``provider`` + ``model`` as one routed name (None: the server's default)."""
        if self.provider is None or self.model is None:
            return self.model
        prefix = f"{self.provider}/"
        return self.model if self.model.startswith(prefix) else prefix + self.model


class ChatTurnResponse(CustomModel):
    user_message: ChatMessagePublic
    assistant_message: ChatMessagePublic
