"""Settings of ingestion (``genai_shared.ingest.config``), with this project's queue name."""

from __future__ import annotations

from pydantic import Field

from genai_shared.ingest.config import IngestSettings as SharedIngestSettings


class IngestSettings(SharedIngestSettings):
    """Mixed into the project's ``Settings``; the stream is named after the project so that
    two projects can share one Redis."""

    ingest_queue_name: str = Field(
        default="agentic-rag:ingest", description="The Redis stream the tasks go through"
    )
