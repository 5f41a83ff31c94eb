"""Settings of retrieval (``genai_shared.rag.config``), embedded Qdrant in this project's folder."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from genai_shared.rag.config import RagSettings as SharedRagSettings

_PROJECT_ROOT = Path(__file__).resolve().parents[3]


class RagSettings(SharedRagSettings):
    """Mixed into the project's ``Settings``."""

    qdrant_path: str = Field(
        default=str(_PROJECT_ROOT / "qdrant_data"),
        description="Embedded Qdrant's folder (one process at a time), or :memory:",
    )
