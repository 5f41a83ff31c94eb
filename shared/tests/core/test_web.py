"""The app shell: error envelope for every kind of error, request ids in logs."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from pydantic import BaseModel

from genai_shared.log import RequestIdFilter, configure_logging
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


def test_the_log_handler_writes_to_stderr_as_it_is_when_a_record_comes(monkeypatch):
    """A handler made while stderr was a test's captured stream must not keep that stream:
    once it is closed, the process's last log lines (at exit) would fail to print."""
    import io

    from genai_shared.log import CurrentStderrHandler

    first, later = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    handler = CurrentStderrHandler()
    first.close()
    monkeypatch.setattr("sys.stderr", later)
    handler.emit(logging.LogRecord("x", logging.WARNING, __file__, 1, "after", None, None))
    assert "after" in later.getvalue()
