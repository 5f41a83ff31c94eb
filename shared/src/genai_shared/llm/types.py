"""Provider-neutral request, response and stream types.

Every adapter translates these to its SDK's wire format and back, so the rest of the
code base never sees an OpenAI- or Anthropic-specific shape.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]
ToolChoice = Literal["auto", "none", "required"]
"""Whether the model may call tools (auto), must not (none) or must call one (required)."""


class ToolCall(BaseModel):
    """A function call the model asked for; `arguments` is the raw JSON text."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    arguments: str = "{}"


class ChatMessage(BaseModel):
    """One turn of the conversation, in the shape both providers' histories replay from.

    A tool-using exchange is stored as an ``assistant`` message with ``tool_calls`` (and
    possibly text) followed by one ``tool`` message per call, whose ``tool_call_id``
    names the call it answers and whose ``content`` is the result as text.
    """

    role: Role
    content: str | None = None
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: list[ToolCall] | None = None


class ToolSpec(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")
    description: str = ""
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON schema of the arguments.",
    )


class ChatRequest(BaseModel):
    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    stop: list[str] | None = None
    tools: list[ToolSpec] | None = None
    tool_choice: ToolChoice | None = Field(
        default=None, description="Sent only with tools; None leaves the provider's default."
    )
    extra_headers: dict[str, str] = Field(
        default_factory=dict,
        description="Per-call metadata headers sent upstream (never credentials).",
    )


class Usage(BaseModel):
    """The tokens of one call, split the way providers bill them.

    The same meaning for every provider: ``input_tokens`` is the uncached part of the
    prompt, billed at the model's input rate; prompt tokens read from or written to a
    prompt cache are counted only in ``cache_read_tokens`` / ``cache_write_tokens``, which
    have their own rates. Anthropic reports its usage this way; OpenAI-format providers
    include cached tokens in ``prompt_tokens``, so their adapters subtract them.
    ``cache_write_1h_tokens`` is the part of the writes that went to Anthropic's 1-hour
    cache (dearer than the default 5-minute one). ``prompt_tokens`` is the whole prompt.
    """

    model_config = ConfigDict(frozen=True)

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cache_read_tokens: int = Field(default=0, ge=0)
    cache_write_tokens: int = Field(default=0, ge=0)
    cache_write_1h_tokens: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _one_hour_writes_are_writes(self) -> Usage:
        if self.cache_write_1h_tokens > self.cache_write_tokens:
            raise ValueError("cache_write_1h_tokens is a part of cache_write_tokens")
        return self

    @property
    def prompt_tokens(self) -> int:
        """Every prompt token, cached or not (what OpenAI calls ``prompt_tokens``)."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total(self) -> int:
        return self.prompt_tokens + self.output_tokens


class ChatResponse(BaseModel):
    content: str
    finish_reason: FinishReason
    usage: Usage
    provider: str
    model: str
    request_id: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)


class TextDelta(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: Literal["text_delta"] = "text_delta"
    text: str


class ToolCallDelta(BaseModel):
    """A fragment of a tool call, as the provider streams it.

    ``index`` is the call's position among this reply's tool calls (the same as in
    ``StreamEnd.tool_calls``), whatever numbering the provider uses on the wire. The
    first fragment of a call carries its ``id`` and ``name``; ``arguments`` fragments,
    concatenated in order, give the call's JSON arguments. ``StreamEnd.tool_calls`` holds
    the assembled calls, so a consumer that only needs the result can ignore these.
    """

    model_config = ConfigDict(frozen=True)

    type: Literal["tool_call_delta"] = "tool_call_delta"
    index: int = Field(ge=0)
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class StreamEnd(BaseModel):
    """The single last event of every successful stream."""

    model_config = ConfigDict(frozen=True)

    type: Literal["stream_end"] = "stream_end"
    finish_reason: FinishReason
    usage: Usage
    request_id: str | None = None
    model: str
    tool_calls: list[ToolCall] = Field(default_factory=list)


StreamEvent = Annotated[TextDelta | ToolCallDelta | StreamEnd, Field(discriminator="type")]
