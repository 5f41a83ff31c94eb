"""Server-sent events: the wire format, the response headers, and the response that ends
every stream cleanly: when the client leaves, and when the server stops (the drain
deadline, ``genai_shared.web.drain``).

An event is ``event: <name>`` (optional), one ``data:`` line per line of payload, then a
blank line. Proxies must not buffer it (``X-Accel-Buffering: no``) and caches must not
keep it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from genai_shared.web.drain import Drain, DrainDeadlineReached

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx would otherwise hold the stream back
}
SSE_MEDIA_TYPE = "text/event-stream"


def sse_event(data: Any, event: str | None = None) -> bytes:
    """Encode one event; ``data`` is JSON-encoded unless it is already a string."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    lines = [f"event: {event}"] if event else []
    lines += [f"data: {line}" for line in payload.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


SERVER_SHUTTING_DOWN = sse_event(
    {"type": "ServerShuttingDown", "message": "The server is restarting: retry the request."},
    event="error",
)
"""How a stream whose producer did not end it itself ends at the drain deadline."""


class EventStreamResponse(StreamingResponse):
    """A streaming response that notices a client leaving and always closes its iterator.

    Starlette alone, on servers speaking ASGI 2.4+, only learns of a disconnect at the next
    write and then leaves the body iterator suspended until garbage collection. Here a
    listener cancels the stream as soon as ``http.disconnect`` arrives, and the iterator
    is closed in ``finally`` (shielded), so the generator's cleanup (saving a partial
    reply, closing the upstream connection) runs at once, every time.

    When the server stops, every wait for the next chunk is bounded by the drain deadline
    (``drain``, else the app's ``app.state.drain``): a producer waiting in
    ``drain_deadline()`` ends the stream in its own format; any other is cancelled and
    the stream ends with ``SERVER_SHUTTING_DOWN``.
    """

    media_type = SSE_MEDIA_TYPE

    def __init__(
        self,
        content: AsyncIterator[bytes],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        *,
        drain: Drain | None = None,
    ) -> None:
        super().__init__(
            content, status_code=status_code, headers={**SSE_HEADERS, **(headers or {})}
        )
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Start the iterator before anything can cancel this call: closing a generator
        # that never started skips its body, cleanup included (a client gone at once
        # would leave a reply unsaved, a budget reserved and the upstream open).
        primed = await _Primed.start(self.body_iterator)
        drain = self.drain or _app_drain(scope)
        self.body_iterator = primed if drain is None else _until_drained(primed, drain)
        async with anyio.create_task_group() as group:

            async def stream_then_stop() -> None:
                try:
                    await self.stream_response(send)
                except OSError:
                    pass  # the client went away while we were writing
                finally:
                    group.cancel_scope.cancel()

            group.start_soon(stream_then_stop)
            await self.listen_for_disconnect(receive)
            group.cancel_scope.cancel()

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        finally:
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                with anyio.CancelScope(shield=True):
                    await close()


def _app_drain(scope: Scope) -> Drain | None:
    drain = getattr(getattr(scope.get("app"), "state", None), "drain", None)
    return drain if isinstance(drain, Drain) else None


async def _until_drained(body: AsyncIterator[bytes], drain: Drain) -> AsyncIterator[bytes]:
    """``body``, each wait for its next chunk bounded by the drain deadline. Once the
    deadline has reached the producer and it went on (to end the stream itself), the rest
    is read without a bound: that is its last event and its cleanup."""
    try:
        while True:
            async with drain.bounded() as wait:
                chunk = await anext(body, None)
            if chunk is None:
                return
            yield chunk
            if wait.expired():
                break
        async for chunk in body:
            yield chunk
    except DrainDeadlineReached:
        yield SERVER_SHUTTING_DOWN
    finally:
        close = getattr(body, "aclose", None)
        if close is not None:
            with anyio.CancelScope(shield=True):
                await close()


class _Primed:
    """An async iterator already advanced to its first item, which it gives back first."""

    _NONE: Any = object()  # no item held: the first was handed out, or there was none

    def __init__(self, inner: AsyncIterator[Any], first: Any, *, empty: bool) -> None:
        self._inner = inner
        self._held = first
        self._empty = empty

    @classmethod
    async def start(cls, source: AsyncIterable[Any]) -> _Primed:
        inner = aiter(source)
        try:
            return cls(inner, await anext(inner), empty=False)
        except StopAsyncIteration:
            return cls(inner, cls._NONE, empty=True)

    def __aiter__(self) -> _Primed:
        return self

    async def __anext__(self) -> Any:
        if self._empty:
            raise StopAsyncIteration
        if self._held is not self._NONE:
            item, self._held = self._held, self._NONE
            return item
        return await anext(self._inner)

    async def aclose(self) -> None:
        close = getattr(self._inner, "aclose", None)
        if close is not None:
            await close()
