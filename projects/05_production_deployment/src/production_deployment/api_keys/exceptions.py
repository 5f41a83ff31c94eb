from __future__ import annotations

from genai_shared.web.errors import NotFound


class ApiKeyNotFound(NotFound):
    message = "API key not found"
