"""Draining: what a process does between "stop" (SIGTERM) and its exit.

A rolling deploy stops old processes while they still serve. From the moment a process is
told to stop:

- readiness answers 503 (``draining``), so the load balancer sends nothing new;
- the server stops accepting connections (uvicorn does this itself);
- requests and streams already running may finish, until the drain deadline. A stream
  still running then ends on its own terms, with a last error event in its own format and
  its partial reply stored, instead of being cut off when the server's grace period runs
  out.

``Drain`` is that state, one per app (``app.state.drain``). Waits are wrapped in
``drain.bounded()``: nothing happens while the process is not draining (a timeout with no
deadline costs a few microseconds); when ``begin()`` is called, every such wait is given
the deadline at once, including ones already in progress.

Every server-sent-event stream passes through one such wait: ``EventStreamResponse``
bounds each wait for the stream's next chunk (``genai_shared.web.sse``). The producer of
the chunks, waiting on its upstream inside that wait, learns of the deadline in one of
two ways:

- it waits in ``drain_deadline()`` (or a ``drain.bounded()`` of its own): the deadline is
  raised there as ``DrainDeadlineReached``, and the producer ends the stream itself (an
  ``error`` event, an OpenAI error chunk ...) after storing what it has;
- it does not: it is cancelled, its cleanup runs as when a client leaves, and the
  response ends the stream with a plain ``error`` event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import NamedTuple


class DrainDeadlineReached(Exception):
    """The process is stopping and the drain deadline has passed."""


class _Wait(NamedTuple):
    task: asyncio.Task[object]
    timeout: asyncio.Timeout


# The armed wait the current code runs inside, if any: only the outermost wait of a task
# holds a timer (two timers for one deadline would both cancel the task).
_armed: ContextVar[_Wait | None] = ContextVar("drain_wait", default=None)


class Drain:
    def __init__(self) -> None:
        self.draining = False
        self.started_at: float | None = None  # wall clock, for the readiness report
        self._deadline: float | None = None  # loop time
        self._waits: set[asyncio.Timeout] = set()

    def begin(self, seconds: float) -> None:
        """Start draining now; waits still running ``seconds`` from now are ended.

        Call it on the event loop's thread (from a signal handler, through
        ``loop.call_soon_threadsafe``). A second call never extends the deadline.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(seconds, 0.0)
        if self._deadline is not None and self._deadline <= deadline:
            return
        self.draining = True
        self.started_at = self.started_at or time.time()
        self._deadline = deadline
        for wait in list(self._waits):
            wait.reschedule(deadline)

    @asynccontextmanager
    async def bounded(self) -> AsyncIterator[asyncio.Timeout]:
        """Raise ``DrainDeadlineReached`` if the block is still waiting at the deadline.

        Gives the wait's timeout: ``expired()`` says whether the deadline reached the block
        (also when the code inside caught it and went on). Inside another ``bounded()`` of
        the same task, this one only says where the deadline is raised (``drain_deadline``).
        """
        enclosing = _enclosing_wait()
        if enclosing is not None:
            async with _raised_here(enclosing.timeout):
                yield enclosing.timeout
            return
        task = asyncio.current_task()
        assert task is not None, "bounded() runs in a task"
        wait = asyncio.timeout_at(self._deadline)
        token = _armed.set(_Wait(task, wait))
        try:
            async with wait:
                self._waits.add(wait)
                try:
                    yield wait
                finally:
                    self._waits.discard(wait)
        except TimeoutError as error:
            if wait.expired():
                raise DrainDeadlineReached from error
            raise  # a timeout of the block's own
        finally:
            _armed.reset(token)


@asynccontextmanager
async def drain_deadline() -> AsyncIterator[None]:
    """Where a stream's producer waits (on its upstream): if the drain deadline ends the
    wait around it (``EventStreamResponse``'s for the next chunk), raise
    ``DrainDeadlineReached`` here rather than a bare cancellation, so the producer can end
    the stream in its own format. Wrap a wait, never a ``yield``. Outside a drain wait,
    nothing happens."""
    enclosing = _enclosing_wait()
    if enclosing is None:
        yield
        return
    async with _raised_here(enclosing.timeout):
        yield


def _enclosing_wait() -> _Wait | None:
    """The armed wait of the current task the caller runs inside (a task started inside
    one copies the variable, and has no part in it)."""
    wait = _armed.get()
    return wait if wait is not None and wait.task is asyncio.current_task() else None


@asynccontextmanager
async def _raised_here(enclosing: asyncio.Timeout) -> AsyncIterator[None]:
    """The enclosing wait's deadline raised in this block. The enclosing timeout has
    cancelled the task: the cancellation is taken here, and the timeout, when it exits,
    takes back its cancel request as it always does."""
    if enclosing.expired():
        raise DrainDeadlineReached  # past the deadline no new wait begins
    try:
        yield
    except asyncio.CancelledError as error:
        if enclosing.expired():
            raise DrainDeadlineReached from error
        raise
