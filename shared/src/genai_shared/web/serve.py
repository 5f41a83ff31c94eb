"""Serving a project with uvicorn: what every project's console script does."""

from __future__ import annotations

from genai_shared.settings import BaseAppSettings


def serve(factory: str, settings: BaseAppSettings) -> None:
    """Serve the app factory ``factory`` ("package.main:create_app") on HOST:PORT."""
    import uvicorn

    uvicorn.run(
        factory,
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
    )
