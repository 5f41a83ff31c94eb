"""Assertions every project's API tests share."""

from __future__ import annotations

from typing import Any

import httpx


def assert_error(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    """The response is the standard error envelope, with this status and error type.

    Returns the inner ``error`` object for further checks.
    """
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"type", "message", "details", "request_id"}, error
    assert error["type"] == error_type, error
    assert error["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return dict(error)
