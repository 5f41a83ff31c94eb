from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator

from chat_api_with_db.chat.models import MessageRole
from genai_shared.schemas import CustomModel, RequestModel, UTCDateTime

MAX_MESSAGE_CHARS = 32_000
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Metadata = Annotated[dict[str, Any], Field(max_length=50, description="Free-form JSON object")]


class ConversationCreate(RequestModel):
    user_id: uuid.UUID
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
