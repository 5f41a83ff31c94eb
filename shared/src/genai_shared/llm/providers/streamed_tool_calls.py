"""Tool calls put together from the fragments a provider streams, for every adapter.

Providers number the fragments differently: OpenAI-format streams by
``delta.tool_calls[].index``, Anthropic by the content block, whose numbering text blocks
share. Each adapter passes its own key; the assembler numbers calls 0, 1, ... in the
order they first appear, which is the ``index`` of the ``ToolCallDelta`` events and the
order of ``StreamEnd.tool_calls``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from genai_shared.llm.types import ToolCall, ToolCallDelta


@dataclass
class _Slot:
    index: int
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallAssembler:
    """Collects tool-call fragments keyed by the provider's own index."""

    def __init__(self) -> None:
        self._slots: dict[int, _Slot] = {}

    def add(
        self, key: int, *, id: str | None = None, name: str | None = None, arguments: str = ""
    ) -> ToolCallDelta | None:
        """Record one fragment; the event to pass on, or None when it adds nothing."""
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot(index=len(self._slots))
        if id:
            slot.id = id
        if name:
            slot.name = name
        if arguments:
            slot.arguments.append(arguments)
        if not (id or name or arguments):
            return None
        return ToolCallDelta(
            index=slot.index, id=id or None, name=name or None, arguments=arguments
        )

    def calls(self) -> list[ToolCall]:
        """The complete calls; a call that streamed no arguments gets ``{}``."""
        return [
            ToolCall(id=slot.id, name=slot.name, arguments="".join(slot.arguments) or "{}")
            for slot in sorted(self._slots.values(), key=lambda s: s.index)
        ]
