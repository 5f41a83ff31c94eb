"""The app shell: error envelope for every kind of error, request ids in logs."""

from __future__ import annotations

import io
import logging
from typing import ClassVar

import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from genai_shared.log import CurrentStreamHandler, RequestIdFilter, configure_logging
from genai_shared.settings import BaseAppSettings
from genai_shared.web.app import create_base_app
from genai_shared.web.errors import NotFound, TooManyRequests


class Item(BaseModel):
    name: str


def _app() -> FastAPI:
    app = create_base_app(
        title="t", version="0", settings=BaseAppSettings(_env_file=None, cors_origins=["http://x"])
    )
    log = logging.getLogger("test.web")

    @app.get("/items/{item_id}")
    async def get_item(item_id: int) -> Item:
        log.warning("looking up %s", item_id)
        raise NotFound("No such item", details=[{"item_id": item_id}])

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    @app.get("/limited")
    async def limited() -> None:
        raise TooManyRequests(headers={"Retry-After": "7"})

    return app


async def test_app_error_carries_status_details_and_headers(asgi_client):
    async with asgi_client(_app()) as client:
        response = await client.get("/items/3")
        assert response.status_code == 404
        assert response.json()["error"] == {
            "type": "NotFound",
            "message": "No such item",
            "details": [{"item_id": 3}],
            "request_id": response.headers["x-request-id"],
        }
        limited = await client.get("/limited")
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "7"
        assert limited.json()["error"]["type"] == "TooManyRequests"


async def test_validation_error_never_echoes_input(asgi_client):
    async with asgi_client(_app()) as client:
        response = await client.post("/items", json={"name": {"password": "s3cr3t"}})
        assert response.status_code == 422
        assert "s3cr3t" not in response.text
        assert response.json()["error"]["details"][0]["loc"] == ["body", "name"]


async def test_cors_exposes_request_id(asgi_client):
    async with asgi_client(_app()) as client:
        response = await client.get("/health/live", headers={"Origin": "http://x"})
        assert response.headers["access-control-allow-origin"] == "http://x"
        assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


async def test_log_records_carry_the_request_id(asgi_client, caplog):
    caplog.handler.addFilter(RequestIdFilter())
    async with asgi_client(_app()) as client:
        await client.get("/items/1", headers={"X-Request-ID": "trace-me"})
    record = next(r for r in caplog.records if r.getMessage() == "looking up 1")
    assert record.request_id == "trace-me"


def test_configure_logging_is_idempotent():
    root = logging.getLogger()
    before = len(root.handlers)
    configure_logging("INFO")
    configure_logging("INFO")
    assert len(root.handlers) <= before + 1


def test_an_explicit_request_id_is_kept():
    """Records are shared by every handler: the filter of one must not rewrite a value a
    caller gave (``extra={"request_id": ...}``) before another handler has read it."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    record.request_id = "given"
    assert RequestIdFilter().filter(record)
    assert record.request_id == "given"
    bare = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    RequestIdFilter().filter(bare)
    assert bare.request_id == "-"  # no request is being served here


@pytest.mark.parametrize("name", ["stderr", "stdout"])
def test_the_log_handler_writes_to_the_stream_as_it_is_when_a_record_comes(monkeypatch, name):
    """A handler made while stderr was a test's captured stream must not keep that stream:
    once it is closed, the process's last log lines (at exit) would fail to print."""
    first, later = io.StringIO(), io.StringIO()
    monkeypatch.setattr(f"sys.{name}", first)
    handler = CurrentStreamHandler(name)
    first.close()
    monkeypatch.setattr(f"sys.{name}", later)
    handler.emit(logging.LogRecord("x", logging.WARNING, __file__, 1, "after", None, None))
    assert "after" in later.getvalue()


def test_set_stream_picks_a_stream_until_it_is_given_back(monkeypatch):
    """``setStream`` (how a test reads what the app logs) must not be a silent no-op, and
    giving back what it returned follows ``sys.stderr`` again, not the stream of that time."""
    chosen, current = io.StringIO(), io.StringIO()
    handler = CurrentStreamHandler()
    previous = handler.setStream(chosen)
    handler.emit(logging.LogRecord("x", logging.WARNING, __file__, 1, "chosen", None, None))
    assert "chosen" in chosen.getvalue()
    handler.setStream(previous)
    monkeypatch.setattr("sys.stderr", current)
    handler.emit(logging.LogRecord("x", logging.WARNING, __file__, 1, "current", None, None))
    assert "current" in current.getvalue()
    assert "current" not in chosen.getvalue()


class TestTheRootLevelComesBackAfterATest:
    """An app's lifespan sets the root level from ``LOG_LEVEL`` for the whole process; the
    plugin puts it back (left at DEBUG, a test run ended on asyncio's "Using selector").
    The two tests run in file order: the first leaves DEBUG, the second looks."""

    levels_before: ClassVar[list[int]] = []

    def test_a_test_leaves_the_root_at_debug(self):
        self.levels_before.append(logging.getLogger().level)
        configure_logging("DEBUG")
        assert logging.getLogger().level == logging.DEBUG

    def test_the_next_test_has_the_level_of_before(self):
        assert self.levels_before
        assert logging.getLogger().level == self.levels_before[0] != logging.DEBUG
