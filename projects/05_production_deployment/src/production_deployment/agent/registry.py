"""The tool registry is shared (``genai_shared.agent.registry``); the tools' modules of
this project import its names from here."""

from __future__ import annotations

from genai_shared.agent.registry import (
    TRUNCATED,
    Caller,
    Handler,
    Source,
    Sources,
    Tool,
    ToolArguments,
    ToolContext,
    ToolFailed,
    ToolRegistry,
    ToolResult,
)

__all__ = [
    "TRUNCATED",
    "Caller",
    "Handler",
    "Source",
    "Sources",
    "Tool",
    "ToolArguments",
    "ToolContext",
    "ToolFailed",
    "ToolRegistry",
    "ToolResult",
]
