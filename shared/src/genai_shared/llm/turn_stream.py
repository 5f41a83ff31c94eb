"""A chat turn's reply streamed to the client as server-sent events, stored however it ends.

The events: ``start`` (the ids of the user's message and of the reply), ``delta`` (text),
then exactly one of ``done`` (finish reason, usage, cost) or ``error`` (type, message,
the partial text). A stream that ends without ``done`` is incomplete, by definition.

The projects differ in what "stored" means (project 03 also settles a budget and a usage
ledger); that is the ``on_end`` hook each passes in, with the call's ``CallRecord``. What
they share is here: the event loop, the text collected on the way, usage estimated
locally when the provider never sent it, and the guarantee that ``on_end`` runs exactly
once, shielded from
cancellation, whether the stream completes, fails, or the client leaves, and that the
provider's stream is closed after.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

import anyio

from genai_shared.llm.calls import CallRecord, OnCallEnd, Outcome
from genai_shared.llm.errors import ProviderError
from genai_shared.llm.fallback import FallbackStream
from genai_shared.llm.http_errors import to_app_error
from genai_shared.llm.tokens import count_messages, count_text
from genai_shared.llm.types import ChatMessage, StreamEnd, StreamEvent, TextDelta, Usage
from genai_shared.web.drain import Drain, DrainDeadlineReached, drain_deadline
from genai_shared.web.sse import sse_event

logger = logging.getLogger(__name__)


class StoredReply(Protocol):
    """The stored assistant message a ``done`` event describes."""

    id: Any
    cost_usd: Any
    provider: str | None
    model: str | None


def done_payload(message: StoredReply, record: CallRecord) -> dict[str, Any]:
    """The ``done`` event's payload, for the reply stored as ``message``."""
    return {
        "message_id": str(message.id),
        "finish_reason": record.finish_reason,
        "usage": record.usage.model_dump(),
        "cost_usd": str(message.cost_usd),
        "provider": message.provider,
        "model": message.model,
    }


async def stream_turn(
    stream: FallbackStream,
    first: StreamEvent,
    *,
    start: Mapping[str, str],
    on_end: OnCallEnd,
    prompt: Sequence[ChatMessage],
    drain: Drain | None = None,
) -> AsyncIterator[bytes]:
    """Forward ``stream`` (whose ``first`` event was already read) as the turn's events.

    ``start`` is the ``start`` event's payload (it must hold ``message_id``);
    ``prompt`` is what was sent, counted here (only) when the provider never reports usage.
    ``stream.record`` is filled in and handed to ``on_end`` exactly once; ``on_end``
    stores the reply (and whatever else the project keeps) and returns the stored
    assistant message, which the ``done`` event describes.

    When the process is stopping and the drain deadline passes while the stream is still
    waiting on the provider, the stream ends with an ``error`` event of type
    ``ServerShuttingDown`` and its partial reply is stored. The deadline is the one of the
    ``EventStreamResponse`` serving the stream; ``drain`` (the app's ``Drain``) bounds the
    stream also where it is read without one.
    """
    record = stream.record
    bounded = drain.bounded if drain is not None else drain_deadline
    parts: list[str] = []
    ended = False

    def estimate() -> None:
        text = "".join(parts)
        record.usage = Usage(
            input_tokens=count_messages(list(prompt)), output_tokens=count_text(text) if text else 0
        )
        record.usage_estimated = True

    async def end() -> dict[str, Any]:
        nonlocal ended
        ended = True
        record.text = "".join(parts)
        record.finish()
        # Shielded: when the client has gone this task is being cancelled, and the
        # partial reply must still be stored.
        with anyio.CancelScope(shield=True):
            message: StoredReply = await on_end(record)
        return done_payload(message, record)

    try:
        yield sse_event(dict(start), event="start")
        event = first
        while True:
            if isinstance(event, TextDelta):
                parts.append(event.text)
                yield sse_event({"text": event.text}, event="delta")
            elif isinstance(event, StreamEnd):
                record.usage, record.finish_reason = event.usage, event.finish_reason
                record.provider_request_id = event.request_id
                done = await end()
                yield sse_event(done, event="done")
                return
            async with bounded():
                event = await anext(stream)
    except DrainDeadlineReached as error:
        record.failed(error, Outcome.ERROR)
        estimate()
        await end()
        yield sse_event(
            {
                "type": "ServerShuttingDown",
                "message": "The server is restarting: the reply so far is saved; retry the turn.",
                "message_id": start["message_id"],
                "partial_content": "".join(parts),
            },
            event="error",
        )
    except ProviderError as error:
        record.failed(error)
        estimate()
        await end()
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
    except (asyncio.CancelledError, GeneratorExit) as error:
        if not ended:
            logger.info("client disconnected mid-stream; keeping the partial reply")
            record.failed(error, Outcome.CANCELLED)
            estimate()
            await end()
        raise
    except Exception as error:
        if not ended:
            record.failed(error)
            estimate()
            await end()
        raise
    finally:
        with anyio.CancelScope(shield=True):
            await stream.aclose()  # releases the provider's connection
