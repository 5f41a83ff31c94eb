"""The agent's tools, as the registry offers them (definitions over genai_shared.tools)."""
