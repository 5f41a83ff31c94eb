"""Settings of serving: workers, draining, proxies, and where metrics and errors go."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings


class ServingSettings(BaseSettings):
    """Mixed into the project's ``Settings`` (environment variables, conventional names)."""

    web_concurrency: int = Field(
        default=1,
        ge=1,
        le=64,
        description="gunicorn worker processes (WEB_CONCURRENCY); about one per core",
    )
    drain_timeout_seconds: float = Field(
        default=25.0,
        ge=0,
        le=600,
        description=(
            "After SIGTERM, how long running requests and streams may go on; a stream still "
            "running then ends with an error event and its partial reply saved"
        ),
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description=(
            "Addresses (comma-separated, or CIDR) whose X-Forwarded-For/-Proto are believed: "
            "the reverse proxy's, never '*' on a port the public can reach"
        ),
    )
    keepalive_seconds: int = Field(
        default=75,
        ge=1,
        le=3600,
        description="Idle keep-alive; longer than the proxy's upstream keep-alive (NGINX: 60 s)",
    )
    worker_timeout_seconds: int = Field(
        default=60,
        ge=2,
        le=3600,
        description=(
            "A worker silent this long is replaced by the master; workers check in (and "
            "notice a dead master) every half of it"
        ),
    )
    max_requests: int = Field(
        default=0, ge=0, description="Recycle a worker after this many requests (0: never)"
    )
    max_requests_jitter: int = Field(default=0, ge=0)
    prometheus_multiproc_dir: Path | None = Field(
        default=None,
        description=(
            "A writable folder where every worker writes its metrics, so /metrics adds them "
            "up (prometheus-client's multiprocess mode); needed with more than one worker"
        ),
    )
    log_format: Literal["json", "text"] = Field(
        default="json", description="json: one JSON object per line (for log shippers)"
    )
    sentry_dsn: SecretStr | None = Field(
        default=None, description="Report unhandled errors to Sentry when set"
    )
    sentry_traces_sample_rate: float = Field(default=0.0, ge=0, le=1)

    @field_validator("sentry_dsn", "prometheus_multiproc_dir", mode="before")
    @classmethod
    def _empty_serving_setting_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def worker_grace_seconds(self) -> float:
        """How long a worker may take to stop: the drain, then a little to write the ends
        of streams and close connections. Past it, the server cancels what is left."""
        return self.drain_timeout_seconds + 3.0
