"""Settings of ingestion: upload limits, the queue, URL fetching."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings


class IngestSettings(BaseSettings):
    """Mixed into a project's ``Settings`` (environment variables, conventional names).

    The queue is Redis (``REDIS_URL``, shared with the cache) when it is set, and the
    app's own event loop otherwise, so ``make run`` ingests with nothing else running.
    """

    ingest_max_upload_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="Larger uploads and fetched documents are refused with 413",
    )
    ingest_max_pages: int = Field(default=500, ge=1, description="The most pages a PDF may have")
    ingest_max_chunks: int = Field(
        default=2000, ge=1, description="A document cut into more chunks than this fails"
    )
    ingest_embed_batch_size: int = Field(
        default=32, ge=1, le=2048, description="Chunks embedded per call (progress moves per batch)"
    )
    ingest_queue_name: str = Field(
        default="genai:ingest",
        description="The Redis stream the tasks go through (each project names its own)",
    )
    ingest_worker_concurrency: int = Field(
        default=2, ge=1, description="Documents one worker process ingests at the same time"
    )
    ingest_lease_seconds: float = Field(
        default=120,
        gt=0,
        description=(
            "A document whose worker has not shown life for this long is taken back: "
            "re-queued, or failed after INGEST_MAX_ATTEMPTS"
        ),
    )
    ingest_max_attempts: int = Field(
        default=3, ge=1, description="Ingestions a document may start before it is failed"
    )
    ingest_sweep_interval_seconds: float = Field(
        default=30, gt=0, description="How often each process looks for abandoned documents"
    )
    ingest_fetch_timeout_seconds: float = Field(
        default=20, gt=0, description="The whole fetch of a URL, redirects included"
    )
    ingest_fetch_max_redirects: int = Field(default=3, ge=0, le=10)
    ingest_embed_delay_seconds: float = Field(
        default=0,
        ge=0,
        description="Tests only: a pause before each embedding batch, to kill a worker mid-way",
    )

    @model_validator(mode="after")
    def _delay_only_in_tests(self) -> Self:
        environment = getattr(self, "environment", "test")
        if self.ingest_embed_delay_seconds and environment not in ("development", "test"):
            raise ValueError("INGEST_EMBED_DELAY_SECONDS is for tests: leave it unset here")
        return self
