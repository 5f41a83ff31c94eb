"""The log canary: secrets and personal data sent through the API never reach a log line.

The app is driven with a password, a bearer token, an API key, a provider key and an email
address, including through a failure; then every line written is parsed as JSON and
searched for each of them.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from typing import Any, ClassVar

import pytest

from production_deployment.observability.logs import (
    REDACTED,
    Redactor,
    configure_logging,
    restore_logging,
)

PROVIDER_KEY = "sk-proj-canary0123456789abcdefghij"
METRICS_TOKEN = "metrics-canary-0123456789"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"openai_api_key": PROVIDER_KEY, "metrics_token": METRICS_TOKEN, "log_level": "DEBUG"}


@pytest.fixture
def log_stream(app) -> io.StringIO:
    """Every record, as the app's JSON handler writes it (built with the app's secrets)."""
    stream = io.StringIO()
    settings = app.state.settings
    configure_logging(level="DEBUG", fmt="json", secrets=settings.secret_values(), stream=stream)
    return stream


@pytest.mark.sqlite_only
async def test_no_secret_or_email_reaches_a_log_line(
    client, anon, user, log_stream, app, make_api_key
):
    # Traffic that carries every secret: a login, calls with the token, a bad API key,
    # an unauthorized scrape, a provider key in a message, and a logged failure.
    await anon.post("/api/v1/auth/login", data={"username": user.email, "password": "wrong pw 1"})
    await client.get("/api/v1/conversations")
    await anon.get(
        "/api/v1/conversations", headers={"X-API-Key": "gsk_live_canaryapikey0123456789"}
    )
    await anon.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}x"})
    real_key = (await make_api_key())["key"]
    await anon.get("/v1/models", headers={"X-API-Key": real_key})
    logging.getLogger("production_deployment.canary").warning("key was %s", real_key[:30])
    logging.getLogger("production_deployment.canary").error(
        "upstream said %s for %s with %s",
        f"Authorization: Bearer {PROVIDER_KEY}",
        user.email,
        "postgresql://app:hunter2-db-password@db:5432/app",
        extra={"api_key": PROVIDER_KEY, "headers": {"authorization": "Bearer abc.def.ghi"}},
    )
    try:
        raise RuntimeError(f"failed with key {PROVIDER_KEY}")
    except RuntimeError:
        logging.getLogger("production_deployment.canary").exception("boom")

    lines = [line for line in log_stream.getvalue().splitlines() if line]
    assert len(lines) >= 5
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    token = client.headers["Authorization"].removeprefix("Bearer ")
    canaries = [
        PROVIDER_KEY,
        METRICS_TOKEN,
        token,
        "gsk_live_canaryapikey0123456789",
        real_key,
        real_key[:30],
        "hunter2-db-password",
        "wrong pw 1",
        user.email,
        app.state.settings.secret_key.get_secret_value(),
    ]
    for line in lines:
        for canary in canaries:
            assert canary not in line, (canary, line)
    access = [r for r in records if r["logger"] == "production_deployment.access"]
    assert {r["route"] for r in access} >= {"/api/v1/auth/login", "/api/v1/conversations"}
    assert all(r["request_id"] for r in access)
    signed_in = [r for r in access if r["route"] == "/api/v1/conversations" and r["status"] == 200]
    assert signed_in[0]["user_id"] == str(user.id)
    canary = next(r for r in records if "api_key" in r)
    assert canary["api_key"] == REDACTED
    assert canary["headers"]["authorization"] == REDACTED


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("auth Bearer eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl", "auth"),
        ("key sk-ant-api03-abcdefghijklmnop", "key"),
        ("mail bob.smith+x@example.co.uk now", "mail"),
        ("redis://default:s3cret-pass@cache:6379/0", "redis://"),
    ],
)
def test_shapes_of_secrets_are_masked(text: str, kept: str):
    masked = Redactor().text(text)
    assert REDACTED in masked
    assert kept in masked
    assert "s3cret" not in masked
    assert "abcdefghijklmnop" not in masked
    assert "bob.smith" not in masked


def test_ordinary_text_is_left_alone():
    text = "GET /api/v1/conversations 200 in 12.5 ms for 3 messages"
    assert Redactor(["a-configured-secret"]).text(text) == text


@pytest.mark.parametrize(
    ("key", "masked"),
    [
        ("access_token", True),
        ("token", True),
        ("refresh-token", True),
        ("x_api_key", True),
        ("input_tokens", False),
        ("output_tokens", False),
        ("max_tokens", False),
    ],
)
def test_secret_key_names_but_not_token_counts(key: str, masked: bool):
    assert (Redactor().value(key, "a-value-0123456789") == REDACTED) is masked


def test_the_handler_writes_to_stdout_as_it_is_now(capsys):
    """Not to the stdout of the moment it was configured: a test's swapped-in stream (closed
    after the test) would otherwise keep every later record of the process."""
    configure_logging(fmt="json")
    with contextlib.redirect_stdout(io.StringIO()) as elsewhere:
        logging.getLogger("production_deployment.canary").warning("now here")
    assert "now here" in elsewhere.getvalue()
    assert "now here" not in capsys.readouterr().out


def test_restore_logging_puts_back_what_configure_logging_changed():
    """What a test's app changes for the whole process (the root handlers and level, the
    uvicorn and gunicorn loggers), undone."""
    names = ("", "uvicorn", "uvicorn.error", "gunicorn.error", "uvicorn.access", "gunicorn.access")

    def state() -> list[tuple[Any, ...]]:
        loggers = [logging.getLogger(name) for name in names]
        return [(list(lg.handlers), lg.level, lg.propagate, lg.disabled) for lg in loggers]

    restore_logging()
    before = state()
    configure_logging(level="DEBUG", fmt="json")
    configure_logging(level="WARNING", fmt="text")  # twice, as the app and gunicorn do
    assert state() != before
    restore_logging()
    assert state() == before


class TestCaplogBeforeTheAppLeavesNoDebug:
    """``caplog.set_level(DEBUG)`` before the app configures logging (as ``test_secrets.py``
    does): ``restore_logging`` then puts back caplog's DEBUG after caplog has undone it, so
    the level of before the test comes from the plugin. The tests run in file order."""

    levels_before: ClassVar[list[int]] = []

    def test_caplog_then_the_app(self, caplog):
        self.levels_before.append(logging.getLogger().level)
        caplog.set_level(logging.DEBUG)
        configure_logging(level="DEBUG", fmt="json")

    def test_the_next_test_has_the_level_of_before(self):
        assert self.levels_before
        assert logging.getLogger().level == self.levels_before[0] != logging.DEBUG
