"""The users API's request and response bodies."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import EmailStr, Field, StringConstraints

from genai_shared.schemas import CustomModel, RequestModel, UTCDateTime

DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class UserCreate(RequestModel):
    email: EmailStr = Field(max_length=320)
    display_name: DisplayName


class UserPublic(CustomModel):
    id: uuid.UUID
    email: str
    display_name: str
    created_at: UTCDateTime
