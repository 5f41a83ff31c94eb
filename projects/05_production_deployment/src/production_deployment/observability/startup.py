"""What a process of this project starts with: the redacting logs, then Sentry if configured.

``LOG_FORMAT`` (json or text) and ``LOG_LEVEL`` shape the logs, masked with the settings'
own secret values; ``SENTRY_DSN`` (non-empty) starts Sentry with the same redactor and the
release ``<app_name>@<version>``. The ingestion worker calls it before it starts; the app
factory makes the same two calls.
"""

from __future__ import annotations

from production_deployment import __version__
from production_deployment.core.config import Settings
from production_deployment.observability.logs import Redactor, configure_logging
from production_deployment.observability.sentry import init_sentry


def configure_observability(settings: Settings) -> None:
    """Route every log record through the redacting handler, and start Sentry when
    ``SENTRY_DSN`` is set."""
    secrets = settings.secret_values()
    configure_logging(level=settings.log_level, fmt=settings.log_format, secrets=secrets)
    if settings.sentry_dsn is not None:
        init_sentry(
            dsn=settings.sentry_dsn.get_secret_value(),
            environment=settings.environment,
            release=f"{settings.app_name}@{__version__}",
            traces_sample_rate=settings.sentry_traces_sample_rate,
            redactor=Redactor(secrets),
        )
