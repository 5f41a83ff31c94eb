"""Fixtures for the provider-layer tests."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import pytest

from genai_shared.llm.settings import ProviderSettings
from genai_shared.testing.fake_upstream import RunningFakeUpstream


def _is_loopback(host: object) -> bool:
    if host in ("localhost", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_external_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse (and fail the test on) any connection or DNS lookup beyond loopback.

    Proves that nothing in the provider layer, litellm included, calls a real host:
    litellm would otherwise fetch price maps and header configs from GitHub and swallow
    the failure.
    """
    attempts: list[str] = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            attempts.append(f"connect {address!r}")
            raise OSError("external network blocked in tests")
        return real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host.decode() if isinstance(host, bytes) else host):
            attempts.append(f"getaddrinfo {host!r}")
            raise socket.gaierror("external network blocked in tests")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    assert not attempts, f"the test tried to reach the network: {attempts}"


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
