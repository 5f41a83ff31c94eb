"""The documents API of project 05 over the shared ingestion, from the shared contract:
upload or import, ingested off the request, refusals, failures, owners only, delete through
this project's chunk index, and equal content reusing its chunks."""

from __future__ import annotations

import pytest

from genai_shared.testing.contracts import documents
from production_deployment.rag.models import Chunk


class TestUpload(documents.UploadContract):
    chunk_model = Chunk


@pytest.mark.sqlite_only
class TestRefused(documents.RefusedContract):
    """Refused before the database is reached: the PostgreSQL run would add nothing."""


class TestFailures(documents.FailuresContract):
    chunk_model = Chunk


class TestOwnership(documents.OwnershipContract):
    chunk_model = Chunk


class TestDelete(documents.DeleteContract):
    chunk_model = Chunk


class TestSameContent(documents.SameContentContract):
    chunk_model = Chunk


class TestUrlImport(documents.UrlImportContract):
    chunk_model = Chunk
