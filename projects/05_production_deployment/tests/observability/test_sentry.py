"""Sentry, against a fake ingest endpoint on 127.0.0.1: what leaves the process on a crash.

The app is built with ``SENTRY_DSN`` pointing at a tiny HTTP server that keeps every
envelope the SDK posts. A request carrying a bearer token, an API key, a password and an
email address then hits a route that raises with a provider key in its message. The event
must arrive with the exception type and the route, and none of those secrets (nor the app's
``SECRET_KEY``) may appear anywhere in the bytes that were sent.
"""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sentry_sdk
from fastapi import Body, FastAPI

from genai_shared.testing.contracts import support
from production_deployment.core.database import Base
from production_deployment.main import create_app
from production_deployment.observability.logs import REDACTED, Redactor
from production_deployment.observability.sentry import scrub

PROVIDER_KEY = "sk-proj-sentrycanary0123456789abcdef"
UNCONFIGURED_PROVIDER_KEY = "sk-ant-api03-sentrycanaryNotInSettings42"
METRICS_TOKEN = "metrics-sentry-canary-0123456789"
PASSWORD = "sentry canary password 42!"
SESSION_COOKIE = "session-cookie-canary-0123456789"
CRASH_PATH = "/test-only/crash/{item_id}"


@dataclass
class Envelope:
    """One envelope as sent: the raw (decompressed) bytes and its parsed items."""

    raw: bytes
    path: str
    header: dict[str, Any]
    items: list[tuple[dict[str, Any], bytes]]

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(payload) for header, payload in self.items if header["type"] == "event"]


def parse_envelope(raw: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]:
    """Envelope header line, then per item: a header line and a payload of ``length`` bytes
    (or up to the next newline when the item header gives no length)."""
    first, _, rest = raw.partition(b"\n")
    header = json.loads(first)
    items = []
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        item_header = json.loads(item_line)
        if "length" in item_header:
            length = item_header["length"]
            payload, rest = rest[:length], rest[length:].removeprefix(b"\n")
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((item_header, payload))
    return header, items


def decompress(body: bytes, encoding: str) -> bytes:
    match encoding.strip().lower():
        case "gzip":
            return gzip.decompress(body)
        case "br":  # the SDK uses brotli only when it is installed, and so can we then
            import brotli

            return bytes(brotli.decompress(body))
        case "deflate":
            return zlib.decompress(body)
        case "" | "identity":
            return body
    raise AssertionError(f"unexpected Content-Encoding {encoding!r}")


@dataclass
class FakeSentry:
    port: int
    envelopes: list[Envelope] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.port}/1"

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [event for envelope in self.envelopes for event in envelope.events()]

    def raw(self) -> bytes:
        with self.lock:
            return b"\n".join(envelope.raw for envelope in self.envelopes)


def make_handler(sink: FakeSentry) -> type[BaseHTTPRequestHandler]:
    class IngestHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            parts = self.path.strip("/").split("/")
            if len(parts) != 3 or parts[0] != "api" or parts[2] != "envelope":
                with sink.lock:
                    sink.errors.append(f"unexpected path {self.path}")
                self.send_response(404)
                self.end_headers()
                return
            raw = decompress(body, self.headers.get("Content-Encoding", ""))
            header, items = parse_envelope(raw)
            with sink.lock:
                sink.envelopes.append(Envelope(raw, self.path, header, items))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads what arrived, not the server's access log."""

    return IngestHandler


