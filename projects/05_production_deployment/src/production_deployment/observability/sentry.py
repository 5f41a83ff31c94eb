"""Error tracking with Sentry, when ``SENTRY_DSN`` is set.

Only what a developer needs to fix an error is sent: the exception, its stack, the route,
the request id. Before anything leaves the process, ``scrub`` passes every string of the
event through the same redactor as the logs, drops request bodies and cookies, and masks
headers that carry credentials; ``send_default_pii`` stays off, so no client address or
user email is attached.
"""

from __future__ import annotations

from typing import Any

from production_deployment.observability.logs import REDACTED, SECRET_KEYS, Redactor

SENSITIVE_HEADERS = frozenset({"authorization", "x-api-key", "cookie", "set-cookie"})


def scrub(event: dict[str, Any], redactor: Redactor) -> dict[str, Any]:
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("data", None)
        request.pop("cookies", None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {
                name: REDACTED if name.lower() in SENSITIVE_HEADERS else value
                for name, value in headers.items()
            }
    cleaned: dict[str, Any] = _walk(event, redactor)
    return cleaned


def _walk(value: Any, redactor: Redactor, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _walk(v, redactor, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, redactor, key) for v in value]
    if isinstance(value, str):
        if key and SECRET_KEYS.search(key) and key not in ("type", "module"):
            return REDACTED
        return redactor.text(value)
    return value


def init_sentry(
    *,
    dsn: str,
    environment: str,
    release: str,
    traces_sample_rate: float,
    redactor: Redactor,
) -> None:
    import sentry_sdk

    def before_send(event: Any, hint: Any) -> Any:
        return scrub(event, redactor)

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        send_default_pii=False,
        traces_sample_rate=traces_sample_rate,
        before_send=before_send,
        before_send_transaction=before_send,
        max_request_body_size="never",
    )
