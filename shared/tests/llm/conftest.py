"""Fixtures for the provider-layer tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest

from genai_shared.llm.settings import ProviderSettings
from genai_shared.testing.fake_upstream import RunningFakeUpstream


@pytest.fixture
def settings(fake_upstream: RunningFakeUpstream) -> ProviderSettings:
    """Every provider pointed at the fake upstream."""
    return fake_upstream.provider_settings()


class TrackingTransport(httpx2.AsyncHTTPTransport):
    """Counts responses whose body stream is still open, to prove streams get closed."""

    def __init__(self) -> None:
        super().__init__()
        self.open_responses = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await super().handle_async_request(request)
        self.open_responses += 1
        response.stream = _TrackedStream(response.stream, self)
        return response


class _TrackedStream(httpx2.AsyncByteStream):
    def __init__(self, inner: object, owner: TrackingTransport) -> None:
        self._inner = inner
        self._owner = owner
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:  # type: ignore[attr-defined]
            yield chunk

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._owner.open_responses -= 1
        await self._inner.aclose()  # type: ignore[attr-defined]


@pytest.fixture
async def tracking_client() -> AsyncIterator[tuple[httpx2.AsyncClient, TrackingTransport]]:
    """An httpx2 client (what the SDKs use) whose transport counts open responses."""
    transport = TrackingTransport()
    async with httpx2.AsyncClient(transport=transport) as client:
        yield client, transport
