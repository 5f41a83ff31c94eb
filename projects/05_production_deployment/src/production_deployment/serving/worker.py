"""The gunicorn worker: uvicorn's, plus draining on SIGTERM.

gunicorn's master turns SIGTERM (a deploy, ``docker stop``, Kubernetes) and HUP (a reload)
into SIGTERM to each old worker. uvicorn then stops accepting connections, closes idle
keep-alive ones and waits for the running requests. This worker adds what uvicorn does
not know about:

- the app's ``Drain`` starts at once: readiness answers 503 ``draining``;
- streams still running ``DRAIN_TIMEOUT_SECONDS`` later end with an ``error`` event and
  keep their partial reply (``genai_shared.web.drain``), and uvicorn's own grace period is
  set a few seconds longer, so it never has to cut them off first.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from types import FrameType
from typing import Any

from gunicorn.arbiter import Arbiter
from uvicorn.config import Config
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from genai_shared.web.drain import Drain


class DrainingServer(Server):
    def __init__(self, config: Config, *, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds
        self.loop: asyncio.AbstractEventLoop | None = None

    def _drain(self) -> Drain | None:
        state = getattr(self.config.app, "state", None)
        return getattr(state, "drain", None)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        drain = self._drain()
        if not self.should_exit and drain is not None and self.loop is not None:
            # A signal handler runs between two bytecodes of the loop's thread: hand the
            # work to the loop instead of touching its timers from here.
            self.loop.call_soon_threadsafe(drain.begin, self.drain_seconds)
        super().handle_exit(sig, frame)


class DrainingUvicornWorker(UvicornWorker):  # type: ignore[misc]
    CONFIG_KWARGS: dict[str, Any] = {"loop": "auto", "http": "auto", "lifespan": "on"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from production_deployment.core.config import get_settings

        settings = get_settings()
        self.drain_seconds = settings.drain_timeout_seconds
        self.config.timeout_graceful_shutdown = int(settings.worker_grace_seconds + 0.999)
        self.config.proxy_headers = True  # believed only from FORWARDED_ALLOW_IPS

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = DrainingServer(config=self.config, drain_seconds=self.drain_seconds)
        server.loop = asyncio.get_running_loop()
        self.server = server
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)

    async def callback_notify(self) -> None:
        """The heartbeat uvicorn calls every ``timeout`` seconds. Also: a worker whose master
        died (SIGKILL, OOM) is an orphan nobody will stop; it drains and exits instead of
        serving on, and holding connections and claimed work, forever."""
        self.notify()
        server: DrainingServer | None = getattr(self, "server", None)
        if server is not None and os.getppid() != self.ppid and not server.should_exit:
            self.log.warning("the master (pid %s) is gone: stopping", self.ppid)
            server.handle_exit(signal.SIGTERM, None)
