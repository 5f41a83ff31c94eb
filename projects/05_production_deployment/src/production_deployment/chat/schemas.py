"""Project 05's message as the API shows it: the shared one, plus the tool columns an
agent turn stores (an assistant message's ``tool_calls``, a ``tool`` result's
``tool_call_id``)."""

from __future__ import annotations

from typing import Any, Literal

from genai_shared.chat.schemas import ChatMessagePublic


class MessagePublic(ChatMessagePublic):
    role: Literal["user", "assistant", "system", "tool"]  # type: ignore[assignment]
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
