"""Structured logs: one JSON object per line, with what an on-call engineer searches by.

Every line carries ``time``, ``level``, ``logger``, ``message`` and the ``request_id`` of
the request being served; the access log adds ``method``, ``route``, ``status``,
``latency_ms`` and ``user_id``; a provider call adds ``provider``, ``model``, tokens and
``cost_usd``. ``trace_id`` comes from a W3C ``traceparent`` header when a tracer sent one.

Redaction happens here, at the one place every line passes, so no call site can forget:
values of keys that name a secret (``authorization``, ``api_key``, ``password``,
``token``, ``secret`` ...) are replaced, and so is anything *shaped* like a secret or
personal data wherever it appears in a message or a value: bearer tokens, provider keys
(``sk-...``), this project's API keys, JWTs, URL credentials (``postgresql://u:pw@``),
email addresses. The configured secrets themselves (SECRET_KEY, provider keys, the metrics
token, the Sentry DSN) are also masked by value, whatever shape they have.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from genai_shared.log import CurrentStreamHandler
from genai_shared.web.request_id import current_request_id
from production_deployment.auth.security import API_KEY_PREFIX

REDACTED = "[REDACTED]"

# Key names that hold a secret. "token" only as a word of the name (``access_token``,
# ``token``), so counts such as ``input_tokens`` stay readable.
SECRET_KEYS = re.compile(
    r"(authorization|api[_-]?key|password|passwd|secret|cookie|dsn|credential"
    r"|(?:^|[_-])token(?:$|[_-]))",
    re.I,
)

# Shapes of secrets and personal data, in the order they are tried.
PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"),  # a JWT
    re.compile(r"\bsk-[A-Za-z0-9_-]{12,}"),  # OpenAI / Anthropic / OpenRouter keys
    re.compile(r"\b[a-z]{2,8}_(?:live|test|key)_[A-Za-z0-9_-]{12,}"),  # prefixed API keys
    # This project's API keys (auth/security.py), even cut short.
    re.compile(rf"\b{API_KEY_PREFIX}_[0-9a-f]{{12}}_[A-Za-z0-9_-]+"),
    re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),  # user:password@ in a URL
    re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),  # an email address
)

STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is masked whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, REDACTED)
        for pattern in PATTERNS:
            value = pattern.sub(REDACTED, value)
        return value

    def value(self, key: str, value: Any) -> Any:
        if SECRET_KEYS.search(key) and value not in (None, "", 0):
            return REDACTED
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(key, v) for v in value]
        if isinstance(value, int | float | bool) or value is None:
            return value
        return self.text(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, redacted."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redactor.text(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in STANDARD_ATTRIBUTES and key not in entry and not key.startswith("_"):
                entry[key] = self.redactor.value(key, value)
        if record.exc_info:
            kind, error, tb = record.exc_info
            entry["error_type"] = kind.__name__ if kind else None
            entry["error"] = self.redactor.text(str(error))
            entry["stack"] = self.redactor.text("".join(traceback.format_tb(tb)))
        return json.dumps(entry, default=str, ensure_ascii=False)


class RedactingTextFormatter(logging.Formatter):
    """The plain one-line format, for a developer's terminal, redacted just the same."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.text(super().format(record))


HANDLER_MARK = "_production_deployment"
# Loggers configure_logging changes besides the root: their own handlers dropped (their
# records reach ours), and the two access logs switched off.
PROPAGATED = ("uvicorn", "uvicorn.error", "gunicorn.error")
SILENCED = ("uvicorn.access", "gunicorn.access")

_restore: Callable[[], None] | None = None


def configure_logging(
    *, level: str = "INFO", fmt: str = "json", secrets: Iterable[str] = (), stream: Any = None
) -> logging.Handler:
    """Send every logger's records (uvicorn's and gunicorn's too) through one handler.

    Idempotent: a second call replaces the handler, so the app factory and the gunicorn
    hooks may both call it. ``restore_logging`` undoes it (tests).
    """
    global _restore
    if _restore is None:
        _restore = _snapshot()
    redactor = Redactor(secrets)
    # Standard output, as it is at each record (a test that swaps it leaves no stale stream).
    handler: logging.StreamHandler[Any] = (
        CurrentStreamHandler("stdout") if stream is None else logging.StreamHandler(stream)
    )
    handler.setFormatter(
        JsonFormatter(redactor) if fmt == "json" else RedactingTextFormatter(redactor)
    )
    setattr(handler, HANDLER_MARK, True)
    # Marked as the shared handler too, so genai_shared's configure_logging (the lifespan
    # calls it) sees a handler in place and adds no plain one beside it.
    handler._genai_shared = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, "_genai_shared", False)]
    root.addHandler(handler)
    root.setLevel(level)
    for name in PROPAGATED:
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    # Our middleware writes the access log (with the route, the user and the latency).
    for name in SILENCED:
        logging.getLogger(name).disabled = True
    return handler


def restore_logging() -> None:
    """Put back the handlers, levels and switches from before the first ``configure_logging``
    (a test's app must not leave its handler to the rest of the test run)."""
    global _restore
    if _restore is not None:
        _restore()
        _restore = None


def _snapshot() -> Callable[[], None]:
    loggers = [logging.getLogger(name) for name in ("", *PROPAGATED, *SILENCED)]
    saved = [(lg, list(lg.handlers), lg.level, lg.propagate, lg.disabled) for lg in loggers]

    def restore() -> None:
        for logger, handlers, level, propagate, disabled in saved:
            logger.handlers = handlers
            logger.setLevel(level)
            logger.propagate = propagate
            logger.disabled = disabled

    return restore
