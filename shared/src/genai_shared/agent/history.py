"""A conversation's stored messages as a history both providers accept.

Both APIs reject a tool result that does not follow the assistant message that asked for
it (OpenAI: a ``tool`` message must answer a ``tool_calls`` entry of the message before
it; Anthropic: each ``tool_result`` needs its ``tool_use`` in the previous assistant
turn), and an assistant tool call left without its result. A history window cut at an
arbitrary message can break both rules, so ``replayable`` keeps a tool exchange only
whole: the assistant message with every one of its results, or (results missing) just
its text. It also drops what a provider refuses at the start of a history (anything
before the first user message but system messages) and empty assistant messages.

The rows are the project's own ``Message`` class (``load_history`` takes it), which has
the tool columns ``tool_calls`` and ``tool_call_id`` besides the shared chat columns.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.chat.schemas import MessageStatus
from genai_shared.llm.types import ChatMessage, ToolCall


class ToolMessageRow(Protocol):
    """A stored message with the tool columns an agent's history needs."""

    role: str
    content: str
    tool_calls: list[dict[str, Any]] | None
    tool_call_id: str | None


def chat_message(row: ToolMessageRow) -> ChatMessage:
    """One stored message in the provider-neutral shape, tool columns included."""
    calls = [ToolCall.model_validate(call) for call in row.tool_calls or ()]
    return ChatMessage.model_validate(
        {
            "role": row.role,
            "content": row.content,
            "tool_calls": calls or None,
            "tool_call_id": row.tool_call_id,
        }
    )


def replayable(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """``messages`` (oldest first) with every broken or dangling tool exchange repaired."""
    kept: list[ChatMessage] = []
    index = 0
    while index < len(messages):
        message = messages[index]
        index += 1
        if message.role == "tool":
            continue  # its assistant message is outside the window (or was dropped)
        if message.role == "assistant" and message.tool_calls:
            results: dict[str, ChatMessage] = {}
            while index < len(messages) and messages[index].role == "tool":
                result = messages[index]
                results.setdefault(result.tool_call_id or "", result)
                index += 1
            ids = [call.id for call in message.tool_calls]
            if all(call_id in results for call_id in ids):
                kept.append(message)
                kept.extend(results[call_id] for call_id in ids)
            elif message.content:
                kept.append(ChatMessage(role="assistant", content=message.content))
            continue
        if message.role == "assistant" and not message.content:
            continue
        kept.append(message)
    first_user = next((i for i, m in enumerate(kept) if m.role == "user"), len(kept))
    return [m for m in kept[:first_user] if m.role == "system"] + kept[first_user:]


async def load_history(
    session: AsyncSession, message_model: Any, *, conversation_id: uuid.UUID, limit: int
) -> list[ChatMessage]:
    """The conversation's last ``limit`` complete messages, oldest first, made replayable.
    ``message_model`` is the project's ``Message`` class."""
    Message = message_model
    rows = await session.scalars(
        select(Message)
        .where(
            Message.conversation_id == conversation_id,
            Message.status == MessageStatus.COMPLETE.value,
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit)
    )
    return replayable([chat_message(row) for row in reversed(list(rows))])
