"""Serve an ASGI app on a real loopback socket for the duration of a test.

In-process transports (``httpx.ASGITransport``) buffer the whole response and cannot
disconnect half-way, so streaming, client disconnects and real SDK clients are tested
against a uvicorn server running in a background thread. The socket is bound before
the server starts (port 0: the kernel picks a free one), so there is no port race.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import uvicorn


@contextmanager
def live_server(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    lifespan: Literal["auto", "on", "off"] = "on",
    **config: Any,
) -> Iterator[str]:
    """Run ``app`` under uvicorn in a daemon thread; yield its base URL; stop it afterwards.

    ``config`` goes on to ``uvicorn.Config`` (e.g. ``proxy_headers=True,
    forwarded_allow_ips="127.0.0.1"`` behind a test's reverse proxy).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    defaults: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": 1,
    }
    server = uvicorn.Server(uvicorn.Config(app, lifespan=lifespan, **{**defaults, **config}))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"live-{bound_port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the server on {host}:{bound_port} did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
