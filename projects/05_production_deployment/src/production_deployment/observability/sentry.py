"""Error tracking with Sentry, when ``SENTRY_DSN`` is set.

Only what a developer needs to fix an error is sent: the exception, its stack (file, line,
function and the source lines around it), the route, the request id (tag ``request_id``,
the id the client got in ``X-Request-ID`` and the logs carry). Not sent:

- local variables of the stack frames (``include_local_variables=False``): they hold the
  raw ASGI scope with every header, the request body as bytes and as a dict, and objects
  whose ``repr`` no redactor can be trusted to understand;
- request bodies (``max_request_body_size="never"``, and ``request.data`` dropped) and
  cookies;
- personal data the integrations could attach (client address, user): ``send_default_pii``
  is left at its default, off.

Before anything leaves the process, ``scrub`` also passes every string of the event
(breadcrumbs, messages, exception values) through the same redactor as the logs (its
patterns include this project's API-key shape), and masks headers that carry credentials,
as a dict of the request or as ``[name, value]`` pairs of an ASGI scope.
"""

from __future__ import annotations

import re
from typing import Any

from genai_shared.web.request_id import current_request_id
from production_deployment.observability.logs import REDACTED, SECRET_KEYS, Redactor

SENSITIVE_HEADERS = frozenset({"authorization", "x-api-key", "cookie", "set-cookie"})
# A header name as a frame or breadcrumb may show it: authorization, 'authorization',
# b'authorization'.
_QUOTED = re.compile(r"^b?(['\"])(.*)\1$")


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
        if _is_sensitive_header_pair(value):
            return [_walk(value[0], redactor, key), REDACTED]
        return [_walk(v, redactor, key) for v in value]
    if isinstance(value, str):
        if key and SECRET_KEYS.search(key) and key not in ("type", "module"):
            return REDACTED
        return redactor.text(value)
    return value


def _is_sensitive_header_pair(value: list[Any]) -> bool:
    if len(value) != 2 or not isinstance(value[0], str):
        return False
    name = _QUOTED.sub(r"\2", value[0].strip())
    return name.lower() in SENSITIVE_HEADERS


def init_sentry(
    *,
    dsn: str,
    environment: str,
    release: str,
    traces_sample_rate: float,
    redactor: Redactor,
) -> bool:
    """Start the SDK, and say whether it started: a blank DSN (the empty ``sentry_dsn``
    secret file of a deployment without Sentry) starts nothing."""
    if not dsn.strip():
        return False
    import sentry_sdk

    def before_send(event: Any, hint: Any) -> Any:
        # Called where the event is captured: in the request's context for an error.
        request_id = current_request_id()
        if request_id:
            event.setdefault("tags", {})["request_id"] = request_id
        return scrub(event, redactor)

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        traces_sample_rate=traces_sample_rate,
        before_send=before_send,
        before_send_transaction=before_send,
        max_request_body_size="never",
        include_local_variables=False,
    )
    return True
