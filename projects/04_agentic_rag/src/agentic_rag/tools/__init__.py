"""The agent's tools: the calculator and the read-only SQL guard and runner."""
