"""Provider-neutral request, response and stream types.

Every adapter translates these to its SDK's wire format and back, so the rest of the
code base never sees an OpenAI- or Anthropic-specific shape.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]


class ToolCall(BaseModel):
    """A function call the model asked for; `arguments` is the raw JSON text."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    arguments: str = "{}"


class ChatMessage(BaseModel):
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
    extra_headers: dict[str, str] = Field(
        default_factory=dict,
        description="Per-call metadata headers sent upstream (never credentials).",
    )


class Usage(BaseModel):
    model_config = ConfigDict(frozen=True)

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens


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


class StreamEnd(BaseModel):
    """The single last event of every successful stream."""

    model_config = ConfigDict(frozen=True)

    type: Literal["stream_end"] = "stream_end"
    finish_reason: FinishReason
    usage: Usage
    request_id: str | None = None
    model: str
    tool_calls: list[ToolCall] = Field(default_factory=list)


StreamEvent = Annotated[TextDelta | StreamEnd, Field(discriminator="type")]
