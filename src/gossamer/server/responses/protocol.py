"""Pydantic types at the HTTP edge of the Responses API, in the order of OpenAI's reference.

Input items are kept as raw dicts here and normalized by `items.py`, which reports a clear
400 naming the bad item instead of a wall of union-validation errors.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# The values OpenAI documents for `include`; accepted (the ones that mean nothing for a local
# text model are no-ops) so that clients which always send some of them keep working.
KNOWN_INCLUDES = frozenset(
    {
        "reasoning.encrypted_content",
        "message.output_text.logprobs",
        "message.input_image.image_url",
        "computer_call_output.output.image_url",
        "code_interpreter_call.outputs",
        "file_search_call.results",
        "web_search_call.results",
        "web_search_call.action.sources",
    }
)


class ReasoningParam(BaseModel):
    model_config = ConfigDict(extra="ignore")

    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    summary: str | None = None


class TextParam(BaseModel):
    model_config = ConfigDict(extra="ignore")

    format: dict[str, Any] | None = None
    verbosity: str | None = None


class CreateResponseRequest(BaseModel):
    # Unknown fields are ignored rather than refused: SDKs add optional fields (prompt_cache_key,
    # service_tier, ...) faster than servers learn them, and none of them changes the output.
    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    input: str | list[Any] | None = None
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    reasoning: ReasoningParam | None = None
    text: TextParam | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    truncation: Literal["auto", "disabled"] | None = None
    metadata: dict[str, str] | None = None
    include: list[str] | None = None
    store: bool | None = None
    previous_response_id: str | None = None
    background: bool | None = None
    stream: bool | None = None
    user: str | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    conversation: str | dict[str, Any] | None = None  # its id, or {"id": ...} (request.conversation_param)
    # Accepted only to be refused clearly: ignoring it would silently lose what it names.
    prompt: Any = None


class InputTokensDetails(BaseModel):
    cached_tokens: int = 0
    cache_write_tokens: int = 0


class OutputTokensDetails(BaseModel):
    reasoning_tokens: int = 0


class Usage(BaseModel):
    input_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens: int
    output_tokens_details: OutputTokensDetails
    total_tokens: int

    @classmethod
    def of(cls, *, input_tokens: int, cached_tokens: int, output_tokens: int, reasoning_tokens: int) -> Usage:
        return cls(
            input_tokens=input_tokens,
            input_tokens_details=InputTokensDetails(cached_tokens=cached_tokens),
            output_tokens=output_tokens,
            output_tokens_details=OutputTokensDetails(reasoning_tokens=reasoning_tokens),
            total_tokens=input_tokens + output_tokens,
        )


class ResponseObject(BaseModel):
    """The `response` object; every field the newest spec requires is always present."""

    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: Literal["completed", "failed", "in_progress", "cancelled", "queued", "incomplete"]
    completed_at: int | None = None
    background: bool = False
    error: dict[str, Any] | None = None
    incomplete_details: dict[str, Any] | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    max_tool_calls: int | None = None
    model: str
    output: list[dict[str, Any]] = Field(default_factory=list)
    parallel_tool_calls: bool = True
    previous_response_id: str | None = None
    reasoning: dict[str, Any] = Field(default_factory=dict)
    store: bool = True
    temperature: float | None = None
    text: dict[str, Any] = Field(default_factory=dict)
    tool_choice: str | dict[str, Any] = "auto"
    tools: list[dict[str, Any]] = Field(default_factory=list)
    top_logprobs: int | None = None
    top_p: float | None = None
    truncation: Literal["auto", "disabled"] = "disabled"
    usage: Usage | None = None
    user: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    conversation: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        # The spec allows `usage` and `user` to be absent but not null; `conversation` only where set.
        absent = ("usage", "user", "conversation")
        return self.model_dump(exclude={k for k in absent if getattr(self, k) is None})


class DeletedResponse(BaseModel):
    id: str
    object: Literal["response.deleted"] = "response.deleted"
    deleted: bool = True


class InputItemList(BaseModel):
    object: Literal["list"] = "list"
    data: list[dict[str, Any]]
    first_id: str | None
    last_id: str | None
    has_more: bool