@pytest.fixture(scope="module")
def fake_sentry() -> Iterator[FakeSentry]:
    """One ingest server for the module, so a client leaked by one test would show up in
    the next test's count."""
    sink = FakeSentry(port=0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(sink))
    sink.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="fake-sentry", daemon=True)
    thread.start()
    yield sink
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def reset_sentry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No SENTRY_DSN from the environment, and no client left behind for other tests
    (other projects' tests run in the same process)."""
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    yield
    sentry_sdk.get_client().close(timeout=2)
    sentry_sdk.get_global_scope().set_client(None)
    sentry_sdk.get_isolation_scope().set_client(None)
    sentry_sdk.get_current_scope().set_client(None)
    assert not sentry_sdk.get_client().is_active()


@pytest.fixture
def settings_overrides(fake_sentry: FakeSentry) -> dict[str, Any]:
    """The ``app`` fixture's settings: Sentry on, pointed at the fake, and secrets set."""
    return {
        "sentry_dsn": fake_sentry.dsn,
        "openai_api_key": PROVIDER_KEY,
        "metrics_token": METRICS_TOKEN,
    }


def add_crashing_route(app: FastAPI) -> None:
    """A test-only route that fails the way a bug does: an unexpected exception whose
    message carries what a provider echoed back (our key)."""

    async def crash(item_id: str, payload: dict[str, Any] = Body()) -> None:
        raise RuntimeError(
            f"provider rejected {PROVIDER_KEY} and {UNCONFIGURED_PROVIDER_KEY} for {item_id}"
        )

    app.add_api_route(CRASH_PATH, crash, methods=["POST"])


pytestmark = pytest.mark.sqlite_only


async def test_a_crash_reaches_sentry_with_every_secret_scrubbed(
    app, client, user, make_api_key, fake_sentry
):
    assert sentry_sdk.get_client().is_active()
    assert not sentry_sdk.get_client().should_send_default_pii()
    add_crashing_route(app)
    api_key = (await make_api_key())["key"]
    token = user.tokens["access_token"]
    fake_sentry.envelopes.clear()

    response = await client.post(
        CRASH_PATH.format(item_id="42"),
        headers={
            "Authorization": f"Bearer {token}",
            "X-API-Key": api_key,
            "Cookie": f"session={SESSION_COOKIE}",
        },
        json={"email": user.email, "password": PASSWORD, "note": f"mine is {PASSWORD}"},
    )
    assert response.status_code == 500
    assert PROVIDER_KEY not in response.text
    sentry_sdk.flush(timeout=5)

    assert not fake_sentry.errors
    crashes = [
        event
        for event in fake_sentry.events()
        if any(v["type"] == "RuntimeError" for v in event.get("exception", {}).get("values", []))
    ]
    assert len(crashes) == 1, "the crash did not reach the fake Sentry (once)"
    crash = crashes[0]
    assert crash["transaction"] == CRASH_PATH  # the route template, not the raw path
    assert crash["environment"] == "test"
    assert crash["tags"]["request_id"] == response.headers["X-Request-ID"]
    error = crash["exception"]["values"][-1]
    assert error["value"].startswith("provider rejected [REDACTED] and [REDACTED] for 42")
    frames = error["stacktrace"]["frames"]
    assert frames[-1]["function"] == "crash"  # the stack is there to fix the bug with
    assert all("vars" not in frame for frame in frames)
    request = crash["request"]
    assert "data" not in request
    assert "cookies" not in request
    headers = {name.lower(): value for name, value in request["headers"].items()}
    assert headers["authorization"] == REDACTED
    assert headers["x-api-key"] == REDACTED
    assert headers["cookie"] == REDACTED
    assert "ip_address" not in crash.get("user", {})

    raw = fake_sentry.raw()
    secrets = {
        "access token": token,
        "API key": api_key,
        "API key's secret part": api_key.rsplit("_", 1)[1],
        "session cookie": SESSION_COOKIE,
        "password": PASSWORD,
        "email address": user.email,
        "configured provider key": PROVIDER_KEY,
        "unconfigured provider key": UNCONFIGURED_PROVIDER_KEY,
        "metrics token": METRICS_TOKEN,
        "SECRET_KEY": app.state.settings.secret_key.get_secret_value(),
    }
    for name, secret in secrets.items():
        assert secret.encode() not in raw, f"the {name} reached Sentry"


@pytest.mark.parametrize("source", ["unset", "empty variable", "empty secret file"])
async def test_without_a_dsn_sentry_is_not_started_and_nothing_is_sent(
    source, monkeypatch, tmp_path, fake_sentry, settings_factory, sqlite_url
):
    """No DSN, or the empty ``sentry_dsn`` file the deployment guide says means "no
    Sentry": the SDK is never started, and a crash sends nothing."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    if source == "empty variable":
        monkeypatch.setenv("SENTRY_DSN", "")
    elif source == "empty secret file":
        (secrets / "sentry_dsn").write_text("")
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(sentry_sdk, "init", lambda *args, **kwargs: calls.append(kwargs))
    app = create_app(settings_factory(database_url=sqlite_url, _secrets_dir=str(secrets)))
    assert calls == []
    assert not sentry_sdk.get_client().is_active()

    before = len(fake_sentry.envelopes)
    add_crashing_route(app)
    async with support.serve_with_tables(app, Base.metadata) as anon:
        response = await anon.post(CRASH_PATH.format(item_id="7"), json={"password": PASSWORD})
    assert response.status_code == 500
    sentry_sdk.flush(timeout=2)
    assert len(fake_sentry.envelopes) == before


def test_an_empty_sentry_dsn_is_unset(monkeypatch, settings_factory):
    monkeypatch.setenv("SENTRY_DSN", "")
    assert settings_factory().sentry_dsn is None


def test_scrub_masks_credentials_wherever_they_sit():
    """Defence in depth for what ``init_sentry`` already keeps out (frame variables): raw
    ASGI header pairs, this project's API keys by shape, secret-named keys, bodies."""
    api_key = "rag_0123456789ab_" + "A" * 43
    event = {
        "request": {
            "headers": {"Authorization": "Bearer abc", "Accept": "*/*"},
            "data": {"password": PASSWORD},
            "cookies": {"session": SESSION_COOKIE},
        },
        "breadcrumbs": {"values": [{"message": f"retried with {api_key[:30]}"}]},
        "extra": {
            "scope": {"headers": [["b'x-api-key'", f"b'{api_key}'"], ["b'accept'", "b'*/*'"]]},
            "client_secret": "opaque-value-0123",
        },
        "exception": {"values": [{"type": "RuntimeError", "module": "builtins"}]},
    }
    scrubbed = scrub(event, Redactor())
    text = json.dumps(scrubbed)
    for secret in (api_key[17:30], PASSWORD, SESSION_COOKIE, "opaque-value-0123", "abc"):
        assert secret not in text
    assert scrubbed["request"] == {"headers": {"Authorization": REDACTED, "Accept": "*/*"}}
    assert scrubbed["extra"]["scope"]["headers"][1] == ["b'accept'", "b'*/*'"]
    assert scrubbed["exception"]["values"][0]["type"] == "RuntimeError"


def test_scrub_masks_text_with_the_log_redactor_alone():
    """One list of secret shapes (``logs.PATTERNS``) for the logs and for Sentry: scrub
    keeps no pattern of its own, so what the redactor lets through, scrub lets through."""

    class MasksNothing(Redactor):
        def text(self, value: str) -> str:
            return value

    message = "retried with rag_0123456789ab_" + "A" * 43
    assert scrub({"message": message}, MasksNothing()) == {"message": message}
    assert REDACTED in scrub({"message": message}, Redactor())["message"]
