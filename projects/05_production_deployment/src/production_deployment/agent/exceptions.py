"""The agent's errors live with the shared runner that raises them."""

from __future__ import annotations

from genai_shared.agent.exceptions import AgentRunNotFound

__all__ = ["AgentRunNotFound"]
