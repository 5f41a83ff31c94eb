"""The error taxonomy, scrubbing, and Retry-After parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from genai_shared.llm.errors import (
    AuthenticationFailed,
    ContentFiltered,
    InvalidRequest,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    build_error,
    error_class_for,
    parse_retry_after,
    scrub,
)


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("echo: Authorization: Bearer sk-abc123456789", "sk-abc123456789"),
        ("x-api-key: sk-ant-api03-secretvalue", "secretvalue"),
        ('{"api_key": "opaque-token-value"}', "opaque-token-value"),
        ("Incorrect API key provided: sk-te****7890.", "sk-te****7890"),
    ],
)
def test_scrub_removes_credentials(text: str, leak: str) -> None:
    assert leak not in scrub(text)


def test_scrub_removes_known_secrets_of_any_shape() -> None:
    assert "hunter2hunter2" not in scrub("the key was hunter2hunter2", secrets=["hunter2hunter2"])


def test_scrub_truncates() -> None:
    assert len(scrub("x" * 1000)) == 300


def test_error_messages_are_scrubbed_too() -> None:
    error = ProviderUnavailable("upstream said Bearer sk-live-0123456789", provider="openai")

    assert "sk-live" not in str(error)
    assert "sk-live" not in repr(error)


@pytest.mark.parametrize(
    ("status", "error_type", "expected"),
    [
        (429, None, RateLimited),
        (500, None, ProviderUnavailable),
        (503, None, ProviderUnavailable),
        (529, "overloaded_error", ProviderUnavailable),
        (408, None, ProviderTimeout),
        (400, None, InvalidRequest),
        (404, None, InvalidRequest),
        (401, None, AuthenticationFailed),
        (403, None, AuthenticationFailed),
        (400, "content_policy_violation", ContentFiltered),
        (None, "overloaded_error", ProviderUnavailable),
        (None, "rate_limit_error", RateLimited),
        (None, None, ProviderUnavailable),
        (401, "invalid_request_error", AuthenticationFailed),  # the status decides
        (503, "invalid_request_error", ProviderUnavailable),
    ],
)
def test_classification(status: int | None, error_type: str | None, expected: type) -> None:
    assert error_class_for(status, error_type) is expected


def test_retriable_flags() -> None:
    assert RateLimited.retriable
    assert ProviderTimeout.retriable
    assert ProviderUnavailable.retriable
    assert not (InvalidRequest.retriable)
    assert not (AuthenticationFailed.retriable)
    assert not (ContentFiltered.retriable)


def test_build_error_keeps_detail_only_for_client_errors() -> None:
    bad = build_error(provider="p", status_code=400, error_type=None, detail="max_tokens too big")
    down = build_error(provider="p", status_code=500, error_type=None, detail="stack trace here")

    assert "max_tokens too big" in str(bad)
    assert "stack trace" not in str(down)


def test_build_error_rate_limit_carries_retry_after() -> None:
    error = build_error(provider="p", status_code=429, error_type=None, retry_after=2.0)

    assert isinstance(error, RateLimited)
    assert error.retry_after == 2.0


def test_error_type_must_be_a_short_token() -> None:
    error = InvalidRequest("bad", provider="p", error_type="not a token {json}")

    assert error.error_type is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "Thu, 01 Jan 2026 00:00:30 GMT"}, 30.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str] | None, expected: float | None) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)

    assert parse_retry_after(headers, now=now) == expected
