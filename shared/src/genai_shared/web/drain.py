"""Draining: what a process does between "stop" (SIGTERM) and its exit.

A rolling deploy stops old processes while they still serve. From the moment a process is
told to stop:

- readiness answers 503 (``draining``), so the load balancer sends nothing new;
- the server stops accepting connections (uvicorn does this itself);
- requests and streams already running may finish, until the drain deadline. A stream
  still running then ends on its own terms, with an ``error`` event and its partial reply
  stored, instead of being cut off when the server's grace period runs out.

``Drain`` is that state, one per app (``app.state.drain``). Streams wrap each wait for the
next upstream event in ``drain.bounded()``: nothing happens while the process is not
draining (a timeout with no deadline costs a few microseconds); when ``begin()`` is called,
every such wait is given the deadline at once, including ones already in progress.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class DrainDeadlineReached(Exception):
    """The process is stopping and the drain deadline has passed."""


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
    async def bounded(self) -> AsyncIterator[None]:
        """Raise ``DrainDeadlineReached`` if the block is still waiting at the deadline."""
        wait = asyncio.timeout_at(self._deadline)
        try:
            async with wait:
                self._waits.add(wait)
                try:
                    yield
                finally:
                    self._waits.discard(wait)
        except TimeoutError as error:
            if wait.expired():
                raise DrainDeadlineReached from error
            raise  # a timeout of the block's own
