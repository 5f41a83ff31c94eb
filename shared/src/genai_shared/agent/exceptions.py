"""The agent's errors, raised by the shared runner and its readers."""

from __future__ import annotations

from genai_shared.web.errors import NotFound


class AgentRunNotFound(NotFound):
    message = "Agent run not found"
