"""A chat turn's reply streamed to the client as server-sent events, stored however it ends.

The events: ``start`` (the ids of the user's message and of the reply), ``delta`` (text),
then exactly one of ``done`` (finish reason, usage, cost) or ``error`` (type, message,
the partial text). A stream that ends without ``done`` is incomplete, by definition.

The projects differ in what "stored" means (project 03 also settles a budget and a usage
ledger); that is the ``settle`` callback each passes in. What they share is here: the
event loop, the text collected on the way, usage estimated locally when the provider
never sent it, and the guarantee that ``settle`` runs exactly once, shielded from
cancellation, whether the stream completes, fails, or the client leaves, and that the
provider's stream is closed after.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import anyio

from genai_shared.chat.schemas import MessageStatus
from genai_shared.chat.turns import Reply
from genai_shared.llm.errors import ProviderError
from genai_shared.llm.fallback import FallbackStream
from genai_shared.llm.http_errors import to_app_error
from genai_shared.llm.tokens import count_messages, count_text
from genai_shared.llm.types import ChatMessage, StreamEnd, StreamEvent, TextDelta, Usage
from genai_shared.web.sse import sse_event

logger = logging.getLogger(__name__)


Status = Literal["complete", "error", "cancelled"]


@dataclass(frozen=True)
class TurnEnd:
    """How a streamed reply ended, with what it had sent."""

    status: Status
    text: str
    usage: Usage
    usage_estimated: bool = False
    finish_reason: str | None = None
    error_type: str | None = None
    provider_request_id: str | None = None
    # The provider's stream did not end by itself: the client left, or this side failed.
    interrupted: bool = False

    def reply(self) -> Reply:
        """What to store on the assistant message."""
        return Reply(
            content=self.text,
            status=MessageStatus(self.status),
            usage=self.usage,
            usage_estimated=self.usage_estimated,
            finish_reason=self.finish_reason,
            error_type=self.error_type,
            provider_request_id=self.provider_request_id,
        )


# Stores the reply (and whatever else the project keeps) and, for a complete turn,
# returns the ``done`` event's payload.
Settle = Callable[[TurnEnd], Awaitable[Mapping[str, Any]]]


class StoredReply(Protocol):
    """The stored assistant message a ``done`` event describes."""

    id: Any
    cost_usd: Any
    provider: str | None
    model: str | None


def done_payload(message: StoredReply, end: TurnEnd) -> dict[str, Any]:
    """The ``done`` event's payload, for the reply stored as ``message``."""
    return {
        "message_id": str(message.id),
        "finish_reason": end.finish_reason,
        "usage": end.usage.model_dump(),
        "cost_usd": str(message.cost_usd),
        "provider": message.provider,
        "model": message.model,
    }


async def stream_turn(
    stream: FallbackStream,
    first: StreamEvent,
    *,
    start: Mapping[str, str],
    settle: Settle,
    prompt: Sequence[ChatMessage],
) -> AsyncIterator[bytes]:
    """Forward ``stream`` (whose ``first`` event was already read) as the turn's events.

    ``start`` is the ``start`` event's payload (it must hold ``message_id``);
    ``prompt`` is what was sent, counted here (only) when the provider never reports usage.
    """
    parts: list[str] = []
    settled = False

    def estimated() -> Usage:
        text = "".join(parts)
        return Usage(
            input_tokens=count_messages(list(prompt)), output_tokens=count_text(text) if text else 0
        )

    async def end(status: Status, **fields: Any) -> Mapping[str, Any]:
        nonlocal settled
        settled = True
        # Shielded: when the client has gone this task is being cancelled, and the
        # partial reply must still be stored.
        with anyio.CancelScope(shield=True):
            done = await settle(TurnEnd(status=status, text="".join(parts), **fields))
        return done

    try:
        yield sse_event(dict(start), event="start")
        event = first
        while True:
            if isinstance(event, TextDelta):
                parts.append(event.text)
                yield sse_event({"text": event.text}, event="delta")
            elif isinstance(event, StreamEnd):
                done = await end(
                    "complete",
                    usage=event.usage,
                    finish_reason=event.finish_reason,
                    provider_request_id=event.request_id,
                )
                yield sse_event(dict(done), event="done")
                return
            event = await anext(stream)
    except ProviderError as error:
        await end("error", usage=estimated(), usage_estimated=True, error_type=type(error).__name__)
        app_error = to_app_error(error)
        yield sse_event(
            {
                "type": app_error.error_type,
                "message": app_error.message,
                "message_id": start["message_id"],
                "partial_content": "".join(parts),
            },
            event="error",
        )
    except (asyncio.CancelledError, GeneratorExit):
        if not settled:
            logger.info("client disconnected mid-stream; keeping the partial reply")
            await end("cancelled", usage=estimated(), usage_estimated=True, interrupted=True)
        raise
    except Exception as error:
        if not settled:
            await end(
                "error",
                usage=estimated(),
                usage_estimated=True,
                error_type=type(error).__name__,
                interrupted=True,
            )
        raise
    finally:
        with anyio.CancelScope(shield=True):
            await stream.aclose()  # releases the provider's connection
