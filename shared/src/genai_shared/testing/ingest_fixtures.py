"""Ingestion fixtures, for the shared ingestion tests and the projects' documents API tests.

- ``counting_embedder``: the real MiniLM (one per session) with every text it is asked
  to embed written down, so a test can tell whether a document was embedded again.
- ``doc_site``: a web server on 127.0.0.1 serving the pages a test sets, recording every
  path it is asked for (what URL imports fetch).
- ``allow_loopback``: a fetch policy that may reach that server (the apps' never does).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from genai_shared.ingest.fetch import FetchPolicy
from genai_shared.rag.embeddings import MiniLMEmbedder, Vector


class CountingEmbedder:
    """The real MiniLM, with every text it is asked to embed written down."""

    def __init__(self, inner: MiniLMEmbedder) -> None:
        self.inner = inner
        self.texts: list[str] = []
        self.calls = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        self.calls += 1
        self.texts.extend(texts)
        return await self.inner.embed(texts)


@pytest.fixture(scope="session")
def minilm_embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder(batch_size=8)


@pytest.fixture
def counting_embedder(minilm_embedder: MiniLMEmbedder) -> CountingEmbedder:
    """A fresh count for each test, over the session's one model."""
    return CountingEmbedder(minilm_embedder)


def allow_loopback(policy: FetchPolicy) -> FetchPolicy:
    """``policy`` with loopback allowed: for the test server only."""
    return dataclasses.replace(policy, allow_loopback=True)


@dataclass
class Site:
    """A loopback server serving ``pages`` (path -> (content type, body)); ``requests``
    lists every path it was asked for, in order."""

    port: int
    pages: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def doc_site() -> Iterator[Site]:
    state = Site(port=0)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read ``Site.requests``."""

        def do_GET(self) -> None:
            state.requests.append(self.path)
            content_type, body = state.pages.get(self.path, ("text/plain", b"not here"))
            self.send_response(200 if self.path in state.pages else 404)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
