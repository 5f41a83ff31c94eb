"""Run the app under gunicorn, configured from the project's settings (no config file).

``production-deployment`` (the console script, and the image's command) calls ``run()``:
settings are validated first, so a bad or missing production setting stops the start
with a clear message and exit status 2, before any worker is forked.

- ``WEB_CONCURRENCY`` uvicorn workers on ``HOST:PORT``; each builds its own app (no
  preload: the embedding model, connection pools and event loop are per process).
- ``graceful_timeout`` is the drain plus the time to end streams: the master SIGKILLs a
  worker only after that.
- Hooks keep prometheus-client's multiprocess folder right: emptied when the master
  starts (stale files would count a previous run), a dead worker's live gauges removed.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from production_deployment.core.config import Settings, SettingsError, load_settings

WORKER_CLASS = "production_deployment.serving.worker.DrainingUvicornWorker"


def prepare_metrics_folder(folder: Path) -> None:
    """An empty folder for this run's metric files (created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in folder.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    worker_tmp = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108
    options: dict[str, Any] = {
        "bind": [f"{settings.host}:{settings.port}"],
        "workers": settings.web_concurrency,
        "worker_class": WORKER_CLASS,
        "graceful_timeout": int(settings.worker_grace_seconds) + 2,
        "timeout": settings.worker_timeout_seconds,  # a stuck worker is replaced
        "keepalive": settings.keepalive_seconds,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "max_requests": settings.max_requests,
        "max_requests_jitter": settings.max_requests_jitter,
        "proc_name": settings.app_name,
        "accesslog": None,  # the app writes its own, as JSON, with the route and the user
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "child_exit": child_exit,
    }
    if worker_tmp is not None:
        options["worker_tmp_dir"] = worker_tmp  # heartbeats off the (read-only) disk
    return options


class GunicornApplication(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from production_deployment.main import create_app

        return create_app()


def run() -> None:
    """Validate the settings, then serve under gunicorn until told to stop."""
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"production-deployment: {error}", file=sys.stderr)
        sys.exit(2)
    if settings.prometheus_multiproc_dir is not None:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR") != str(settings.prometheus_multiproc_dir):
            print(
                "production-deployment: PROMETHEUS_MULTIPROC_DIR must be set in the "
                "environment (prometheus-client reads it at import), not only in .env",
                file=sys.stderr,
            )
            sys.exit(2)
        prepare_metrics_folder(settings.prometheus_multiproc_dir)
    from production_deployment.observability.logs import configure_logging

    configure_logging(
        level=settings.log_level, fmt=settings.log_format, secrets=settings.secret_values()
    )
    GunicornApplication(gunicorn_options(settings)).run()
