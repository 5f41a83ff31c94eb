"""The offline mock's tool use: a few fixed rules, so an agent runs end to end without a model.

When the request offers tools (and ``tool_choice`` is not ``none``) and ends with the
user's question, the mock calls the tools the question evidently needs:

* ``calculator``, when the question contains an arithmetic expression (numbers joined by
  ``+ - * / ^ **`` or the multiplication and division signs, with parentheses): it is
  called with that expression in Python's notation (``^`` as ``**``, the signs as ``*``
  and ``/``). Dates such as 2024-05-01 are not arithmetic;
* ``search_documents``, with the whole question, unless the question is nothing but the
  expression and a few filler words ("what is 12 * 7?" needs no documents).

Both may be called at once (two parallel calls). Each call's argument is the tool's
first required string parameter (else its first string parameter, else ``expression``
or ``query``). With ``tool_choice`` ``required`` and no rule matching, the first tool
offered is called with the question. Other tools are never called by these rules.

When the request ends with tool results, the mock answers in text that quotes them, one
line per result ("Based on <tool>: <result>"), so citation markers such as ``[1]`` in a
result reach the answer; a long result is clipped, and markers from the clipped part are
listed after it, so none is lost. Call ids are derived from the request: deterministic.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence

from genai_shared.llm.types import ChatMessage, ChatRequest, ToolCall, ToolSpec

SEARCH_TOOL = "search_documents"
CALCULATOR_TOOL = "calculator"
QUOTE_LIMIT = 600
"""Characters of one tool result quoted in the answer before it is clipped."""

_NUMBER = r"\d+(?:\.\d+)?"
_OPERAND = rf"\(*\s*-?{_NUMBER}\s*\)*"
_TIMES, _DIVIDED = "\u00d7", "\u00f7"
_OPERATOR = rf"(?:\*\*|[-+*/^{_TIMES}{_DIVIDED}])"
_EXPRESSION = re.compile(rf"{_OPERAND}(?:\s*{_OPERATOR}\s*{_OPERAND})+")
_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")
_CITATION = re.compile(r"\[\d+\]")
_FILLER_WORDS = (
    "what whats is are s the of value result please calculate compute evaluate work out "
    "how much equals equal to tell me can you do give"
)
_FILLER = frozenset(_FILLER_WORDS.split())


def arithmetic_in(text: str) -> str | None:
    """The first arithmetic expression in ``text``, in Python's notation, or None."""
    for match in _EXPRESSION.finditer(text):
        expression = _balanced(match.group().strip())
        if _DATE.match(expression):
            continue
        return expression.replace("^", "**").replace(_TIMES, "*").replace(_DIVIDED, "/")
    return None


def _balanced(expression: str) -> str:
    """Drop the unmatched parentheses the pattern may take in at either end."""
    while expression.startswith("(") and expression.count("(") > expression.count(")"):
        expression = expression[1:].lstrip()
    while expression.endswith(")") and expression.count(")") > expression.count("("):
        expression = expression[:-1].rstrip()
    return expression


def planned_tool_calls(request: ChatRequest) -> list[ToolCall]:
    """The calls the rules above make for ``request`` (none: answer in text)."""
    last = request.messages[-1]
    if not request.tools or request.tool_choice == "none" or last.role != "user":
        return []
    question = (last.content or "").strip()
    offered = {tool.name: tool for tool in request.tools}
    wanted: list[tuple[ToolSpec, str, str]] = []
    expression = arithmetic_in(question) if CALCULATOR_TOOL in offered else None
    if SEARCH_TOOL in offered and not (expression and _only_arithmetic(question)):
        wanted.append((offered[SEARCH_TOOL], "query", question))
    if expression is not None:
        wanted.append((offered[CALCULATOR_TOOL], "expression", expression))
    if not wanted and request.tool_choice == "required":
        wanted.append((request.tools[0], "query", question))
    digest = hashlib.sha256(request.model_dump_json().encode()).hexdigest()[:12]
    return [
        ToolCall(
            id=f"call_mock_{digest}_{i}",
            name=tool.name,
            arguments=json.dumps({argument_name(tool, fallback): value}),
        )
        for i, (tool, fallback, value) in enumerate(wanted)
    ]


def _only_arithmetic(question: str) -> bool:
    """True when the question says nothing beyond the expression and filler words."""
    rest = _EXPRESSION.sub(" ", question)
    return all(word in _FILLER for word in re.findall(r"[a-z]+", rest.lower()))


def argument_name(tool: ToolSpec, fallback: str) -> str:
    """The parameter a single text argument goes in: the first required string
    parameter, else the first string parameter, else ``fallback``."""
    properties = tool.parameters.get("properties") or {}
    strings = [
        name
        for name, schema in properties.items()
        if isinstance(schema, dict) and schema.get("type") == "string"
    ]
    required = tool.parameters.get("required") or []
    for name in strings:
        if name in required:
            return str(name)
    return str(strings[0]) if strings else fallback


def trailing_tool_results(messages: Sequence[ChatMessage]) -> list[tuple[str, str]]:
    """(tool name, result) for the tool messages the conversation ends with."""
    results: list[ChatMessage] = []
    for message in reversed(messages):
        if message.role != "tool":
            break
        results.insert(0, message)
    names: dict[str, str] = {}
    for message in messages:
        for call in message.tool_calls or ():
            names[call.id] = call.name
    return [(names.get(m.tool_call_id or "", "the tool"), m.content or "") for m in results]


def answer_from_results(results: Sequence[tuple[str, str]]) -> str:
    """One line per result, quoting it (clipped past ``QUOTE_LIMIT``, markers kept)."""
    return "\n".join(f"Based on {name}: {_quote(result)}" for name, result in results)


def _quote(result: str) -> str:
    text = " ".join(result.split())
    if len(text) <= QUOTE_LIMIT:
        return text or "(no result)"
    cut = text.rfind(" ", 0, QUOTE_LIMIT)
    if cut <= 0:
        cut = QUOTE_LIMIT
    kept, dropped = text[:cut], text[cut:]
    markers = [m for m in dict.fromkeys(_CITATION.findall(dropped)) if m not in kept]
    also = f" (see also {', '.join(markers)})" if markers else ""
    return f"{kept} …{also}"
