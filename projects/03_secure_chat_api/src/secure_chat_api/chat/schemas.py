from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator, model_validator

from genai_shared.schemas import CustomModel, RequestModel, UTCDateTime
from secure_chat_api.chat.models import MessageRole, MessageStatus

MAX_MESSAGE_CHARS = 32_000
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Metadata = Annotated[dict[str, Any], Field(max_length=50, description="Free-form JSON object")]


class ConversationCreate(RequestModel):
    """The owner is the caller; a ``user_id`` in the body is refused (422)."""

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
    content: Annotated[str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_CHARS)]
    token_count: Annotated[int, Field(ge=0, le=10_000_000)] | None = None

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("content must contain more than whitespace")
        return value


class MessagePublic(CustomModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    role: MessageRole
    content: str
    token_count: int | None
    created_at: UTCDateTime
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


ModelName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\w.:@/-]+$")]


class ChatTurnRequest(RequestModel):
    """One user turn: the message, and how to answer it."""

    content: Annotated[str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_CHARS)]
    provider: Annotated[str, StringConstraints(pattern=r"^[a-z]+$", max_length=32)] | None = None
    model: ModelName | None = Field(
        default=None,
        description="A routed name (`openai/gpt-4o-mini`), a name for `provider`, or an alias",
    )
    stream: bool = False
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None

    @field_validator("content")
    @classmethod
    def _content_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("content must contain more than whitespace")
        return value

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
    user_message: MessagePublic
    assistant_message: MessagePublic
