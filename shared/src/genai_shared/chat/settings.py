"""Settings of a chat API's turns: how much history is sent, the largest reply allowed."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class ChatSettings(BaseSettings):
    """Mixed into the settings of every project that serves chat turns."""

    chat_history_messages: int = Field(
        default=50, ge=1, le=500, description="How many earlier messages a chat turn sends"
    )
    chat_max_tokens_cap: int = Field(
        default=4096, ge=1, description="The largest max_tokens a caller may ask for"
    )
