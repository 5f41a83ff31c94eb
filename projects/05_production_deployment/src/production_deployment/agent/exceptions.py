from __future__ import annotations

from genai_shared.web.errors import NotFound


class AgentRunNotFound(NotFound):
    message = "Agent run not found"
