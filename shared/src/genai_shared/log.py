"""Logging set-up: one line per record, with the request id of the request being served."""

from __future__ import annotations

import logging
import sys
from typing import Literal, TextIO, cast

from genai_shared.web.request_id import current_request_id


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` so every format string can print it: the id of the
    request being served, unless the call passed its own (``extra={"request_id": ...}``).

    Records are shared by every handler they pass through, so this never overwrites a
    value that is already there.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id() or "-"
        return True


class CurrentStreamHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` (or ``sys.stdout``) is when a record is emitted,
    as logging's own last-resort handler does. A handler that kept the stream it was made
    with would keep a test's captured stream, and write to it after it is closed (at exit,
    a traceback).

    ``setStream(stream)`` still works: the handler writes there until ``setStream(None)``
    (what the first call gave back) makes it follow ``sys`` again.
    """

    def __init__(self, name: Literal["stderr", "stdout"] = "stderr") -> None:
        self.stream_name = name
        self._chosen: TextIO | None = None
        super().__init__()

    @property
    def stream(self) -> TextIO:
        if self._chosen is not None:
            return self._chosen
        return cast(TextIO, getattr(sys, self.stream_name))

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # StreamHandler.__init__ sets it; only setStream chooses a stream

    def setStream(self, stream: TextIO | None) -> TextIO | None:
        """Write to ``stream`` from now on (None: to the current ``sys`` one again); gives
        back the stream chosen before, None when there was none."""
        self.acquire()
        try:
            self.flush()
            previous, self._chosen = self._chosen, stream
        finally:
            self.release()
        return previous


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [request_id=%(request_id)s] %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """Install one handler on the root logger (idempotent, so reloads do not double lines)."""
    root = logging.getLogger()
    root.setLevel(level)
    for handler in root.handlers:
        if getattr(handler, "_genai_shared", False):
            return
    handler = CurrentStreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    handler._genai_shared = True  # type: ignore[attr-defined]
    root.addHandler(handler)
