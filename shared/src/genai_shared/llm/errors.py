"""One error taxonomy for every provider.

Adapters translate their SDK's exceptions into these, so callers (the fallback chain,
the web layer) decide on `retriable` alone. Messages are built by us from the status
code and the upstream error *type*, never from the upstream body: a provider's 500 page
can echo the request's credentials back. `scrub()` is the second line of defence for the
few places where an upstream message is useful (a 400 explaining what was wrong).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_MAX_MESSAGE_CHARS = 300
_REDACTED = "[redacted]"
_SECRET_PATTERNS = (
    re.compile(r"(?i)\bbearer\s+[^\s\"',;}]+"),
    re.compile(r"\bsk-[A-Za-z0-9_\-*.]{6,}"),
    re.compile(
        r"(?i)\b(x-api-key|api[_-]?key|authorization|access[_-]?token)"
        r"([\"'\s]*[:=][\"'\s]*)[^\s\"',;}]+"
    ),
)
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Redact known secrets and anything that looks like a credential, then truncate."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    for pattern in _SECRET_PATTERNS:
        if pattern.groups >= 2:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{_REDACTED}", text)
        else:
            text = pattern.sub(_REDACTED, text)
    if len(text) > _MAX_MESSAGE_CHARS:
        text = text[: _MAX_MESSAGE_CHARS - 3] + "..."
    return text


def safe_token(value: object) -> str | None:
    """Return `value` if it is a short identifier such as an error type, else None."""
    if isinstance(value, str) and _SAFE_TOKEN.match(value):
        return value
    return None


class ProviderError(Exception):
    """Base of every error a provider adapter raises."""

    retriable: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.provider = provider
        self.message = scrub(message)
        self.status_code = status_code
        self.error_type = safe_token(error_type)
        self.request_id = safe_token(request_id)
        super().__init__(self.message)

    def __str__(self) -> str:
        status = f" (HTTP {self.status_code})" if self.status_code is not None else ""
        return f"{self.provider}: {self.message}{status}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(provider={self.provider!r}, message={self.message!r}, "
            f"status_code={self.status_code!r}, retriable={self.retriable!r})"
        )


class RateLimited(ProviderError):
    retriable = True

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        retry_after: float | None = None,
        status_code: int | None = 429,
        error_type: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(
            message,
            provider=provider,
            status_code=status_code,
            error_type=error_type,
            request_id=request_id,
        )
        self.retry_after = retry_after


class ProviderTimeout(ProviderError):
    retriable = True


class ProviderUnavailable(ProviderError):
    """5xx, 529 overloaded, connection failures, malformed or truncated responses."""

    retriable = True


class InvalidRequest(ProviderError):
    retriable = False


class AuthenticationFailed(ProviderError):
    retriable = False


class ContentFiltered(ProviderError):
    retriable = False


def parse_retry_after(
    headers: Mapping[str, str] | None, *, now: datetime | None = None
) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds or an HTTP date)."""
    if not headers:
        return None
    lowered = {key.lower(): value for key, value in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000.0, 0.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


_CONTENT_FILTER_TYPES = frozenset({"content_policy_violation", "content_filter"})
_CLASS_BY_TYPE: dict[str, type[ProviderError]] = {
    "rate_limit_error": RateLimited,
    "rate_limit_exceeded": RateLimited,
    "overloaded_error": ProviderUnavailable,
    "api_error": ProviderUnavailable,
    "server_error": ProviderUnavailable,
    "timeout_error": ProviderTimeout,
    "authentication_error": AuthenticationFailed,
    "permission_error": AuthenticationFailed,
    "invalid_api_key": AuthenticationFailed,
    "invalid_request_error": InvalidRequest,
    "not_found_error": InvalidRequest,
    "request_too_large": InvalidRequest,
}


def error_class_for(status_code: int | None, error_type: str | None) -> type[ProviderError]:
    """Pick the taxonomy class from an HTTP status and the provider's error type string.

    The status decides when there is one; the type only tells content-filter rejections
    from other 4xx, and classifies errors that arrive inside a 200 stream (no status).
    """
    if error_type in _CONTENT_FILTER_TYPES:
        return ContentFiltered
    if status_code is None or status_code < 400:
        return _CLASS_BY_TYPE.get(error_type or "", ProviderUnavailable)
    if status_code == 429:
        return RateLimited
    if status_code in (401, 403):
        return AuthenticationFailed
    if status_code == 408:
        return ProviderTimeout
    if status_code >= 500:
        return ProviderUnavailable
    return InvalidRequest


def describe(summary: str, error_type: str | None) -> str:
    """A message built only from safe facts, never from the upstream body."""
    token = safe_token(error_type)
    return f"{summary} [{token}]" if token else summary


_SUMMARIES: dict[type[ProviderError], str] = {
    RateLimited: "rate limited by the provider",
    ProviderTimeout: "the provider timed out",
    ProviderUnavailable: "the provider is unavailable",
    InvalidRequest: "the provider rejected the request",
    AuthenticationFailed: "the provider rejected the credentials",
    ContentFiltered: "the provider's content filter blocked the request",
}


def build_error(
    *,
    provider: str,
    status_code: int | None,
    error_type: str | None,
    request_id: str | None = None,
    retry_after: float | None = None,
    detail: str | None = None,
    secrets: Iterable[str] = (),
) -> ProviderError:
    """Build the taxonomy error for an upstream failure.

    `detail` (the upstream's own explanation) is kept, scrubbed, only for client errors
    where it tells the caller what to fix; for server and auth errors it is dropped.
    """
    cls = error_class_for(status_code, error_type)
    message = describe(_SUMMARIES[cls], error_type)
    if detail and cls in (InvalidRequest, ContentFiltered):
        message = f"{message}: {scrub(detail, secrets)}"
    if cls is RateLimited:
        return RateLimited(
            message,
            provider=provider,
            retry_after=retry_after,
            status_code=status_code,
            error_type=error_type,
            request_id=request_id,
        )
    return cls(
        message,
        provider=provider,
        status_code=status_code,
        error_type=error_type,
        request_id=request_id,
    )
